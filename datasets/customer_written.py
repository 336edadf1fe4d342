"""Written customer-service patterns for the customer-emotion trainers (issue 14).

Short generic sentences written for qa-engine from the wording of the customer-emotion guideline
(labelled/CUSTOMER_EMOTION.md: its formulas, never a JDDC turn), in the guideline's labels. They cover
what general-domain data teach wrongly about service talk: polite closings that contain 没 (没了谢谢,
没有了，谢谢: positive, not negative), closings without thanks (neutral), elapsed-time impatience
(都六天了, 等了一周了还没到), chasing (人呢, 在吗？？), complaint questions (怎么还没发货, 说好的今天呢),
giving up after bad news (那算了, 那我不要了), worry about one's own need (我急用, 明天就要出门了), and the
calm counterparts that stay neutral (什么时候能到, 还没收到, 好吧, 帮我查一下物流，谢谢).

`written_records()` expands the templates deterministically (every combination, no sampling) into
records {text, label (5-class or None), polarity, source="customer_written"}. Nothing here is
JDDC text, so it is committed as is.
"""

from __future__ import annotations

from itertools import product

SOURCE = "customer_written"

# --- closings -------------------------------------------------------------------------------------
CLOSING_HEADS = ("没了", "没有了", "没有啦", "没啦", "暂时没有了", "没别的了", "没有其他问题了", "没什么问题了",
                 "就这些", "好的", "好的好的", "嗯嗯", "行", "可以了", "知道了", "明白了", "收到", "好嘞", "嗯")
THANKS = ("谢谢", "谢谢你", "谢谢亲", "谢谢啦", "多谢", "辛苦了", "辛苦你了", "麻烦你了", "感谢", "谢了")
SEPARATORS = ("", "，", " ", "!", "。")
CLOSINGS_NEUTRAL = ("没有了", "没了", "暂时没有", "就这些", "没别的了", "没有其他问题了", "没啦", "再见", "拜拜",
                    "没有了。", "没了哦", "暂时没有了", "没有", "好的，没有了", "嗯，没了", "没有别的问题")
WARM = ("太感谢了", "非常感谢", "谢谢你！辛苦啦", "你服务真好", "态度很好，谢谢", "给你点个赞", "好评", "那就好",
        "太好了", "总算放心了", "这么快就到了，谢谢", "哈哈太好了", "真是太感谢你了", "你真好", "放心了，谢谢亲",
        "问题解决了，谢谢", "收到了，谢谢", "好的，谢谢你帮我查", "等了好久不过终于到了，谢谢", "祝你工作顺利")

# --- impatience and complaints --------------------------------------------------------------------
SPANS = ("两天", "三天", "四天", "五天", "六天", "七天", "八天", "十天", "好几天", "一个星期", "一周", "半个月",
         "[数字x]天")
ELAPSED = ("都{s}了", "都{s}了还没到", "都等了{s}了", "等了{s}了还没发货", "已经{s}了还没收到", "都{s}了怎么还没动静",
           "{s}了还没送到", "下单{s}了还没发货", "都过去{s}了", "退款{s}了还没到账")
IMPATIENT = ("怎么还没发货", "怎么还没到", "怎么还没有消息", "怎么还没退款", "为什么还没发货", "为什么还没到",
             "到底什么时候能到", "到底什么时候发货", "还要等多久啊", "等不了了", "快点吧", "能不能快点", "能再快点吗",
             "什么时候才能到啊", "说好的今天到呢", "说好的明天呢", "一直没动静", "物流一直不更新", "怎么这么慢",
             "太慢了吧", "这么久了还没处理", "怎么还不给我退款", "还没好吗？？", "到底怎么回事")
CHASING = ("人呢", "人呢？", "在吗在吗？？", "有人吗？？", "还在不在", "回一下我好吗", "怎么不说话了", "查好没有，人还在不在",
           "在吗？？？", "喂喂")
COMPLAINTS = ("你们怎么搞的", "这是怎么回事", "怎么又取消了", "凭什么不给退", "质量太差了", "才用两天就坏了",
              "包装烂成这样", "跟描述完全不一样", "我要投诉", "给差评", "你们是不是骗人的", "上次也是这么说的",
              "我都说了三遍了", "服务太差了", "效率太低了", "什么破快递", "无语了", "呵呵", "你们效率可真高",
              "真是好服务啊", "又坏了", "一点用都没有", "不是这个！你看清楚", "我要打12315", "再不解决我就投诉",
              "以前从来不这样", "竟然还要我自己去拿", "又是这样")
GIVING_UP = ("那算了", "那算了吧", "算了不要了", "那我不要了", "那退了吧", "算了不买了", "那我取消吧，不等了",
             "算了，退款吧", "不想等了，取消吧")
WORRY = ("我急用", "明天就要出门了", "会不会丢了啊", "钱会不会退不回来", "我很着急", "能不能今天送到，我明天出差",
         "急死了", "后天要出国，来得及吗", "周一要交材料，急用", "快一点好吗，我等着用")
SAD = ("好失望", "唉", "白等了这么久", "真倒霉", "没办法了", "唉，好吧", "算了吧，唉", "太失望了")

# --- calm service talk -----------------------------------------------------------------------------
NEUTRAL = ("什么时候能到", "几天能发货", "怎么申请退货", "运费谁出", "还没收到", "还没发货", "话费还没到账",
           "好吧", "那好吧", "行吧", "那行", "好的", "嗯", "行", "可以", "知道了", "明白了", "哦", "好的哈", "嗯呢",
           "好滴", "帮我查一下物流，谢谢", "麻烦帮我催一下", "我想取消这个订单", "收到的杯子有个裂口，怎么换",
           "不是这个订单，是另一个", "真的吗？确定能到吗？", "在吗", "你好", "在不在", "订单号发你了",
           "就是这个", "帮我改一下地址", "为什么显示我没实名", "优惠券怎么不见了", "积分怎么少了一些",
           "麻烦帮我看一下什么时候发货，谢谢", "辛苦帮忙加急一下哦", "我没收到短信", "可以开发票吗",
           "能送货上门吗", "退款退到哪里", "明天能到吗", "请问几点送", "好的，我等通知", "我再看看",
           "那我重新下单吧", "好的，我知道了", "没关系", "不用了")


def _closings_positive() -> list[str]:
    """Every head with every thanks, the separator rotating (one per pair, not every combination)."""
    return [h + SEPARATORS[(i + j) % len(SEPARATORS)] + t
            for (i, h), (j, t) in product(enumerate(CLOSING_HEADS), enumerate(THANKS))]


def written_records() -> list[dict]:
    """Every written pattern as an emotion record (deterministic order)."""
    out: list[dict] = []

    def add(texts, label, polarity):
        out.extend({"text": t, "label": label, "polarity": polarity, "source": SOURCE} for t in texts)

    add(_closings_positive(), None, "positive")  # bare polite formula: positive, emotion not clear
    add(WARM, "happy", "positive")
    add(CLOSINGS_NEUTRAL, "neutral", "neutral")
    add([p.format(s=s) for p, s in product(ELAPSED, SPANS)], None, "negative")
    add(IMPATIENT, "angry", "negative")
    add(CHASING, None, "negative")
    add(COMPLAINTS, "angry", "negative")
    add(GIVING_UP, None, "negative")
    add(WORRY, "anxious", "negative")
    add(SAD, "sad", "negative")
    add(NEUTRAL, "neutral", "neutral")
    seen: set[str] = set()
    return [r for r in out if not (r["text"] in seen or seen.add(r["text"]))]  # type: ignore[func-returns-value]
