// Team dashboard: KPIs, agents ranked with red/yellow/green warnings, distribution of scores and the
// daily average score, over a date range (kept in the URL) that the CSV / XLSX export also uses.
import { api } from "../api.js";
import { chart, COLORS } from "../charts.js";
import { $, empty, esc, fmtPct, fmtSat, fmtScore, message } from "../dom.js";
import { t } from "../i18n.js";
import { bindRange, kpiCards, rangeForm, rangeOf, warningText } from "./kpis.js";

const [RED_BELOW, YELLOW_BELOW] = [60, 80]; // the scorecards' flag thresholds, for the bands' colours

export async function renderTeam(view, teamId, params = {}) {
  view.innerHTML = `<div id="team-body">${t("loading")}</div>`;
  const body = $("#team-body", view);
  const teams = await api("/teams").catch(() => []);
  if (!teamId) {
    if (teams.length === 1) { location.hash = `#/team/${encodeURIComponent(teams[0].team_id)}`; return; }
    body.innerHTML = `<h1>${t("chooseTeam")}</h1>${teams.length ? `<ul class="team-list">${teams.map((tm) => `
      <li><a href="#/team/${encodeURIComponent(tm.team_id)}">${esc(tm.name || tm.team_id)}</a> <span class="muted">${tm.agents.length} ${t("agents")}</span></li>`).join("")}</ul>`
      : empty(t("noTeams"), "no-teams")}`;
    return;
  }
  let summary, dist;
  try {
    [summary, dist] = await Promise.all([
      api(`/teams/${encodeURIComponent(teamId)}/summary`, { params: rangeOf(params) }),
      api(`/teams/${encodeURIComponent(teamId)}/score-distribution`, { params: rangeOf(params) }),
    ]);
  } catch (err) {
    return message(body, err.status === 403 ? t("forbidden") : err.message);
  }
  const level = (a) => a.warning?.level || "green";
  const ranked = [...summary.agents].sort((a, b) => (a.rank ?? 1e9) - (b.rank ?? 1e9) || (b.average_score ?? -1) - (a.average_score ?? -1));
  const none = summary.interactions === 0;
  const switcher = teams.length > 1 ? `<select id="team-switch">${teams.map((tm) => `<option${tm.team_id === teamId ? " selected" : ""}>${esc(tm.team_id)}</option>`).join("")}</select>` : "";
  body.innerHTML = `
    <h1>${esc(t("teamTitle", { id: teamId }))} ${switcher}</h1>
    ${rangeForm(params)}
    ${kpiCards(summary)}
    <div class="charts">
      <section class="card"><h2>${t("agents")}</h2>
        <p class="hint" id="rank-rule">${esc(t("rankRule", { n: summary.rank_min_interactions }))}</p>
        ${ranked.length ? "" : empty(t("noData"), "agents-empty")}
        <div class="table-wrap"><table class="grid" id="agents-table"${ranked.length ? "" : " hidden"}><thead><tr><th>${t("ranking")}</th><th>${t("warning")}</th><th>${t("agent")}</th>
          <th>${t("averageScore")}</th><th>${t("passRate")}</th><th>${t("interactions")}</th><th>${t("red")}/${t("yellow")}/${t("green")}</th>
          <th>${t("averageSatisfaction")}</th><th>${t("dissatisfiedShare")}</th></tr></thead>
        <tbody>${ranked.map((a) => `<tr data-agent="${esc(a.agent_id)}" data-warning="${level(a)}">
          <td class="num rank">${a.rank ?? `<span class="muted small" title="${esc(t("notRankedWhy", { n: summary.rank_min_interactions }))}">${esc(t("notRanked"))}</span>`}</td>
          <td title="${esc(warningText(a.warning))}"><span class="dot dot-${level(a)}"></span>${esc(t(level(a)))}
            ${warningText(a.warning) ? `<div class="muted small">${esc(warningText(a.warning))}</div>` : ""}</td>
          <td><a href="#/agent/${encodeURIComponent(a.agent_id)}">${esc(a.agent_id)}</a></td>
          <td class="num">${fmtScore(a.average_score)}${a.reviewed ? `<div class="muted small">${esc(t("automaticShort"))} ${fmtScore(a.automatic.average_score)}</div>` : ""}</td><td class="num">${fmtPct(a.pass_rate)}</td><td class="num">${a.interactions}</td>
          <td class="num">${a.flags.red}/${a.flags.yellow}/${a.flags.green}</td>
          <td class="num" data-col="satisfaction">${fmtSat(a.average_satisfaction)}</td>
          <td class="num" data-col="dissatisfied">${fmtPct(a.dissatisfied_share)}</td></tr>`).join("")}</tbody></table></div>
      </section>
      <section class="card"><h2>${t("distribution")}</h2>${none ? empty(t("noData"), "dist-empty") : `<div class="chart-box"><canvas id="dist-chart"></canvas></div>`}</section>
    </div>
    <section class="card"><h2>${t("trend")}</h2>${none ? empty(t("noData"), "trend-empty") : `<div class="chart-box"><canvas id="team-trend"></canvas></div>`}</section>`;
  bindRange(body, `#/team/${encodeURIComponent(teamId)}`, `/teams/${encodeURIComponent(teamId)}/summary/export`, params);
  if (none) return;
  $("#team-switch", body)?.addEventListener("change", (ev) => { location.hash = `#/team/${encodeURIComponent(ev.target.value)}`; });
  const bands = dist.bands;
  chart($("#dist-chart", body), {
    type: "bar",
    data: {
      labels: bands.map((b) => `${b.from}–${b.to}`),
      datasets: [{ label: t("count"), data: bands.map((b) => b.count),
        backgroundColor: bands.map((b) => (b.to <= RED_BELOW ? COLORS.red : b.to <= YELLOW_BELOW ? COLORS.yellow : COLORS.green)) }],
    },
    options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
  // The daily average score (final where reviewed) beside the automatic one, as on the agent page.
  chart($("#team-trend", body), {
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
}
