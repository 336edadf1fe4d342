// KPI cards shared by the agent page and the team dashboard.
import { esc, fmtPct, fmtSat, fmtScore } from "../dom.js";
import { t } from "../i18n.js";

export function kpiCards(s) {
  const cards = [
    ["interactions", s.interactions], ["averageScore", fmtScore(s.average_score)], ["passRate", fmtPct(s.pass_rate)],
    ["politenessRate", fmtPct(s.politeness_rate)], ["forbiddenPer100", s.forbidden_per_100 ?? "–"],
    ["empathyRate", fmtPct(s.empathy_rate)], ["scriptRate", fmtPct(s.script_compliance_rate)],
    ["deescalationRate", fmtPct(s.deescalation_rate)],
    ["averageSatisfaction", fmtSat(s.average_satisfaction)], ["dissatisfiedShare", fmtPct(s.dissatisfied_share)],
  ];
  return `<div class="kpis">${cards.map(([k, v]) => `<div class="kpi" data-kpi="${k}"><div class="label">${esc(t(k))}</div><div class="value">${esc(v)}</div></div>`).join("")}</div>`;
}
