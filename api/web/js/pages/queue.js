// Review queue: flagged interactions, red before yellow and oldest first (the API's order),
// filters kept in the URL, keyboard navigation (j/k or arrows, Enter opens).
// Assignment: a QA specialist has a tab of what is assigned to them (shown first when there is any);
// supervisors and admins filter by specialist and assign the rows they tick to one.
import { api } from "../api.js";
import { $, $$, esc, flagBadge, fmtPct, fmtSat, fmtScore, fmtTime, message, toast } from "../dom.js";
import { dimensionName, knownDimensions, t } from "../i18n.js";
import { ruleName, ruleTag } from "../names.js";
import { saveQueue, session } from "../state.js";

const PAGE = 50;
const FILTERS = ["team", "agent", "start", "end", "flag", "dimension", "rule", "dissatisfied", "include_reviewed", "assignee"];
let keyHandler = null;

const isSpecialist = () => session.me?.role === "qa_specialist";
const canAssign = () => ["admin", "supervisor"].includes(session.me?.role);

// The tab a QA specialist sees: "mine" (assignee=me) or "all"; by default theirs when they have any.
async function specialistTab(params) {
  if (params.tab === "mine" || params.tab === "all") return { tab: params.tab, mine: null };
  const mine = await api("/review-queue", { params: { assignee: "me", limit: 1 } }).catch(() => ({ total: 0 }));
  return { tab: mine.total > 0 ? "mine" : "all", mine: mine.total };
}

function assigneeCell(it) {
  if (!it.assigned_to) return "";
  const done = it.assignment_status === "done" ? ` <span class="hint">${esc(t("assignmentDone"))}</span>` : "";
  return `<span class="assignee" data-status="${esc(it.assignment_status)}">${esc(it.assigned_to)}</span>${done}`;
}

function options(values, selected, label = (v) => v) {
  return [`<option value="">${esc(t("any"))}</option>`]
    .concat(values.map((v) => `<option value="${esc(v)}"${v === selected ? " selected" : ""}>${esc(label(v))}</option>`))
    .join("");
}

export async function renderQueue(view, _id, params) {
  const offset = Number(params.offset || 0);
  view.innerHTML = `<h1>${t("queueTitle")}</h1><div id="queue-tabs"></div><div id="queue-filters"></div><div id="queue-body">${t("loading")}</div>`;
  const [teams, rules, specialists, tabState] = await Promise.all([
    api("/teams").catch(() => []),
    api("/rule-quality").catch(() => []),
    canAssign() ? api("/qa-specialists").catch(() => []) : [],
    isSpecialist() ? specialistTab(params) : { tab: null, mine: null },
  ]);
  const tab = tabState.tab;
  if (tab === "mine") params = { ...params, assignee: "me" };
  else if (tab === "all") params = { ...params, assignee: undefined };
  if (tab) {
    const tabLink = (name, label) => `<a href="#/queue?tab=${name}" data-tab="${name}"${tab === name ? ' class="active" aria-current="page"' : ""}>${label}</a>`;
    $("#queue-tabs", view).innerHTML = `<nav class="tabs">${tabLink("mine", `${esc(t("tabMine"))}<span class="count" id="mine-count"></span>`)}${tabLink("all", esc(t("tabAll")))}</nav>`;
  }
  const specialistLabel = (name) => {
    const s = specialists.find((x) => x.username === name);
    return s ? t("specialistLoad", { name, n: s.open_assignments }) : name;
  };
  const assigneeFilter = canAssign()
    ? `<label>${t("assignedTo")}<select name="assignee">${options(specialists.map((x) => x.username), params.assignee, specialistLabel)}</select></label>`
    : tab ? `<input type="hidden" name="tab" value="${esc(tab)}">` : "";
  const flags = params.assignee ? ["red", "yellow", "green"] : ["red", "yellow"];
  const agents = [...new Set(teams.flatMap((tm) => tm.agents))].sort();
  $("#queue-filters", view).innerHTML = `
    <form id="filters" class="filters">
      <label>${t("team")}<select name="team">${options(teams.map((tm) => tm.team_id), params.team)}</select></label>
      <label>${t("agent")}<select name="agent">${options(agents, params.agent)}</select></label>
      <label>${t("from")}<input type="date" name="start" value="${esc(params.start || "")}"></label>
      <label>${t("to")}<input type="date" name="end" value="${esc(params.end || "")}"></label>
      <label>${t("flag")}<select name="flag">${options(flags, params.flag, t)}</select></label>
      <label>${t("dimension")}<select name="dimension">${options(knownDimensions(), params.dimension, dimensionName)}</select></label>
      <label>${t("rule")}<select name="rule">${options(rules.map((r) => r.rule_id).sort(), params.rule, ruleName)}</select></label>
      <label class="check"><input type="checkbox" name="dissatisfied" value="true"${params.dissatisfied ? " checked" : ""}>${t("dissatisfiedOnly")}</label>
      ${assigneeFilter}
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
  $("#reset", view).addEventListener("click", () => { location.hash = tab ? `#/queue?tab=${tab}` : "#/queue"; });

  const query = Object.fromEntries(FILTERS.filter((k) => params[k]).map((k) => [k, params[k]]));
  let page;
  try {
    page = await api("/review-queue", { params: { ...query, limit: PAGE, offset } });
  } catch (err) {
    return message($("#queue-body", view), err.message);
  }
  const body = $("#queue-body", view);
  if (tab === "mine" && !params.include_reviewed) $("#mine-count", view).textContent = String(page.total);
  else if (tabState.mine !== null) $("#mine-count", view).textContent = String(tabState.mine);
  if (!page.items.length) {
    body.innerHTML = `<p class="empty" id="queue-empty">${t(tab === "mine" ? "noAssignments" : "noItems")}</p>`;
    // Nothing stored at all (a new install): say how to load calls and chats.
    const stored = Object.keys(query).length ? null : await api("/interactions", { params: { limit: 1 } }).catch(() => null);
    if (stored && stored.total === 0) {
      body.innerHTML = `<div class="empty" id="queue-empty"><p>${t("nothingStored")}</p>
        <pre><code>qa-engine batch /path/to/recordings-or-chats</code></pre>
        <p>${t("nothingStoredDemo")}</p><pre><code>qa-engine demo --load</code></pre></div>`;
    }
    return;
  }
  const rows = page.items.map((it) => `
    <tr tabindex="-1" data-id="${esc(it.interaction_id)}">
      <td>${flagBadge(it.flag)}</td>
      <td class="num">${fmtScore(it.score)}</td>
      <td><a href="#/i/${encodeURIComponent(it.interaction_id)}">${esc(it.interaction_id)}</a>${appealMarker(it)}</td>
      <td>${esc(t(it.channel))}</td>
      <td>${esc(it.agent_id || "")}</td>
      <td>${esc(it.team_id || "")}</td>
      <td>${esc(fmtTime(it.occurred_at))}</td>
      <td>${it.critical.map((c) => ruleTag(c)).join(" ")}</td>
      <td>${it.final_flag ? `${flagBadge(it.final_flag)} ${fmtScore(it.final_score)}${reviewedBy(it)}` : ""}</td>
      <td class="why">${whyHtml(it)}</td>
      <td class="num" data-col="satisfaction" title="${esc(t("dissatisfiedProb"))} ${fmtPct(it.dissatisfied)}">${fmtSat(it.satisfaction)}</td>
      <td data-col="assignee">${assigneeCell(it)}</td>
      ${canAssign() ? `<td class="pick-cell"><input type="checkbox" class="pick" value="${esc(it.interaction_id)}" aria-label="${esc(t("pick"))}"></td>` : ""}
    </tr>`).join("");
  const q = new URLSearchParams(tab ? { ...query, tab, assignee: "" } : query);
  if (tab) q.delete("assignee");
  const link = (o) => { q.set("offset", o); return `#/queue?${q}`; };
  const assignBar = canAssign() ? `
    <div class="assign-bar" id="assign-bar">
      <label>${t("assignSelectedTo")}<select id="assign-to">${specialists.map((x) => `<option value="${esc(x.username)}">${esc(specialistLabel(x.username))}</option>`).join("")}</select></label>
      <button type="button" id="assign-selected" class="primary" disabled>${t("assignSelected", { n: 0 })}</button>
      <span id="assign-msg"></span>
    </div>` : "";
  body.innerHTML = `
    <p class="hint">${t("total", { n: page.total })} · ${t("keyboardHint")}</p>
    ${assignBar}
    <div class="table-wrap"><table class="grid" id="queue-table">
      <thead><tr><th>${t("flag")}</th><th>${t("score")}</th><th>${t("interaction")}</th><th>${t("channel")}</th>
      <th>${t("agent")}</th><th>${t("team")}</th><th>${t("occurred")}</th><th>${t("critical")}</th><th>${t("reviewedScore")}</th><th>${t("why")}</th><th>${t("averageSatisfaction")}</th>
      <th>${t("assignedTo")}</th>${canAssign() ? `<th><input type="checkbox" id="pick-all" aria-label="${esc(t("pickAll"))}"></th>` : ""}</tr></thead>
      <tbody>${rows}</tbody>
    </table></div>
    <div class="pager">
      ${offset > 0 ? `<a href="${link(Math.max(0, offset - PAGE))}">${t("prev")}</a>` : ""}
      ${offset + PAGE < page.total ? `<a href="${link(offset + PAGE)}">${t("next")}</a>` : ""}
    </div>`;
  saveQueue(location.hash, page.items.map((it) => it.interaction_id));
  bindKeys(view);
  if (canAssign()) bindAssign(view, specialists);
}

function bindAssign(view, specialists) {
  const picks = $$("#queue-table input.pick", view);
  const button = $("#assign-selected", view);
  const chosen = () => picks.filter((p) => p.checked).map((p) => p.value);
  const update = () => {
    const n = chosen().length;
    button.textContent = t("assignSelected", { n });
    button.disabled = n === 0 || !specialists.length;
  };
  picks.forEach((p) => p.addEventListener("change", update));
  $("#pick-all", view).addEventListener("change", (ev) => {
    picks.forEach((p) => { p.checked = ev.target.checked; });
    update();
  });
  if (!specialists.length) message($("#assign-msg", view), t("noSpecialists"));
  button.addEventListener("click", async () => {
    const ids = chosen();
    const assignee = $("#assign-to", view).value;
    if (!ids.length || !assignee) return;
    button.disabled = true;
    try {
      const out = await api("/assignments", { method: "POST", body: { interaction_ids: ids, assignee } });
      toast(t("assignedToast", { n: out.assigned + out.reassigned, who: assignee }));
      for (const item of out.items) {
        const row = $(`#queue-table tr[data-id="${CSS.escape(item.interaction_id)}"]`, view);
        if (row) $('td[data-col="assignee"]', row).innerHTML = assigneeCell({ assigned_to: assignee, assignment_status: "open" });
      }
      picks.forEach((p) => { p.checked = false; });
      $("#pick-all", view).checked = false;
    } catch (err) {
      message($("#assign-msg", view), err.message);
    }
    update();
  });
}

// Why the row is flagged: its top rules (×hits), the dimensions that lost points, missing script steps.
function whyHtml(it) {
  const rules = it.top_rules.map((r) => `<span class="why-rule sev-${esc(r.severity)}">${ruleTag(r.rule_id, r.hits > 1 ? ` ×${r.hits}` : "")}</span>`);
  const dims = Object.entries(it.low_dimensions).slice(0, 2)
    .map(([d, v]) => `<span class="why-dim">${esc(dimensionName(d))} ${fmtScore(v)}</span>`);
  const steps = it.missing_steps.length ? `<span class="why-missing">${esc(t("missingList", {
    steps: it.missing_steps.map((m) => ruleName(m.rule_id)).join(t("listSep")) }))}</span>` : "";
  return `<span class="why-count">${esc(t("findingsN", { n: it.findings }))}</span> ${rules.join(" ")}
    <div class="muted small">${dims.join(" · ")}${steps ? ` · ${steps}` : ""}</div>`;
}

function reviewedBy(it) {
  return it.reviewed_by ? `<div class="muted small reviewed-by">${esc(t("reviewedBy", { who: it.reviewed_by, time: fmtTime(it.reviewed_at) }))}</div>` : "";
}

// An appeal on the row's scoring: open ones stand out; decided ones say how.
function appealMarker(it) {
  if (!it.appeal_status) return "";
  const label = it.appeal_status === "open" ? t("appealOpenMarker") : t("appealMarker", { status: t(it.appeal_status).toLowerCase() });
  return ` <span class="appeal-marker status status-${it.appeal_status}" data-appeal-status="${esc(it.appeal_status)}">${esc(label)}</span>`;
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
