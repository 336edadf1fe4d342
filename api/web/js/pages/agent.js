// Agent page: KPIs, score trend (final and automatic), dimension breakdown, most frequent rule hits,
// every result (not only flagged ones: an agent may appeal any), and the agent's appeals with their
// outcome; over a date range (kept in the URL) that the CSV / XLSX export also uses.
import { api } from "../api.js";
import { chart, COLORS } from "../charts.js";
import { $, empty, esc, flagBadge, fmtScore, fmtTime, message } from "../dom.js";
import { dimensionName, severityName, t } from "../i18n.js";
import { ruleTag } from "../names.js";
import { bindRange, kpiCards, rangeForm, rangeOf, warningText } from "./kpis.js";

const RESULTS_PAGE = 20;

export async function renderAgent(view, agentId, params = {}) {
  view.innerHTML = `<h1>${esc(t("agentTitle", { id: agentId }))}</h1><div id="agent-body">${t("loading")}</div>`;
  const body = $("#agent-body", view);
  const range = rangeOf(params);
  const resultsQuery = { agent: agentId, ...range, limit: RESULTS_PAGE };
  let summary, rules, results, appeals;
  try {
    [summary, rules, results, appeals] = await Promise.all([
      api(`/agents/${encodeURIComponent(agentId)}/summary`, { params: range }),
      api(`/agents/${encodeURIComponent(agentId)}/top-rules`, { params: range }),
      api("/interactions", { params: resultsQuery }),
      api("/appeals", { params: { agent: agentId, limit: 500 } }),
    ]);
  } catch (err) {
    return message(body, err.status === 403 ? t("forbidden") : err.message);
  }
  const none = summary.interactions === 0;
  const level = summary.warning?.level || "green";
  const why = warningText(summary.warning);
  const rank = summary.rank ? t("rankOf", { rank: summary.rank, n: summary.team_agents })
    : summary.rank_note ? `${t("notRanked")}: ${t("notRankedWhy", { n: summary.rank_min_interactions })}` : "";
  body.innerHTML = `
    <p class="standing" id="standing" data-warning="${level}" data-kind="${esc(summary.warning?.kind || "")}"><span class="dot dot-${level}"></span>${esc(t(level))}
      ${why ? ` · <span id="warning-why">${esc(why)}</span>` : ""}
      ${rank ? ` · <span id="rank">${esc(rank)}</span>` : ""}</p>
    ${rangeForm(params)}
    ${kpiCards(summary)}
    <div class="charts">
      <section class="card"><h2>${t("trend")}</h2>${none ? empty(t("noData"), "trend-empty") : `<div class="chart-box"><canvas id="trend-chart"></canvas></div>`}</section>
      <section class="card"><h2>${t("dimensions")}</h2>${none ? empty(t("noData"), "dim-empty") : `<div class="chart-box"><canvas id="dim-chart"></canvas></div>`}</section>
    </div>
    <div class="charts">
      <section class="card"><h2>${t("topRules")}</h2>
        ${rules.length ? "" : empty(t("noRuleHits"), "top-rules-empty")}
        <table class="grid" id="top-rules"${rules.length ? "" : " hidden"}><thead><tr><th>${t("rule")}</th><th>${t("dimension")}</th><th>${t("severity")}</th>
          <th>${t("hitsCount")}</th><th>${t("interactions")}</th><th>${t("dismissed")}</th></tr></thead>
        <tbody>${rules.map((r) => `<tr data-rule="${esc(r.rule_id)}"><td>${ruleTag(r.rule_id)}</td><td>${esc(dimensionName(r.dimension))}</td>
          <td>${esc(severityName(r.severity))}</td><td class="num">${r.hits}</td><td class="num">${r.interactions}</td><td class="num">${r.dismissed}</td></tr>`).join("")}</tbody></table>
      </section>
      <section class="card"><h2>${t("allResults")} <span class="muted small" id="results-total">${results.total}</span></h2>
        ${results.items.length ? "" : empty(t("noResults"), "results-empty")}
        <div class="table-wrap"><table class="grid" id="agent-results"><tbody>${resultRows(results.items)}</tbody></table></div>
        ${results.total > results.items.length ? `<button type="button" id="more-results">${t("more")}</button>` : ""}
      </section>
    </div>
    <section class="card"><h2>${t("myAppeals")}</h2>${appealsTable(appeals.items)}</section>`;
  bindRange(body, `#/agent/${encodeURIComponent(agentId)}`, `/agents/${encodeURIComponent(agentId)}/summary/export`, params);
  let shown = results.items.length;
  $("#more-results", body)?.addEventListener("click", async (ev) => {
    const more = await api("/interactions", { params: { ...resultsQuery, offset: shown } }).catch((err) => message($("#range-msg", body), err.message));
    if (!more) return;
    $("#agent-results tbody", body).insertAdjacentHTML("beforeend", resultRows(more.items));
    shown += more.items.length;
    if (shown >= more.total || !more.items.length) ev.target.remove();
  });
  if (none) return;
  chart($("#trend-chart", body), {
    type: "line",
    data: {
      labels: summary.daily.map((d) => d.date),
      datasets: [
        { label: t("finalScore"), data: summary.daily.map((d) => d.average_score), borderColor: COLORS.blue, tension: 0.2 },
        { label: t("autoScore"), data: summary.daily.map((d) => d.automatic_average_score), borderColor: COLORS.grey,
          borderDash: [4, 4], tension: 0.2 },
      ],
    },
    options: { scales: { y: { min: 0, max: 100 } } },
  });
  const dims = Object.entries(summary.dimensions);
  chart($("#dim-chart", body), {
    type: "bar",
    data: {
      labels: dims.map(([d]) => dimensionName(d)),
      datasets: [{ label: t("averageScore"), data: dims.map(([, v]) => v),
        backgroundColor: dims.map(([, v]) => (v < 60 ? COLORS.red : v < 80 ? COLORS.yellow : COLORS.green)) }],
    },
    options: { indexAxis: "y", scales: { x: { min: 0, max: 100 } }, plugins: { legend: { display: false } } },
  });
}

// Each result, newest first: flag and score (final where reviewed), the appeal on it, when.
function resultRows(items) {
  return items.map((it) => `<tr data-id="${esc(it.interaction_id)}"><td>${flagBadge(it.final_flag || it.flag)}</td>
    <td class="num">${fmtScore(it.final_score ?? it.score)}</td><td><a href="#/i/${encodeURIComponent(it.interaction_id)}">${esc(it.interaction_id)}</a></td>
    <td>${it.appeal_status ? `<span class="status status-${esc(it.appeal_status)}">${esc(t(it.appeal_status))}</span>` : ""}</td>
    <td>${esc(fmtTime(it.occurred_at))}</td></tr>`).join("");
}

// The agent's appeals, newest first, with the decision and the score it led to.
function appealsTable(items) {
  if (!items.length) return `<p class="muted" id="my-appeals-empty">${t("noAppeals")}</p>`;
  const rows = [...items].reverse().map((a) => `
    <tr data-appeal="${a.id}" data-status="${a.status}">
      <td><span class="status status-${a.status}">${esc(t(a.status))}</span></td>
      <td><a href="#/i/${encodeURIComponent(a.interaction_id)}">${esc(a.interaction_id)}</a></td>
      <td>${a.contested.map((c) => ruleTag(c.rule_id)).join(" ")}</td>
      <td class="num">${fmtScore(a.score)}</td>
      <td class="num final">${a.final_score !== null ? `${fmtScore(a.final_score)} ${flagBadge(a.final_flag)}` : "–"}</td>
      <td><span class="said">${esc(a.decision_reason || "")}</span>${a.decided_by ? ` <span class="muted">· ${esc(a.decided_by)}</span>` : ""}</td>
      <td>${esc(fmtTime(a.created_at))}</td>
    </tr>`).join("");
  return `<div class="table-wrap"><table class="grid" id="my-appeals"><thead><tr><th>${t("status")}</th><th>${t("interaction")}</th><th>${t("contestedHits")}</th>
    <th>${t("autoScore")}</th><th>${t("finalScore")}</th><th>${t("decisionReason")}</th><th>${t("filed")}</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}
