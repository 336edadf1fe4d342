// Rule quality: per rule, how reviewers decided its hits and the precision that makes.
import { api } from "../api.js";
import { $, empty, esc, fmtPct, message } from "../dom.js";
import { dimensionName, severityName, t } from "../i18n.js";
import { ruleTag } from "../names.js";

export async function renderRules(view) {
  view.innerHTML = `<h1>${t("rulesTitle")}</h1><p class="hint">${t("rulesHint")}</p><div id="rules-body">${t("loading")}</div>`;
  const body = $("#rules-body", view);
  let rows;
  try {
    rows = await api("/rule-quality");
  } catch (err) {
    return message(body, err.status === 403 ? t("forbidden") : err.message);
  }
  if (!rows.length) { body.innerHTML = empty(t("noRuleHits"), "rules-empty"); return; }
  const level = (p) => (p === null ? "none" : p < 0.5 ? "red" : p < 0.8 ? "yellow" : "green");
  body.innerHTML = `
    <table class="grid" id="rules-table"><thead><tr><th>${t("rule")}</th><th>${t("dimension")}</th><th>${t("severity")}</th>
      <th>${t("hitsCount")}</th><th>${t("reviewedCount")}</th><th>${t("confirmed")}</th><th>${t("dismissed")}</th><th>${t("precision")}</th></tr></thead>
    <tbody>${rows.map((r) => `<tr data-rule="${esc(r.rule_id)}">
      <td><a href="#/queue?rule=${encodeURIComponent(r.rule_id)}&include_reviewed=true">${ruleTag(r.rule_id)}</a>
        <div class="muted small"><code>${esc(r.rule_id)}</code></div></td>
      <td>${esc(dimensionName(r.dimension))}</td><td>${esc(severityName(r.severity))}</td>
      <td class="num" data-col="hits">${r.hits}</td><td class="num" data-col="reviewed">${r.reviewed}</td>
      <td class="num" data-col="confirmed">${r.confirmed}</td><td class="num" data-col="dismissed">${r.dismissed}</td>
      <td data-col="precision"><span class="bar bar-${level(r.precision)}"><span style="width:${r.precision === null ? 0 : 100 * r.precision}%"></span></span>
        <span class="prec-${level(r.precision)}">${fmtPct(r.precision)}</span></td></tr>`).join("")}</tbody></table>`;
}
