// Agent page: KPIs, score trend, dimension breakdown, most frequent rule hits, recent flagged.
import { api } from "../api.js";
import { chart, COLORS } from "../charts.js";
import { $, esc, flagBadge, fmtScore, fmtTime, message } from "../dom.js";
import { dimensionName, severityName, t } from "../i18n.js";
import { kpiCards } from "./kpis.js";

export async function renderAgent(view, agentId) {
  view.innerHTML = `<h1>${esc(t("agentTitle", { id: agentId }))}</h1><div id="agent-body">${t("loading")}</div>`;
  const body = $("#agent-body", view);
  let summary, rules, red, yellow;
  try {
    [summary, rules, red, yellow] = await Promise.all([
      api(`/agents/${encodeURIComponent(agentId)}/summary`),
      api(`/agents/${encodeURIComponent(agentId)}/top-rules`),
      api("/interactions", { params: { agent: agentId, flag: "red", limit: 10 } }),
      api("/interactions", { params: { agent: agentId, flag: "yellow", limit: 10 } }),
    ]);
  } catch (err) {
    return message(body, err.status === 403 ? t("forbidden") : err.message);
  }
  const flagged = [...red.items, ...yellow.items].sort((a, b) => b.occurred_at.localeCompare(a.occurred_at)).slice(0, 10);
  const level = summary.warning?.level || "green";
  body.innerHTML = `
    <p class="standing" id="standing" data-warning="${level}"><span class="dot dot-${level}"></span>${esc(t(level))}
      ${summary.warning?.reason ? ` · ${esc(summary.warning.reason)}` : ""}
      ${summary.rank ? ` · ${esc(t("rankOf", { rank: summary.rank, n: summary.team_agents }))}` : ""}</p>
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
        <table class="grid" id="recent-flagged"><tbody>${flagged.map((it) => `<tr><td>${flagBadge(it.flag)}</td>
          <td class="num">${fmtScore(it.score)}</td><td><a href="#/i/${encodeURIComponent(it.interaction_id)}">${esc(it.interaction_id)}</a></td>
          <td>${esc(fmtTime(it.occurred_at))}</td></tr>`).join("")}</tbody></table>
      </section>
    </div>`;
  chart($("#trend-chart", body), {
    type: "line",
    data: {
      labels: summary.daily.map((d) => d.date),
      datasets: [{ label: t("averageScore"), data: summary.daily.map((d) => d.average_score), borderColor: COLORS.blue, tension: 0.2 }],
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
