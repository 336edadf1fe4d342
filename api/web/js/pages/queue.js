// Review queue: flagged interactions, red before yellow and oldest first (the API's order),
// filters kept in the URL, keyboard navigation (j/k or arrows, Enter opens).
import { api } from "../api.js";
import { $, $$, esc, flagBadge, fmtPct, fmtSat, fmtScore, fmtTime, message } from "../dom.js";
import { dimensionName, knownDimensions, t } from "../i18n.js";

const PAGE = 50;
const FILTERS = ["team", "agent", "start", "end", "flag", "dimension", "rule", "dissatisfied", "include_reviewed"];
let keyHandler = null;

function options(values, selected, label = (v) => v) {
  return [`<option value="">${esc(t("any"))}</option>`]
    .concat(values.map((v) => `<option value="${esc(v)}"${v === selected ? " selected" : ""}>${esc(label(v))}</option>`))
    .join("");
}

export async function renderQueue(view, _id, params) {
  const offset = Number(params.offset || 0);
  view.innerHTML = `<h1>${t("queueTitle")}</h1><div id="queue-filters"></div><div id="queue-body">${t("loading")}</div>`;
  const [teams, rules] = await Promise.all([
    api("/teams").catch(() => []),
    api("/rule-quality").catch(() => []),
  ]);
  const agents = [...new Set(teams.flatMap((tm) => tm.agents))].sort();
  $("#queue-filters", view).innerHTML = `
    <form id="filters" class="filters">
      <label>${t("team")}<select name="team">${options(teams.map((tm) => tm.team_id), params.team)}</select></label>
      <label>${t("agent")}<select name="agent">${options(agents, params.agent)}</select></label>
      <label>${t("from")}<input type="date" name="start" value="${esc(params.start || "")}"></label>
      <label>${t("to")}<input type="date" name="end" value="${esc(params.end || "")}"></label>
      <label>${t("flag")}<select name="flag">${options(["red", "yellow"], params.flag, t)}</select></label>
      <label>${t("dimension")}<select name="dimension">${options(knownDimensions(), params.dimension, dimensionName)}</select></label>
      <label>${t("rule")}<select name="rule">${options(rules.map((r) => r.rule_id).sort(), params.rule)}</select></label>
      <label class="check"><input type="checkbox" name="dissatisfied" value="true"${params.dissatisfied ? " checked" : ""}>${t("dissatisfiedOnly")}</label>
      <label class="check"><input type="checkbox" name="include_reviewed" value="true"${params.include_reviewed ? " checked" : ""}>${t("includeReviewed")}</label>
      <button type="submit" class="primary">${t("apply")}</button>
      <button type="button" id="reset">${t("reset")}</button>
    </form>`;
  const form = $("#filters", view);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
    location.hash = `#/queue?${q}`;
  });
  $("#reset", view).addEventListener("click", () => { location.hash = "#/queue"; });

  const query = Object.fromEntries(FILTERS.filter((k) => params[k]).map((k) => [k, params[k]]));
  let page;
  try {
    page = await api("/review-queue", { params: { ...query, limit: PAGE, offset } });
  } catch (err) {
    return message($("#queue-body", view), err.message);
  }
  const body = $("#queue-body", view);
  if (!page.items.length) {
    body.innerHTML = `<p class="empty" id="queue-empty">${t("noItems")}</p>`;
    return;
  }
  const rows = page.items.map((it) => `
    <tr tabindex="-1" data-id="${esc(it.interaction_id)}">
      <td>${flagBadge(it.flag)}</td>
      <td class="num">${fmtScore(it.score)}</td>
      <td><a href="#/i/${encodeURIComponent(it.interaction_id)}">${esc(it.interaction_id)}</a></td>
      <td>${esc(t(it.channel))}</td>
      <td>${esc(it.agent_id || "")}</td>
      <td>${esc(it.team_id || "")}</td>
      <td>${esc(fmtTime(it.occurred_at))}</td>
      <td>${it.critical.map((c) => `<code>${esc(c)}</code>`).join(" ")}</td>
      <td>${it.final_flag ? `${flagBadge(it.final_flag)} ${fmtScore(it.final_score)}` : ""}</td>
      <td class="num" data-col="satisfaction" title="${esc(t("dissatisfiedProb"))} ${fmtPct(it.dissatisfied)}">${fmtSat(it.satisfaction)}</td>
    </tr>`).join("");
  const q = new URLSearchParams(query);
  const link = (o) => { q.set("offset", o); return `#/queue?${q}`; };
  body.innerHTML = `
    <p class="hint">${t("total", { n: page.total })} · ${t("keyboardHint")}</p>
    <table class="grid" id="queue-table">
      <thead><tr><th>${t("flag")}</th><th>${t("score")}</th><th>${t("interaction")}</th><th>${t("channel")}</th>
      <th>${t("agent")}</th><th>${t("team")}</th><th>${t("occurred")}</th><th>${t("critical")}</th><th>${t("reviewedScore")}</th><th>${t("averageSatisfaction")}</th></tr></thead>
      <tbody>${rows}</tbody>
    </table>
    <div class="pager">
      ${offset > 0 ? `<a href="${link(Math.max(0, offset - PAGE))}">${t("prev")}</a>` : ""}
      ${offset + PAGE < page.total ? `<a href="${link(offset + PAGE)}">${t("next")}</a>` : ""}
    </div>`;
  bindKeys(view);
}

function bindKeys(view) {
  const rows = $$("#queue-table tbody tr", view);
  let current = 0;
  const select = (i) => {
    current = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach((r, k) => r.classList.toggle("selected", k === current));
    rows[current].focus({ preventScroll: true });
    rows[current].scrollIntoView({ block: "nearest" });
  };
  rows.forEach((r, i) => r.addEventListener("click", (ev) => { if (ev.target.tagName !== "A") select(i); }));
  select(0);
  if (keyHandler) document.removeEventListener("keydown", keyHandler);
  keyHandler = (ev) => {
    if (!document.body.contains(rows[0])) { document.removeEventListener("keydown", keyHandler); return; }
    if (["INPUT", "SELECT", "TEXTAREA"].includes(ev.target.tagName)) return;
    if (ev.key === "j" || ev.key === "ArrowDown") { ev.preventDefault(); select(current + 1); }
    else if (ev.key === "k" || ev.key === "ArrowUp") { ev.preventDefault(); select(current - 1); }
    else if (ev.key === "Enter") { ev.preventDefault(); location.hash = `#/i/${encodeURIComponent(rows[current].dataset.id)}`; }
  };
  document.addEventListener("keydown", keyHandler);
}
