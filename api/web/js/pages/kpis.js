// KPI cards, warnings and ranks shared by the agent page and the team dashboard. The figures are
// final scores where people reviewed (automatic otherwise); the automatic ones are shown beside them.
import { download } from "../api.js";
import { $, esc, fmtPct, fmtSat, fmtScore, message } from "../dom.js";
import { t } from "../i18n.js";

export function kpiCards(s) {
  const auto = s.automatic || {};
  const cards = [
    ["interactions", s.interactions, s.reviewed ? t("reviewedCount2", { n: s.reviewed }) : ""],
    ["averageScore", fmtScore(s.average_score), `${t("automaticShort")} ${fmtScore(auto.average_score)}`],
    ["passRate", fmtPct(s.pass_rate), `${t("automaticShort")} ${fmtPct(auto.pass_rate)}`],
    ["politenessRate", fmtPct(s.politeness_rate)], ["forbiddenPer100", s.forbidden_per_100 ?? "–"],
    ["empathyRate", fmtPct(s.empathy_rate)], ["scriptRate", fmtPct(s.script_compliance_rate)],
    ["deescalationRate", fmtPct(s.deescalation_rate)],
    ["averageSatisfaction", fmtSat(s.average_satisfaction)], ["dissatisfiedShare", fmtPct(s.dissatisfied_share)],
  ];
  return `<div class="kpis">${cards.map(([k, v, sub]) => `<div class="kpi" data-kpi="${k}"><div class="label">${esc(t(k))}</div>
    <div class="value">${esc(v)}</div>${sub ? `<div class="sub muted small">${esc(sub)}</div>` : ""}</div>`).join("")}</div>`;
}

// Why an agent is red or yellow, in the page's language.
export function warningText(w) {
  if (!w || w.level === "green") return "";
  if (w.kind === "critical") return t("warnCritical", { days: w.days.join(", ") });
  if (w.kind === "consecutive_low") return t("warnLow", { n: w.days.length, below: w.below });
  return w.reason || "";
}

// The date range of a dashboard (kept in the page's URL) and its CSV / XLSX export of the same range.
export const rangeOf = (params) => ({ start: params.start || undefined, end: params.end || undefined });

export function rangeForm(params) {
  return `<form class="filters range-form" id="range">
    <label>${t("from")}<input type="date" name="start" value="${esc(params.start || "")}"></label>
    <label>${t("to")}<input type="date" name="end" value="${esc(params.end || "")}"></label>
    <button type="submit" class="primary">${t("apply")}</button>
    <button type="button" id="export-csv" data-format="csv">${t("exportCsv")}</button>
    <button type="button" id="export-xlsx" data-format="xlsx">${t("exportXlsx")}</button>
    <div id="range-msg"></div>
  </form>`;
}

export function bindRange(root, base, exportPath, params) {
  const form = $("#range", root);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
    location.hash = q.toString() ? `${base}?${q}` : base;
  });
  for (const button of form.querySelectorAll("button[data-format]")) {
    button.addEventListener("click", () => download(exportPath, { format: button.dataset.format, ...rangeOf(params) })
      .catch((err) => message($("#range-msg", root), err.message)));
  }
}
