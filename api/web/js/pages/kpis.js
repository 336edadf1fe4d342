// KPI cards, warnings and ranks shared by the agent page and the team dashboard. The figures are
// final scores where people reviewed (automatic otherwise); the automatic ones are shown beside them.
import { esc, fmtPct, fmtScore } from "../dom.js";
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
