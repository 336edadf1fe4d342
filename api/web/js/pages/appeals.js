// Appeals inbox for QA specialists (and supervisors, their teams): open appeals oldest first, a team
// filter, the contested hits and the scores; a row opens the interaction, where the appeal is decided.
import { api } from "../api.js";
import { $, esc, flagBadge, fmtScore, fmtTime, message } from "../dom.js";
import { t } from "../i18n.js";
import { ruleTag } from "../names.js";

const STATUSES = ["open", "accepted", "rejected"];

export async function renderAppeals(view, _id, params) {
  const status = params.status ?? "open";
  view.innerHTML = `<h1>${t("appealsTitle")}</h1><div id="appeals-filters"></div><div id="appeals-body">${t("loading")}</div>`;
  const teams = await api("/teams").catch(() => []);
  const option = (v, selected, label) => `<option value="${esc(v)}"${v === selected ? " selected" : ""}>${esc(label)}</option>`;
  $("#appeals-filters", view).innerHTML = `
    <form id="appeal-filters" class="filters">
      <label>${t("team")}<select name="team">${option("", params.team || "", t("any"))}${teams.map((tm) => option(tm.team_id, params.team, tm.name || tm.team_id)).join("")}</select></label>
      <label>${t("status")}<select name="status">${option("", status, t("any"))}${STATUSES.map((s) => option(s, status, t(s))).join("")}</select></label>
      <button type="submit" class="primary">${t("apply")}</button>
    </form>`;
  const form = $("#appeal-filters", view);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v || k === "status") q.set(k, v);
    location.hash = `#/appeals?${q}`;
  });
  let page;
  try {
    page = await api("/appeals", { params: { status: status || undefined, team: params.team, limit: 200 } });
  } catch (err) {
    return message($("#appeals-body", view), err.message);
  }
  const body = $("#appeals-body", view);
  if (!page.items.length) {
    body.innerHTML = `<p class="empty" id="appeals-empty">${t("noOpenAppeals")}</p>`;
    return;
  }
  body.innerHTML = `
    <p class="hint">${t("total", { n: page.total })}</p>
    <div class="table-wrap"><table class="grid" id="appeals-table">
      <thead><tr><th>${t("filed")}</th><th>${t("status")}</th><th>${t("interaction")}</th><th>${t("agent")}</th><th>${t("team")}</th>
        <th>${t("contestedHits")}</th><th>${t("appealReason")}</th><th>${t("autoScore")}</th><th>${t("finalScore")}</th></tr></thead>
      <tbody>${page.items.map((a) => `
        <tr data-appeal="${a.id}" data-id="${esc(a.interaction_id)}" data-status="${a.status}">
          <td>${esc(fmtTime(a.created_at))}</td>
          <td><span class="status status-${a.status}">${esc(t(a.status))}</span></td>
          <td><a href="#/i/${encodeURIComponent(a.interaction_id)}">${esc(a.interaction_id)}</a></td>
          <td>${esc(a.agent_id || "")}</td><td>${esc(a.team_id || "")}</td>
          <td>${a.contested.map((c) => ruleTag(c.rule_id)).join(" ") || "–"}</td>
          <td class="said">${esc(a.reason)}</td>
          <td class="num">${fmtScore(a.score)} ${flagBadge(a.flag)}</td>
          <td class="num">${a.final_score !== null ? `${fmtScore(a.final_score)} ${flagBadge(a.final_flag)}` : "–"}</td>
        </tr>`).join("")}</tbody>
    </table></div>`;
}
