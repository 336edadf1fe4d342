// Agent page: KPIs, score trend (final and automatic), dimension breakdown, most frequent rule hits,
// recent flagged, and the agent's appeals with their outcome.
import { api } from "../api.js";
import { chart, COLORS } from "../charts.js";
import { $, esc, flagBadge, fmtScore, fmtTime, message } from "../dom.js";
import { dimensionName, severityName, t } from "../i18n.js";
import { kpiCards, warningText } from "./kpis.js";

export async function renderAgent(view, agentId) {
  view.innerHTML = `<h1>${esc(t("agentTitle", { id: agentId }))}</h1><div id="agent-body">${t("loading")}</div>`;
  const body = $("#agent-body", view);
  let summary, rules, red, yellow, appeals;
  try {
    [summary, rules, red, yellow, appeals] = await Promise.all([
      api(`/agents/${encodeURIComponent(agentId)}/summary`),
      api(`/agents/${encodeURIComponent(agentId)}/top-rules`),
      api("/interactions", { params: { agent: agentId, flag: "red", limit: 10 } }),
      api("/interactions", { params: { agent: agentId, flag: "yellow", limit: 10 } }),
      api("/appeals", { params: { agent: agentId, limit: 500 } }),
    ]);
  } catch (err) {
    return message(body, err.status === 403 ? t("forbidden") : err.message);
  }
  const flagged = [...red.items, ...yellow.items].sort((a, b) => b.occurred_at.localeCompare(a.occurred_at)).slice(0, 10);
  const level = summary.warning?.level || "green";
  const why = warningText(summary.warning);
  const rank = summary.rank ? t("rankOf", { rank: summary.rank, n: summary.team_agents })
    : summary.rank_note ? `${t("notRanked")}: ${t("notRankedWhy", { n: summary.rank_min_interactions })}` : "";
  body.innerHTML = `
    <p class="standing" id="standing" data-warning="${level}" data-kind="${esc(summary.warning?.kind || "")}"><span class="dot dot-${level}"></span>${esc(t(level))}
      ${why ? ` · <span id="warning-why">${esc(why)}</span>` : ""}
      ${rank ? ` · <span id="rank" title="${esc(summary.rank_note || "")}">${esc(rank)}</span>` : ""}</p>
    ${kpiCards(summary)}
    <div class="charts">
      <section class="card"><h2>${t("trend")}</h2><div class="chart-box"><canvas id="trend-chart"></canvas></div></section>
      <section class="card"><h2>${t("dimensions")}</h2><div class="chart-box"><canvas id="dim-chart"></canvas></div></section>
    </div>
    <div class="charts">
      <section class="card"><h2>${t("topRules")}</h2>
        <table class="grid" id="top-rules"><thead><tr><th>${t("rule")}</th><th>${t("dimension")}</th><th>${t("severity")}</th>
          <th>${t("hitsCount")}</th><th>${t("interactions")}</th><th>${t("dismissed")}</th></tr></thead>
        <tbody>${rules.map((r) => `<tr><td><code>${esc(r.rule_id)}</code></td><td>${esc(dimensionName(r.dimension))}</td>
          <td>${esc(severityName(r.severity))}</td><td class="num">${r.hits}</td><td class="num">${r.interactions}</td><td class="num">${r.dismissed}</td></tr>`).join("")}</tbody></table>
      </section>
      <section class="card"><h2>${t("recentFlagged")}</h2>
        <table class="grid" id="recent-flagged"><tbody>${flagged.map((it) => `<tr><td>${flagBadge(it.final_flag || it.flag)}</td>
          <td class="num">${fmtScore(it.final_score ?? it.score)}</td><td><a href="#/i/${encodeURIComponent(it.interaction_id)}">${esc(it.interaction_id)}</a></td>
          <td>${esc(fmtTime(it.occurred_at))}</td></tr>`).join("")}</tbody></table>
      </section>
    </div>
    <section class="card"><h2>${t("myAppeals")}</h2>${appealsTable(appeals.items)}</section>`;
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

// The agent's appeals, newest first, with the decision and the score it led to.
function appealsTable(items) {
  if (!items.length) return `<p class="muted" id="my-appeals-empty">${t("noAppeals")}</p>`;
  const rows = [...items].reverse().map((a) => `
    <tr data-appeal="${a.id}" data-status="${a.status}">
      <td><span class="status status-${a.status}">${esc(t(a.status))}</span></td>
      <td><a href="#/i/${encodeURIComponent(a.interaction_id)}">${esc(a.interaction_id)}</a></td>
      <td>${a.contested.map((c) => `<code>${esc(c.rule_id)}</code>`).join(" ")}</td>
      <td class="num">${fmtScore(a.score)}</td>
      <td class="num final">${a.final_score !== null ? `${fmtScore(a.final_score)} ${flagBadge(a.final_flag)}` : "–"}</td>
      <td>${esc(a.decision_reason || "")}${a.decided_by ? ` <span class="muted">· ${esc(a.decided_by)}</span>` : ""}</td>
      <td>${esc(fmtTime(a.created_at))}</td>
    </tr>`).join("");
  return `<div class="table-wrap"><table class="grid" id="my-appeals"><thead><tr><th>${t("status")}</th><th>${t("interaction")}</th><th>${t("contestedHits")}</th>
    <th>${t("autoScore")}</th><th>${t("finalScore")}</th><th>${t("decisionReason")}</th><th>${t("filed")}</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}
