// UI strings: zh-CN by default, English on switch. Keys are English-ish ids; unknown keys show as-is.
const STRINGS = {
  zh: {
    appName: "智能质检", login: "登录", logout: "退出", username: "用户名", password: "密码",
    loginFailed: "用户名或密码错误", language: "English",
    navQueue: "复核队列", navTeam: "团队看板", navRules: "规则质量", navMine: "我的质检",
    queueTitle: "待复核", team: "团队", agent: "坐席", from: "开始日期", to: "结束日期", flag: "标记",
    dimension: "维度", rule: "规则", any: "全部", apply: "筛选", reset: "重置", includeReviewed: "含已复核",
    interaction: "会话", channel: "渠道", score: "得分", occurred: "时间", critical: "一票否决",
    reviewedScore: "复核后", noItems: "没有符合条件的会话", total: "共 {n} 条", prev: "上一页", next: "下一页",
    keyboardHint: "j/k 或 ↑/↓ 选择，Enter 打开",
    call: "通话", chat: "在线", red: "红", yellow: "黄", green: "绿",
    agentRole: "坐席", customerRole: "客户",
    automatic: "自动评分", reviewed: "复核评分", notReviewed: "未复核",
    hits: "命中", hitsOverall: "整体命中", confirm: "确认", dismiss: "驳回", confirmed: "已确认", dismissed: "已驳回",
    severity: "严重程度", explanation: "说明", turn: "轮次",
    lowAsr: "识别置信度低", audio: "录音", noAudio: "该通话没有录音文件",
    override: "人工改分", reason: "理由", comment: "复核意见", submitReview: "提交复核",
    reviewSaved: "复核已提交", needDecision: "请至少确认/驳回一条命中或修改一个维度分数",
    reasonRequired: "改分需要填写理由",
    appeals: "申诉", noAppeals: "暂无申诉", fileAppeal: "提交申诉", appealReason: "申诉理由",
    accept: "采纳", reject: "驳回申诉", decisionReason: "处理意见", open: "待处理", accepted: "已采纳",
    rejected: "已驳回", filedBy: "申诉人", decidedBy: "处理人",
    reviewsHistory: "复核记录", reviewer: "复核人",
    agentTitle: "坐席 {id}", trend: "得分趋势", dimensions: "维度得分", topRules: "高频命中规则",
    recentFlagged: "近期标记会话", interactions: "会话数", averageScore: "平均分", passRate: "合格率",
    politenessRate: "礼貌用语使用率", forbiddenPer100: "禁语/百通", empathyRate: "共情率",
    scriptRate: "话术合规率", deescalationRate: "情绪安抚有效率",
    averageSatisfaction: "预测满意度", dissatisfiedShare: "预测不满意占比", satisfaction: "预测客户满意度",
    dissatisfiedProb: "不满意概率", satisfactionEvidence: "依据轮次", satisfactionScale: "−2 很不满意 … +2 很满意",
    dissatisfiedOnly: "仅预测不满意", satisfactionDriver: "影响满意度预测的客户发言",
    teamTitle: "团队 {id}", ranking: "排名", warning: "预警", distribution: "得分分布", agents: "坐席",
    chooseTeam: "选择团队", count: "数量", rankOf: "团队排名 {rank}/{n}",
    rulesTitle: "规则质量（复核实测准确率）", hitsCount: "命中数", reviewedCount: "已复核",
    precision: "准确率", rulesHint: "准确率 = 确认 / 已复核；准确率低的规则需要修改",
    notFound: "会话不存在或无权查看", forbidden: "无权查看", error: "出错了",
    back: "返回队列", loading: "加载中…", seconds: "秒",
    navAppeals: "申诉处理", appealsTitle: "申诉处理（最早的在前）", status: "状态", filed: "申诉时间",
    contestedHits: "申诉的命中", contested: "被申诉", appealPick: "勾选要申诉的命中（可不选）",
    appealUntil: "申诉截止 {date}", appealClosed: "申诉期已过（截止 {date}）",
    decideHint: "采纳时勾选的命中将被驳回；未勾选的被申诉命中予以保留",
    decisionReasonRequired: "请填写处理意见", appealAccepted: "申诉已采纳", appealRejected: "申诉已驳回",
    finalAfterAppeal: "复核后得分", myAppeals: "我的申诉", noOpenAppeals: "没有待处理的申诉",
    appealMarker: "申诉{status}", appealOpenMarker: "申诉中", automaticShort: "自动",
    warnCritical: "一票否决违规：{days}", warnLow: "连续 {n} 个工作日日均分低于 {below}",
    notRanked: "未排名", rankRule: "排名需在所选时段内至少 {n} 通会话（QA_RANK_MIN_INTERACTIONS）",
    notRankedWhy: "会话数不足 {n} 通，不参与排名", finalScore: "最终得分", autoScore: "自动评分",
    reviewedCount2: "已复核 {n} 通",
    tabMine: "分配给我", tabAll: "全部待复核", assignedTo: "分配给", assignmentDone: "已复核",
    noAssignments: "没有分配给你的待复核会话",
    nothingStored: "还没有任何会话。在服务器上导入录音和聊天记录（文件夹、.jsonl 聊天文件或清单），或通过 API 发送（POST /v1/interactions，文档见 /docs）：",
    nothingStoredDemo: "想先看看效果，可导入自带的示例会话：", specialistLoad: "{name}（待办 {n}）",
    assignSelectedTo: "分配给质检员", assignSelected: "分配所选（{n}）", assignedToast: "已将 {n} 条会话分配给 {who}",
    pick: "选择", pickAll: "全选本页", noSpecialists: "没有可分配的质检员",
    why: "原因", findingsN: "{n} 条命中", missingSteps: "缺少话术环节", missingStep: "缺少话术环节：{step}",
    missingStepHint: "必需的话术环节未出现，已在话术合规中扣分",
    modelSays: "模型判断：{name}，置信度 {p}", similarSays: "语义相似：{name}，相似度 {p}",
    prevHit: "上一条", nextHit: "下一条", hitNavHint: "n / p 切换命中", submitNext: "提交并下一条",
    reviewedBy: "{who} 复核于 {time}", queueDone: "队列已全部复核",
    exportCsv: "导出 CSV", exportXlsx: "导出 Excel", noData: "所选时段没有数据", noRuleHits: "暂无命中",
    noTeams: "没有可查看的团队", allResults: "全部会话", more: "更多", noResults: "暂无会话",
    role_admin: "管理员", role_qa_specialist: "质检员", role_supervisor: "主管", role_agent: "坐席", role_ingest: "数据接入",
    atTime: "时间 {time}", missingList: "缺少话术环节：{steps}", listSep: "、", noFindings: "没有命中",
  },
  en: {
    appName: "QA Review", login: "Log in", logout: "Log out", username: "Username", password: "Password",
    loginFailed: "Wrong username or password", language: "中文",
    navQueue: "Review queue", navTeam: "Team dashboard", navRules: "Rule quality", navMine: "My QA",
    queueTitle: "To review", team: "Team", agent: "Agent", from: "From", to: "To", flag: "Flag",
    dimension: "Dimension", rule: "Rule", any: "Any", apply: "Filter", reset: "Reset", includeReviewed: "Include reviewed",
    interaction: "Interaction", channel: "Channel", score: "Score", occurred: "Time", critical: "Critical",
    reviewedScore: "Reviewed", noItems: "No interactions match", total: "{n} in all", prev: "Previous", next: "Next",
    keyboardHint: "j/k or ↑/↓ to move, Enter to open",
    call: "Call", chat: "Chat", red: "Red", yellow: "Yellow", green: "Green",
    agentRole: "Agent", customerRole: "Customer",
    automatic: "Automatic", reviewed: "Reviewed", notReviewed: "Not reviewed",
    hits: "Hits", hitsOverall: "Whole-interaction hits", confirm: "Confirm", dismiss: "Dismiss",
    confirmed: "Confirmed", dismissed: "Dismissed",
    severity: "Severity", explanation: "Explanation", turn: "Turn",
    lowAsr: "Low ASR confidence", audio: "Audio", noAudio: "No audio file for this call",
    override: "Manual score", reason: "Reason", comment: "Review comment", submitReview: "Submit review",
    reviewSaved: "Review submitted", needDecision: "Confirm or dismiss a hit, or set a dimension score",
    reasonRequired: "A manual score needs a reason",
    appeals: "Appeals", noAppeals: "No appeals", fileAppeal: "File an appeal", appealReason: "Why",
    accept: "Accept", reject: "Reject", decisionReason: "Decision reason", open: "Open", accepted: "Accepted",
    rejected: "Rejected", filedBy: "Filed by", decidedBy: "Decided by",
    reviewsHistory: "Reviews", reviewer: "Reviewer",
    agentTitle: "Agent {id}", trend: "Score trend", dimensions: "Dimension scores", topRules: "Most frequent rules",
    recentFlagged: "Recently flagged", interactions: "Interactions", averageScore: "Average score", passRate: "Pass rate",
    politenessRate: "Politeness rate", forbiddenPer100: "Forbidden per 100", empathyRate: "Empathy rate",
    scriptRate: "Script compliance", deescalationRate: "De-escalation rate",
    averageSatisfaction: "Predicted satisfaction", dissatisfiedShare: "Predicted dissatisfied", satisfaction: "Predicted customer satisfaction",
    dissatisfiedProb: "P(dissatisfied)", satisfactionEvidence: "Driven by turns", satisfactionScale: "−2 very dissatisfied … +2 very satisfied",
    dissatisfiedOnly: "Predicted dissatisfied only", satisfactionDriver: "Customer turn that drove the satisfaction prediction",
    teamTitle: "Team {id}", ranking: "Rank", warning: "Warning", distribution: "Score distribution", agents: "Agents",
    chooseTeam: "Choose a team", count: "Count", rankOf: "Rank {rank} of {n} in the team",
    rulesTitle: "Rule quality (precision measured by reviews)", hitsCount: "Hits", reviewedCount: "Reviewed",
    precision: "Precision", rulesHint: "Precision = confirmed / reviewed; rules with low precision need fixing",
    notFound: "No such interaction, or not yours to see", forbidden: "Not allowed", error: "Something went wrong",
    back: "Back to queue", loading: "Loading…", seconds: "s",
    navAppeals: "Appeals", appealsTitle: "Appeals (oldest first)", status: "Status", filed: "Filed",
    contestedHits: "Contested hits", contested: "contested", appealPick: "Tick the hits you contest (optional)",
    appealUntil: "appeal until {date}", appealClosed: "The appeal window has closed ({date})",
    decideHint: "Accepting dismisses the ticked hits; contested hits left unticked are kept",
    decisionReasonRequired: "A decision needs a reason", appealAccepted: "Appeal accepted", appealRejected: "Appeal rejected",
    finalAfterAppeal: "Score after review", myAppeals: "My appeals", noOpenAppeals: "No appeals waiting",
    appealMarker: "Appeal {status}", appealOpenMarker: "Appealed", automaticShort: "automatic",
    warnCritical: "critical violation on {days}", warnLow: "{n} working days in a row averaging below {below}",
    notRanked: "Not ranked", rankRule: "Ranking needs at least {n} interactions in the range (QA_RANK_MIN_INTERACTIONS)",
    notRankedWhy: "fewer than {n} interactions: not ranked", finalScore: "Final score", autoScore: "Automatic score",
    reviewedCount2: "{n} reviewed",
    tabMine: "Assigned to me", tabAll: "All to review", assignedTo: "Assigned to", assignmentDone: "reviewed",
    noAssignments: "Nothing is assigned to you",
    nothingStored: "No interactions are stored yet. Load recordings and chats on the server (a folder, a chat .jsonl file or a manifest), or send them to the API (POST /v1/interactions, documented at /docs):",
    nothingStoredDemo: "For a first look, load the bundled example interactions:", specialistLoad: "{name} ({n} open)",
    assignSelectedTo: "Assign to QA specialist", assignSelected: "Assign selected ({n})", assignedToast: "Assigned {n} to {who}",
    pick: "Select", pickAll: "Select all on this page", noSpecialists: "No QA specialist to assign to",
    why: "Why flagged", findingsN: "{n} findings", missingSteps: "Missing script steps", missingStep: "Missing script step: {step}",
    missingStepHint: "A required script step was not found; script compliance lost points",
    modelSays: "Model: {name}, confidence {p}", similarSays: "Similar meaning: {name}, similarity {p}",
    prevHit: "Previous", nextHit: "Next", hitNavHint: "n / p: next / previous hit", submitNext: "Submit and next",
    reviewedBy: "reviewed by {who} on {time}", queueDone: "Everything in the queue is reviewed",
    exportCsv: "Export CSV", exportXlsx: "Export XLSX", noData: "No data in this range", noRuleHits: "No rule hits",
    noTeams: "No teams to show", allResults: "All interactions", more: "More", noResults: "No interactions yet",
    role_admin: "Admin", role_qa_specialist: "QA specialist", role_supervisor: "Supervisor", role_agent: "Agent", role_ingest: "Ingest",
    atTime: "at {time}", missingList: "Missing script steps: {steps}", listSep: ", ", noFindings: "No findings",
  },
};

const DIMENSIONS = {
  zh: { politeness: "礼貌用语", forbidden_words: "服务禁语", empathy: "同理心", script_compliance: "话术合规",
        emotion: "情绪", call_signals: "通话质量", customer_outcome: "客户满意度" },
  en: { politeness: "Politeness", forbidden_words: "Forbidden words", empathy: "Empathy",
        script_compliance: "Script compliance", emotion: "Emotion", call_signals: "Call signals",
        customer_outcome: "Customer outcome" },
};

const SEVERITIES = {
  zh: { critical: "致命", major: "严重", minor: "轻微", info: "提示" },
  en: { critical: "Critical", major: "Major", minor: "Minor", info: "Info" },
};

const EMOTIONS = {
  zh: { angry: "愤怒", anxious: "焦虑", sad: "难过", neutral: "平静", happy: "愉快" },
  en: { angry: "angry", anxious: "anxious", sad: "sad", neutral: "neutral", happy: "happy" },
};

let lang = localStorage.getItem("qa.lang") || "zh";

export function getLang() { return lang; }

export function setLang(value) {
  lang = value === "en" ? "en" : "zh";
  localStorage.setItem("qa.lang", lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
}

export function t(key, params = {}) {
  const text = STRINGS[lang][key] ?? STRINGS.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}

export const dimensionName = (d) => DIMENSIONS[lang][d] ?? d;
export const severityName = (s) => SEVERITIES[lang][s] ?? s;
export const emotionName = (e) => EMOTIONS[lang][e] ?? e;
export const knownDimensions = () => Object.keys(DIMENSIONS.zh);
export const roleName = (role) => t(`role_${role}`);

document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
