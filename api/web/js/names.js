// Rule names from the rule packs (GET /v1/rule-names: name_zh / name_en), loaded once; pages show
// these instead of rule ids, and say which hits are a model's judgement.
import { api } from "./api.js";
import { esc } from "./dom.js";
import { getLang, t } from "./i18n.js";

let rules = new Map();
let loading = null;

export function loadRuleNames() {
  loading ??= api("/rule-names")
    .then((list) => { rules = new Map(list.map((r) => [r.rule_id, r])); })
    .catch(() => { loading = null; }); // ids stand in until the next page load tries again
  return loading;
}

export function ruleName(id) {
  const r = rules.get(id);
  return r ? (getLang() === "zh" ? r.name_zh : r.name_en) : id;
}

// A rule's name, its id on hover (and for tests in data-rule-id).
export function ruleTag(id, extra = "") {
  return `<span class="rule-name" data-rule-id="${esc(id)}" title="${esc(id)}">${esc(ruleName(id))}${extra}</span>`;
}

// Model evidence in words: 模型判断：疑似不耐烦，置信度 0.89 (a classifier's probability) or the
// similarity to the nearest exemplar; "" for word-list and pattern rules.
export function modelEvidence(hit) {
  const op = rules.get(hit.rule_id)?.operator;
  if (op === "classifier") return t("modelSays", { name: ruleName(hit.rule_id), p: hit.score.toFixed(2) });
  if (op === "similar") return t("similarSays", { name: ruleName(hit.rule_id), p: hit.score.toFixed(2) });
  return "";
}
