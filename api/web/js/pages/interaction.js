// One interaction for review: transcript by role with every hit marked in place, the call's audio
// (click a turn to play from it; the playing turn is highlighted), confirm/dismiss per hit, manual
// dimension scores with a reason, automatic vs reviewed score, appeals and reviews. Rules show their
// names; missing script steps are findings; n / p (or the buttons) go from hit to hit; "submit and
// next" opens the next item of the last queue shown.
import { api, ApiError } from "../api.js";
import { $, $$, empty, esc, flagBadge, fmtClock, fmtPct, fmtSat, fmtScore, fmtTime, message, toast } from "../dom.js";
import { dimensionName, emotionName, getLang, severityName, t } from "../i18n.js";
import { modelEvidence, ruleName, ruleTag } from "../names.js";
import { canAppeal, canReview, lastQueue } from "../state.js";

const LOW_ASR = 0.6; // the engine's default QA_ASR_LOW_CONFIDENCE
const SEVERITY_RANK = { critical: 3, major: 2, minor: 1, info: 0 };
let keyHandler = null;

export async function renderInteraction(view, id) {
  // Each load keeps its own mark objects: a second page load that starts while this one awaits must
  // not clear or overwrite them (named marks did, and measure() then threw).
  const started = performance.mark("ia-start");
  view.innerHTML = `<p>${t("loading")}</p>`;
  let data;
  try {
    data = await api(`/interactions/${encodeURIComponent(id)}`);
  } catch (err) {
    const text = err instanceof ApiError && err.status === 404 ? t("notFound") : err.message;
    view.innerHTML = `<div id="ia-error"></div>`;
    return message($("#ia-error", view), text);
  }
  const fetched = performance.mark("ia-data");
  const state = { data, decisions: new Map(), reviewer: canReview() };
  for (const h of data.result.hits) if (h.decision) state.decisions.set(h.id, h.decision);
  view.innerHTML = layout(data, state);
  bind(view, state);
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  const usable = performance.mark("ia-usable");
  const ms = (a, b) => b.startTime - a.startTime;
  window.qaTimings = {
    fetch_ms: ms(started, fetched),
    render_ms: ms(fetched, usable),
    total_ms: ms(started, usable),
    turns: data.turns.length,
    hits: data.result.hits.length,
  };
  if (data.channel === "call") loadAudio(view, data.interaction_id);
}

// --- markup ---------------------------------------------------------------------------------------

function layout(d, state) {
  const agentLink = d.agent_id ? `<a href="#/agent/${encodeURIComponent(d.agent_id)}">${esc(d.agent_id)}</a>` : "–";
  return `
    <div class="ia-head">
      ${state.reviewer ? `<a href="${esc(lastQueue().hash)}" class="back" id="back">← ${t("back")}</a>` : ""}
      <h1 id="ia-title">${esc(d.interaction_id)}</h1>
      <span class="meta">${esc(t(d.channel))} · ${t("agent")} ${agentLink} · ${t("team")} ${esc(d.team_id || "–")}
        · ${esc(fmtTime(d.started_at || d.received_at))}</span>
    </div>
    <div class="ia-layout">
      <section class="transcript-col">
        ${d.channel === "call" ? `<div class="card audio-box"><audio id="player" controls preload="metadata"></audio><div id="audio-msg"></div></div>` : ""}
        <div id="transcript" class="transcript">${d.turns.map((turn) => turnHtml(turn, d.result.hits, state, d.result.satisfaction)).join("")}</div>
      </section>
      <aside class="side-col">
        <section class="card" id="score-summary">${scorePairHtml(d)}</section>
        ${d.result.satisfaction ? `<section class="card" id="satisfaction">${satisfactionHtml(d.result.satisfaction)}</section>` : ""}
        <section class="card" id="hits">${hitsHtml(d, state)}</section>
        <section class="card" id="scores">${dimsHtml(d)}</section>
        ${state.reviewer ? reviewFormHtml() : ""}
        <section class="card" id="appeals">${appealsHtml(d, state)}</section>
        <section class="card" id="reviews">${reviewsHtml(d)}</section>
      </aside>
    </div>`;
}

function worst(hits) {
  return hits.reduce((a, h) => (SEVERITY_RANK[h.severity] > SEVERITY_RANK[a] ? h.severity : a), "info");
}

function hitTitle(h) {
  return `${ruleName(h.rule_id)} · ${severityName(h.severity)} · ${explanation(h)}`;
}

// The engine explains in Chinese; in English the rule's English name, the quoted text and the time.
// A model's own wording (（模型 forbidden_ngram：禁语概率 0.89，…）) gives way to the line in words;
// the evidence a combined rule cites (rule.id@turn) reads as the rule's name and the turn.
function explanation(h) {
  if (getLang() === "zh") {
    const text = modelEvidence(h) ? h.explanation.replace(/（模型 [^（）]*）$/, "") : h.explanation;
    return text.replace(/\b([a-z0-9_]+(?:\.[a-z0-9_]+)+)@(\d+)/g, (_, id, turn) => `${ruleName(id)}（${t("turn")} ${Number(turn) + 1}）`)
      .replace(/情绪：([a-z]+)/, (_, label) => `情绪：${emotionName(label)}`);
  }
  const when = h.time ? ` (${fmtClock(h.time[0])}–${fmtClock(h.time[1])})` : "";
  return `${ruleName(h.rule_id)}${h.text ? ` “${h.text}”` : ""}${when}`;
}

function markedText(text, hits, state) {
  const spans = hits.filter((h) => h.start !== null && h.end !== null && h.end > h.start);
  if (!spans.length) return esc(text);
  const cuts = [...new Set([0, text.length, ...spans.flatMap((h) => [h.start, h.end])])]
    .filter((c) => c >= 0 && c <= text.length).sort((a, b) => a - b);
  let out = "";
  for (let i = 0; i < cuts.length - 1; i++) {
    const [a, b] = [cuts[i], cuts[i + 1]];
    const piece = esc(text.slice(a, b));
    const covering = spans.filter((h) => h.start <= a && h.end >= b);
    if (!covering.length) { out += piece; continue; }
    const allDismissed = covering.every((h) => state.decisions.get(h.id) === "dismiss");
    out += `<mark class="hit sev-${worst(covering)}${allDismissed ? " dismissed" : ""}" data-hits="${covering.map((h) => h.id).join(" ")}"
      title="${esc(covering.map(hitTitle).join("\n"))}">${piece}</mark>`;
  }
  return out;
}

function satisfactionHtml(sat) {
  const level = sat.dissatisfied >= 0.5 ? "red" : sat.predicted < 0 ? "yellow" : "green";
  const turns = sat.evidence.map((i) => `<a href="#turn-${i}" class="goto" data-turn="${i}">${t("turn")} ${i + 1}</a>`).join(" ");
  return `
    <h2>${t("satisfaction")}</h2>
    <div class="score-pair">
      <div class="score-box" id="sat-predicted"><div class="label">${t("averageSatisfaction")}</div>
        <div class="big sat-${level}">${fmtSat(sat.predicted)}</div><span class="muted small">${t("satisfactionScale")}</span></div>
      <div class="score-box" id="sat-dissatisfied"><div class="label">${t("dissatisfiedProb")}</div>
        <div class="big">${fmtPct(sat.dissatisfied)}</div></div>
    </div>
    ${turns ? `<p id="sat-evidence">${t("satisfactionEvidence")}: ${turns}</p>` : ""}
    <p class="muted small"><code>${esc(sat.source)}</code></p>`;
}

function turnHtml(turn, allHits, state, sat) {
  const hits = allHits.filter((h) => h.turn === turn.index);
  const driver = sat && sat.evidence.includes(turn.index);
  const chips = hits.filter((h) => h.start === null || h.end === null)
    .map((h) => `<button type="button" class="chip sev-${h.severity}" data-hit="${h.id}" title="${esc(hitTitle(h))}">${esc(ruleName(h.rule_id))}</button>`)
    .join("");
  const low = turn.asr_confidence !== null && turn.asr_confidence < LOW_ASR;
  return `
    <div class="turn role-${turn.role}${low ? " low-asr" : ""}${driver ? " sat-evidence" : ""}" id="turn-${turn.index}" data-index="${turn.index}"
         ${driver ? `title="${esc(t("satisfactionDriver"))}"` : ""}
         ${turn.start !== null ? `data-start="${turn.start}"` : ""}>
      <div class="turn-head">
        <span class="who">${t(turn.role === "agent" ? "agentRole" : "customerRole")}</span>
        ${turn.start !== null ? `<span class="clock">${fmtClock(turn.start)}</span>` : ""}
        ${low ? `<span class="asr-low" title="${esc(t("lowAsr"))}">⚠ ${t("lowAsr")} ${turn.asr_confidence.toFixed(2)}</span>` : ""}
      </div>
      <div class="bubble">${markedText(turn.text, hits, state)}</div>
      ${chips ? `<div class="chips">${chips}</div>` : ""}
    </div>`;
}

function scorePairHtml(d) {
  const final = d.final;
  return `
    <div class="score-pair">
      <div class="score-box" id="score-auto"><div class="label">${t("automatic")}</div>
        <div class="big">${fmtScore(d.result.score)}</div>${flagBadge(d.result.flag)}</div>
      <div class="score-box" id="score-final"><div class="label">${t("reviewed")}</div>
        ${final ? `<div class="big">${fmtScore(final.score)}</div>${flagBadge(final.flag)}
          <div class="muted small" id="reviewed-by">${esc(t("reviewedBy", { who: final.reviewer, time: fmtTime(final.reviewed_at) }))}</div>`
    : `<div class="big muted">–</div><span class="muted">${t("notReviewed")}</span>`}</div>
    </div>
    ${d.result.critical.length ? `<p class="critical">${t("critical")}: ${d.result.critical.map((c) => ruleTag(c)).join(" ")}</p>` : ""}`;
}

function dimsHtml(d) {
  const final = d.final;
  const rows = Object.entries(d.result.dimensions).map(([name, dim]) => `
    <tr data-dimension="${esc(name)}">
      <td>${esc(dimensionName(name))}</td>
      <td class="num">${fmtScore(dim.score)}</td>
      <td class="num">${final ? fmtScore(final.dimensions[name]) : "–"}</td>
      ${canReview() ? `<td><input class="ov-score" type="number" min="0" max="100" step="1" aria-label="${esc(t("override"))} ${esc(name)}"></td>
      <td><input class="ov-reason" type="text" placeholder="${esc(t("reason"))}" aria-label="${esc(t("reason"))} ${esc(name)}"></td>` : ""}
    </tr>`).join("");
  return `
    <div class="table-wrap"><table class="grid dims"><thead><tr><th>${t("dimension")}</th><th>${t("automatic")}</th><th>${t("reviewed")}</th>
      ${canReview() ? `<th>${t("override")}</th><th>${t("reason")}</th>` : ""}</tr></thead><tbody>${rows}</tbody></table></div>`;
}

function hitCard(h, d, state) {
  const turn = h.turn !== null ? d.turns[h.turn] : null;
  const decision = state.decisions.get(h.id);
  const buttons = state.reviewer ? `
    <div class="decide">
      <button type="button" data-decision="confirm" aria-pressed="${decision === "confirm"}">${t("confirm")}</button>
      <button type="button" data-decision="dismiss" aria-pressed="${decision === "dismiss"}">${t("dismiss")}</button>
    </div>` : decision ? `<span class="decision">${t(decision === "confirm" ? "confirmed" : "dismissed")}</span>` : "";
  const model = modelEvidence(h);
  const goto = turn ? `<a href="#turn-${turn.index}" class="goto" data-turn="${turn.index}">${t("turn")} ${turn.index + 1}${turn.start !== null ? ` · ${fmtClock(turn.start)}` : ""}</a>` : "";
  return `
    <div class="hit-card sev-${h.severity}${decision ? ` decided-${decision}` : ""}" id="hit-${h.id}" data-hit="${h.id}" data-rule="${esc(h.rule_id)}">
      <div class="hit-top"><span class="sev sev-${h.severity}">${severityName(h.severity)}</span>
        ${ruleTag(h.rule_id)} <span class="muted">${esc(dimensionName(h.dimension))}</span></div>
      <p class="expl">${esc(explanation(h))}</p>
      ${h.text && getLang() === "zh" ? `<blockquote>${esc(h.text)}</blockquote>` : ""}
      ${model ? `<p class="model-evidence">${esc(model)} · ${goto}</p>` : ""}
      ${h.asr_confidence !== null && h.asr_confidence < LOW_ASR ? `<p class="asr-low">⚠ ${t("lowAsr")} ${h.asr_confidence.toFixed(2)}</p>` : ""}
      ${turn && !model ? goto : ""}
      ${buttons}
    </div>`;
}

// A required script step the run did not find: a finding of its own (it cost points), not a hit to
// confirm or dismiss; a reviewer who disagrees sets the script score.
function missingCard(m) {
  return `
    <div class="hit-card sev-major missing-step" data-step="${esc(m.step)}" data-rule="${esc(m.rule_id)}">
      <div class="hit-top"><span class="sev sev-major">${severityName("major")}</span>
        <span class="rule-name">${esc(t("missingStep", { step: ruleName(m.rule_id) }))}</span>
        <span class="muted">${esc(dimensionName("script_compliance"))}</span></div>
      <p class="expl muted">${esc(t("missingStepHint"))}</p>
    </div>`;
}

function hitsHtml(d, state) {
  const hits = [...d.result.hits].sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] || (a.turn ?? -1) - (b.turn ?? -1));
  const findings = hits.filter((h) => h.severity !== "info");
  const notes = hits.filter((h) => h.severity === "info"); // emotion labels and the like: folded away
  const nav = findings.length ? `<span class="hit-nav"><button type="button" id="prev-hit" title="p">↑ ${t("prevHit")}</button>
    <span id="hit-pos" class="muted">0/${findings.length}</span>
    <button type="button" id="next-hit" title="n">${t("nextHit")} ↓</button></span>` : "";
  return `<div class="hits-head"><h2>${t("hits")} (${findings.length})</h2>${nav}</div>
    ${findings.length ? `<p class="hint">${t("hitNavHint")}</p>` : ""}
    <div class="hit-list">${findings.length ? findings.map((h) => hitCard(h, d, state)).join("") : empty(t("noFindings"), "no-findings")}</div>
    ${d.missing_steps.length ? `<h3 class="missing-head">${t("missingSteps")} (${d.missing_steps.length})</h3>
      <div class="hit-list" id="missing-steps">${d.missing_steps.map(missingCard).join("")}</div>` : ""}
    ${notes.length ? `<details class="info-hits"><summary>${severityName("info")} (${notes.length})</summary>
      <div class="hit-list">${notes.map((h) => hitCard(h, d, state)).join("")}</div></details>` : ""}`;
}

function reviewFormHtml() {
  return `
    <section class="card" id="review-form">
      <label>${t("comment")}<textarea name="comment" rows="2"></textarea></label>
      <button type="button" class="primary" id="submit-review">${t("submitReview")}</button>
      <button type="button" id="submit-next">${t("submitNext")}</button>
      <div id="review-msg"></div>
    </section>`;
}

// A hit as a line to pick in the appeal form or the appeal decision (checkbox named by its id).
function hitPick(h, name, checked, extra = "") {
  return `<label class="hit-pick" data-hit="${h.id}"><input type="checkbox" name="${name}" value="${h.id}"${checked ? " checked" : ""}>
    <span class="sev sev-${h.severity}">${severityName(h.severity)}</span> ${ruleTag(h.rule_id)}
    ${h.text ? `<span class="muted">${esc(h.text)}</span>` : ""}${extra}</label>`;
}

function findings(d) {
  return d.result.hits.filter((h) => h.severity !== "info");
}

function appealsHtml(d, state) {
  const hitById = new Map(d.result.hits.map((h) => [h.id, h]));
  const items = d.appeals.map((a) => {
    const current = a.result_id === d.result.id;
    const contested = a.hit_ids.map((hid) => hitById.get(hid)).filter(Boolean);
    const outcome = a.status === "accepted" && current && d.final
      ? `<p class="outcome">${t("finalAfterAppeal")} ${fmtScore(d.result.score)} → <b>${fmtScore(d.final.score)}</b> ${flagBadge(d.final.flag)}</p>` : "";
    return `
    <li class="appeal" data-appeal="${a.id}" data-status="${a.status}">
      <div><span class="status status-${a.status}">${t(a.status)}</span> ${t("filedBy")} ${esc(a.filed_by)} · ${esc(fmtTime(a.created_at))}</div>
      <p>${esc(a.reason)}</p>
      ${a.hit_ids.length ? `<p class="muted contested">${t("contestedHits")}: ${a.hit_ids.map((hid) => (hitById.has(hid) ? ruleTag(hitById.get(hid).rule_id) : `<code>${hid}</code>`)).join(" ")}</p>` : ""}
      ${a.decided_by ? `<div class="reply">${t("decidedBy")} ${esc(a.decided_by)} · ${esc(fmtTime(a.decided_at))}<p>${esc(a.decision_reason || "")}</p>${outcome}</div>` : ""}
      ${a.status === "open" && state.reviewer ? `
        <div class="appeal-decide-form">
          ${current ? `<p class="hint">${t("decideHint")}</p>
          <div class="hit-picks">${[...contested, ...findings(d).filter((h) => !a.hit_ids.includes(h.id))]
            .map((h) => hitPick(h, "dismiss", a.hit_ids.includes(h.id), a.hit_ids.includes(h.id) ? ` <span class="tag">${t("contested")}</span>` : "")).join("")}</div>` : ""}
          <div class="appeal-decide"><input type="text" class="decision-reason" placeholder="${esc(t("decisionReason"))}">
            <button type="button" data-appeal-decision="accepted">${t("accept")}</button>
            <button type="button" data-appeal-decision="rejected">${t("reject")}</button></div>
        </div>` : ""}
    </li>`;
  }).join("");
  const appealedNow = d.appeals.some((a) => a.result_id === d.result.id);
  const closed = new Date(d.appeal_deadline) < new Date();
  let form = "";
  if (canAppeal() && !appealedNow && closed) {
    form = `<p class="muted" id="appeal-closed">${t("appealClosed", { date: fmtTime(d.appeal_deadline) })}</p>`;
  } else if (canAppeal() && !appealedNow) {
    form = `
    <form id="appeal-form" class="appeal-form-box">
      <p class="hint">${t("appealPick")} · ${t("appealUntil", { date: fmtTime(d.appeal_deadline) })}</p>
      <div class="hit-picks">${findings(d).map((h) => hitPick(h, "hit", false)).join("")}</div>
      <div class="appeal-form">
        <input type="text" name="reason" placeholder="${esc(t("appealReason"))}" required>
        <button type="submit">${t("fileAppeal")}</button>
      </div>
    </form>`;
  }
  return `<h2>${t("appeals")}</h2>${items ? `<ul class="thread">${items}</ul>` : `<p class="muted">${t("noAppeals")}</p>`}${form}<div id="appeal-msg"></div>`;
}

function reviewsHtml(d) {
  if (!d.reviews.length) return `<h2>${t("reviewsHistory")}</h2><p class="muted">${t("notReviewed")}</p>`;
  return `<h2>${t("reviewsHistory")}</h2><ul class="thread">${d.reviews.map((r) => `
    <li>${t("reviewer")} ${esc(r.reviewer)} · ${esc(fmtTime(r.created_at))} → ${fmtScore(r.final_score)} ${flagBadge(r.final_flag)}
      <span class="muted">${r.hits.filter((h) => h.decision === "confirm").length} ${t("confirmed")},
      ${r.hits.filter((h) => h.decision === "dismiss").length} ${t("dismissed")}</span>
      ${r.comment ? `<p>${esc(r.comment)}</p>` : ""}
      ${r.overrides.map((o) => `<p class="muted">${esc(dimensionName(o.dimension))} → ${fmtScore(o.score)}: ${esc(o.reason)}</p>`).join("")}</li>`).join("")}</ul>`;
}

// --- behaviour ------------------------------------------------------------------------------------

function bind(view, state) {
  const transcript = $("#transcript", view);
  const player = $("#player", view);
  const changed = new Map();

  transcript.addEventListener("click", (ev) => {
    const mark = ev.target.closest("mark.hit, .chip");
    if (mark) {
      const id = (mark.dataset.hits || mark.dataset.hit).split(" ")[0];
      focusHit(view, id);
      return;
    }
    const turn = ev.target.closest(".turn");
    if (turn && player && turn.dataset.start !== undefined && player.src) {
      player.currentTime = Number(turn.dataset.start);
      player.play().catch(() => {});
    }
  });

  if (player) {
    const turns = $$(".turn", transcript).filter((el) => el.dataset.start !== undefined);
    const starts = turns.map((el) => Number(el.dataset.start));
    let playing = null;
    const follow = () => {
      const time = player.currentTime;
      let lo = 0, hi = starts.length - 1, found = -1;
      while (lo <= hi) { const mid = (lo + hi) >> 1; if (starts[mid] <= time) { found = mid; lo = mid + 1; } else hi = mid - 1; }
      const el = found >= 0 ? turns[found] : null;
      if (el === playing) return;
      playing?.classList.remove("playing");
      el?.classList.add("playing");
      playing = el;
      el?.scrollIntoView({ block: "nearest" });
    };
    player.addEventListener("timeupdate", follow);
    player.addEventListener("seeked", follow);
  }

  $("#satisfaction", view)?.addEventListener("click", (ev) => {
    const goto = ev.target.closest(".goto");
    if (!goto) return;
    ev.preventDefault();
    const el = $(`#turn-${goto.dataset.turn}`, view);
    el.scrollIntoView({ block: "center" });
    el.classList.add("flash");
    setTimeout(() => el.classList.remove("flash"), 1200);
  });
  $("#hits", view).addEventListener("click", (ev) => {
    const goto = ev.target.closest(".goto");
    if (goto) {
      ev.preventDefault();
      const el = $(`#turn-${goto.dataset.turn}`, view);
      el.scrollIntoView({ block: "center" });
      el.classList.add("flash");
      setTimeout(() => el.classList.remove("flash"), 1200);
      return;
    }
    const button = ev.target.closest("button[data-decision]");
    if (!button) return;
    const card = button.closest(".hit-card");
    const id = Number(card.dataset.hit);
    const decision = button.dataset.decision;
    const undo = state.decisions.get(id) === decision && changed.has(id);
    if (undo) { changed.delete(id); state.decisions.delete(id); } else { changed.set(id, decision); state.decisions.set(id, decision); }
    const now = state.decisions.get(id);
    $$("button[data-decision]", card).forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.decision === now)));
    card.classList.remove("decided-confirm", "decided-dismiss");
    if (now) card.classList.add(`decided-${now}`);
    $$(`mark.hit`, transcript).filter((m) => m.dataset.hits.split(" ").includes(String(id))).forEach((m) => {
      m.classList.toggle("dismissed", m.dataset.hits.split(" ").every((h) => state.decisions.get(Number(h)) === "dismiss"));
    });
  });

  $("#submit-review", view)?.addEventListener("click", () => submitReview(view, state, changed));
  $("#submit-next", view)?.addEventListener("click", () => submitReview(view, state, changed, true));
  bindHitNav(view, state);
  bindAppeals(view, state);
}

function focusHit(view, id) {
  const card = $(`#hit-${id}`, view);
  if (!card) return;
  const folded = card.closest("details");
  if (folded) folded.open = true;
  card.scrollIntoView({ block: "center" });
  card.classList.add("flash");
  setTimeout(() => card.classList.remove("flash"), 1200);
}

// Hit to hit in transcript order: the buttons, or n / p (also ] / [) anywhere but in a text field.
function bindHitNav(view, state) {
  const order = state.data.result.hits.filter((h) => h.severity !== "info")
    .sort((a, b) => (a.turn ?? 1e9) - (b.turn ?? 1e9) || (a.start ?? 0) - (b.start ?? 0));
  if (!order.length) return;
  let current = -1;
  const go = (step) => {
    current = (current + step + order.length) % order.length;
    const h = order[current];
    $$(".hit-card.current", view).forEach((c) => c.classList.remove("current"));
    $(`#hit-${h.id}`, view)?.classList.add("current");
    $("#hit-pos", view).textContent = `${current + 1}/${order.length}`;
    focusHit(view, h.id);
    if (h.turn !== null) $(`#turn-${h.turn}`, view)?.scrollIntoView({ block: "center" });
  };
  $("#next-hit", view).addEventListener("click", () => go(1));
  $("#prev-hit", view).addEventListener("click", () => go(-1));
  if (keyHandler) document.removeEventListener("keydown", keyHandler);
  const anchor = $("#hits", view);
  keyHandler = (ev) => {
    if (!document.body.contains(anchor)) { document.removeEventListener("keydown", keyHandler); keyHandler = null; return; }
    if (["INPUT", "SELECT", "TEXTAREA"].includes(ev.target.tagName) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "n" || ev.key === "]") { ev.preventDefault(); go(1); }
    else if (ev.key === "p" || ev.key === "[") { ev.preventDefault(); go(-1); }
  };
  document.addEventListener("keydown", keyHandler);
}

// After "submit and next": the item after this one in the last queue shown (reviewed ones leave the
// queue, so the list as it was is the order to follow), else the queue itself.
function nextInQueue(id) {
  const { hash, ids } = lastQueue();
  const at = ids.indexOf(id);
  const next = at >= 0 ? ids[at + 1] : ids.find((other) => other !== id);
  return next ? `#/i/${encodeURIComponent(next)}` : hash;
}

async function submitReview(view, state, changed, andNext = false) {
  const msg = $("#review-msg", view);
  const overrides = [];
  for (const row of $$("#scores tr[data-dimension]", view)) {
    const score = $(".ov-score", row).value;
    const reason = $(".ov-reason", row).value.trim();
    if (score === "") continue;
    if (!reason) return message(msg, t("reasonRequired"));
    overrides.push({ dimension: row.dataset.dimension, score: Number(score), reason });
  }
  const hits = [...changed].map(([hit_id, decision]) => ({ hit_id, decision }));
  if (!hits.length && !overrides.length) return message(msg, t("needDecision"));
  const comment = $("#review-form textarea", view).value.trim() || null;
  try {
    await api(`/interactions/${encodeURIComponent(state.data.interaction_id)}/reviews`, {
      method: "POST", body: { hits, overrides, comment },
    });
  } catch (err) {
    return message(msg, err.message);
  }
  toast(t("reviewSaved"));
  if (andNext) { location.hash = nextInQueue(state.data.interaction_id); return; }
  await renderInteraction(view, state.data.interaction_id);
  message($("#review-msg", view) || document.body, t("reviewSaved"), "ok");
}

function bindAppeals(view, state) {
  const id = state.data.interaction_id;
  const msg = $("#appeal-msg", view);
  $("#appeal-form", view)?.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const hit_ids = $$("input[name=hit]:checked", ev.target).map((box) => Number(box.value));
    try {
      await api(`/interactions/${encodeURIComponent(id)}/appeals`, { method: "POST", body: { reason: ev.target.reason.value, hit_ids } });
    } catch (err) { return message(msg, err.message); }
    await renderInteraction(view, id);
  });
  $$("[data-appeal-decision]", view).forEach((button) => button.addEventListener("click", async () => {
    const li = button.closest(".appeal");
    const reason = $(".decision-reason", li).value.trim();
    if (!reason) return message(msg, t("decisionReasonRequired"));
    const decision = button.dataset.appealDecision;
    const appeal = state.data.appeals.find((a) => a.id === Number(li.dataset.appeal));
    // Accepting: the checked hits are dismissed; a contested hit left unchecked is kept (confirmed).
    const hits = decision === "rejected" ? [] : $$("input[name=dismiss]", li)
      .map((box) => ({ hit_id: Number(box.value), checked: box.checked }))
      .filter((h) => h.checked || appeal.hit_ids.includes(h.hit_id))
      .map((h) => ({ hit_id: h.hit_id, decision: h.checked ? "dismiss" : "confirm" }));
    try {
      await api(`/appeals/${li.dataset.appeal}/decision`, { method: "POST", body: { decision, reason, hits } });
    } catch (err) { return message(msg, err.message); }
    toast(t(decision === "accepted" ? "appealAccepted" : "appealRejected"));
    await renderInteraction(view, id);
  }));
}

async function loadAudio(view, id) {
  const player = $("#player", view);
  try {
    const link = await api(`/interactions/${encodeURIComponent(id)}/audio-link`);
    player.src = link.url;
  } catch (err) {
    player.hidden = true;
    message($("#audio-msg", view), err.status === 404 ? t("noAudio") : err.message, "info");
  }
}

