"""KPI summaries over current results, as SQL aggregates (the same on SQLite and PostgreSQL).

Every figure counts the final score where people reviewed the run (`results.final_*`, written with
each review and each decided appeal) and the automatic one otherwise: score, flag, critical
(一票否决), dimension scores, script compliance and forbidden-phrase hits. Turn and call
measurements (politeness, empathy, emotion, silence, interruptions) are the engine's. `automatic`
and `reviewed` in a summary keep the automatic figures beside them (the auto-vs-final view).

Definitions (all over the current result of each interaction in the date range):
- pass rate: share not flagged red;
- 礼貌用语使用率: agent turns with a politeness phrase / agent turns; empathy rate likewise;
- 禁语 rate: forbidden-phrase hits per 100 interactions;
- script compliance rate: share whose script_compliance dimension lost no points;
- 情绪安抚有效率: share de-escalated among interactions whose customer started negative;
- silence / interruptions: averages over the interactions with turn times (calls);
- warning: red on a critical (一票否决) violation in the range, else red when `days` consecutive
  working days (days with interactions) averaged below `red_below`, yellow likewise below
  `yellow_below`, else green (`WarningRule`);
- rank: by average score among the team's agents with at least `min_interactions` in the range
  (`agent_ranks`); fewer are not ranked;
- predicted customer satisfaction: the average predicted satisfaction (-2..2) and the share predicted
  dissatisfied (probability >= 0.5), over the runs that carry a prediction (`satisfaction_n` of them;
  runs stored before the model, or scored with it off, count in neither).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, select, true
from sqlalchemy.orm import Session

from qa_engine.store.models import DimensionRow, InteractionRow, ResultRow
from qa_engine.store.repository import DISSATISFIED_PROBABILITY

# The figures KPIs count: after review where there is one, else automatic.
SCORE = func.coalesce(ResultRow.final_score, ResultRow.score)
FLAG = func.coalesce(ResultRow.final_flag, ResultRow.flag)
CRITICAL = func.coalesce(ResultRow.final_critical, ResultRow.has_critical)
SCRIPT_OK = func.coalesce(ResultRow.final_script_ok, ResultRow.script_ok)
FORBIDDEN_HITS = func.coalesce(ResultRow.final_forbidden_hits, ResultRow.forbidden_hits)
DIMENSION_SCORE = func.coalesce(DimensionRow.final_score, DimensionRow.score)


def _count_if(cond) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def _ratio(num: float, den: float | None, digits: int = 4) -> float | None:
    return round(float(num) / float(den), digits) if den else None


def _num(value, digits: int = 2) -> float | None:
    return round(float(value), digits) if value is not None else None


def _where(agent_id: str | None, team_id: str | None, start: date | None, end: date | None) -> list:
    conds: list[ColumnElement[bool]] = [ResultRow.is_current.is_(True)]
    if agent_id is not None:
        conds.append(InteractionRow.agent_id == agent_id)
    if team_id is not None:
        conds.append(InteractionRow.team_id == team_id)
    if start is not None:
        conds.append(InteractionRow.occurred_date >= start)
    if end is not None:
        conds.append(InteractionRow.occurred_date <= end)
    return conds


def _base(*columns):
    return select(*columns).select_from(InteractionRow).join(ResultRow, ResultRow.interaction_id == InteractionRow.id)


def _current(
    agent_id: str | None,
    team_id: str | None,
    start: date | None,
    end: date | None,
    team_ids: Collection[str] | None = None,
) -> list:
    """The same selection on current runs alone, by the agent, team and date copied onto each run
    (served by the partial indexes on results; no join with interactions). The team is the one the
    interaction was handled in, whatever team its agent is in now; `team_ids`: any of these."""
    conds = [ResultRow.is_current == True]  # noqa: E712 - "= 1" on SQLite matches its partial indexes
    if agent_id is not None:
        conds.append(ResultRow.agent_id == agent_id)
    if team_id is not None:
        conds.append(ResultRow.team_id == team_id)
    if team_ids is not None:
        conds.append(ResultRow.team_id.in_(sorted(team_ids)) if team_ids else false())
    if start is not None:
        conds.append(ResultRow.occurred_date >= start)
    if end is not None:
        conds.append(ResultRow.occurred_date <= end)
    return conds


def _runs(*columns):
    return select(*columns).select_from(ResultRow)


def _satisfaction_columns():
    """Average predicted satisfaction, runs predicted dissatisfied, runs with a prediction."""
    return (
        func.avg(ResultRow.satisfaction_predicted).label("avg_satisfaction"),
        _count_if(ResultRow.satisfaction_dissatisfied >= DISSATISFIED_PROBABILITY).label("dissatisfied"),
        func.count(ResultRow.satisfaction_predicted).label("satisfaction_n"),
    )


def _satisfaction_kpis(row) -> dict[str, Any]:
    n = int(row.satisfaction_n)
    return {
        "average_satisfaction": _num(row.avg_satisfaction, 3),
        "dissatisfied_share": _ratio(row.dissatisfied, n),
        "satisfaction_n": n,
    }


def _flag_counts():
    return (
        func.count(ResultRow.id).label("n"),
        func.avg(SCORE).label("avg_score"),
        _count_if(FLAG == "red").label("red"),
        _count_if(FLAG == "yellow").label("yellow"),
        _count_if(FLAG == "green").label("green"),
        _count_if(CRITICAL.is_(True)).label("critical"),
        _count_if(ResultRow.final_score.is_not(None)).label("reviewed"),
        func.avg(ResultRow.score).label("auto_avg_score"),
        _count_if(ResultRow.flag == "red").label("auto_red"),
        _count_if(ResultRow.flag == "yellow").label("auto_yellow"),
        _count_if(ResultRow.flag == "green").label("auto_green"),
    )


def _automatic(row) -> dict[str, Any]:
    n = int(row.n)
    return {
        "average_score": _num(row.auto_avg_score, 1),
        "pass_rate": _ratio(n - int(row.auto_red), n),
        "flags": {"red": int(row.auto_red), "yellow": int(row.auto_yellow), "green": int(row.auto_green)},
    }


def summary(
    session: Session,
    *,
    agent_id: str | None = None,
    team_id: str | None = None,
    team_ids: Collection[str] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> dict[str, Any]:
    """KPIs of the current runs of an agent and / or a team; `team_ids`: only those handled in these
    teams (a supervisor's view of an agent)."""
    where = _current(agent_id, team_id, start, end, team_ids)
    negative_start = ResultRow.customer_start == "negative"
    row = session.execute(
        _runs(
            *_flag_counts(),
            func.coalesce(func.sum(ResultRow.agent_turns), 0).label("agent_turns"),
            func.coalesce(func.sum(ResultRow.polite_turns), 0).label("polite_turns"),
            func.coalesce(func.sum(ResultRow.empathy_turns), 0).label("empathy_turns"),
            func.coalesce(func.sum(FORBIDDEN_HITS), 0).label("forbidden_hits"),
            _count_if(SCRIPT_OK.is_(True)).label("script_ok"),
            _count_if(negative_start).label("negative_start"),
            _count_if(and_(negative_start, ResultRow.deescalated.is_(True))).label("deescalated"),
            func.avg(ResultRow.silence_total_s).label("avg_silence"),
            func.avg(ResultRow.interruptions).label("avg_interruptions"),
            *_satisfaction_columns(),
        ).where(*where)
    ).one()
    n = int(row.n)
    dims = session.execute(
        _runs(DimensionRow.dimension, func.avg(DIMENSION_SCORE))
        .join(DimensionRow, DimensionRow.result_id == ResultRow.id)
        .where(*where)
        .group_by(DimensionRow.dimension)
        .order_by(DimensionRow.dimension)
    ).all()
    daily = session.execute(
        _runs(ResultRow.occurred_date, *_flag_counts())
        .where(*where)
        .group_by(ResultRow.occurred_date)
        .order_by(ResultRow.occurred_date)
    ).all()
    return {
        "interactions": n,
        "average_score": _num(row.avg_score, 1),
        "pass_rate": _ratio(n - int(row.red), n),
        "flags": {"red": int(row.red), "yellow": int(row.yellow), "green": int(row.green)},
        "critical": int(row.critical),
        "reviewed": int(row.reviewed),
        "automatic": _automatic(row),
        "dimensions": {d: _num(avg, 1) for d, avg in dims},
        "politeness_rate": _ratio(row.polite_turns, row.agent_turns),
        "forbidden_per_100": _ratio(100 * int(row.forbidden_hits), n, 2),
        "empathy_rate": _ratio(row.empathy_turns, row.agent_turns),
        "script_compliance_rate": _ratio(row.script_ok, n),
        "deescalation_rate": _ratio(row.deescalated, row.negative_start),
        "customer_negative_start": int(row.negative_start),
        "average_silence_s": _num(row.avg_silence),
        "average_interruptions": _num(row.avg_interruptions),
        **_satisfaction_kpis(row),
        "daily": [
            {
                "date": d.occurred_date.isoformat() if hasattr(d.occurred_date, "isoformat") else str(d.occurred_date),
                "interactions": int(d.n),
                "average_score": _num(d.avg_score, 1),
                "red": int(d.red),
                "yellow": int(d.yellow),
                "green": int(d.green),
                "critical": int(d.critical),
                "reviewed": int(d.reviewed),
                "automatic_average_score": _num(d.auto_avg_score, 1),
            }
            for d in daily
        ],
    }


def agent_breakdown(
    session: Session, *, team_id: str, start: date | None = None, end: date | None = None
) -> list[dict[str, Any]]:
    """Per agent of a team: interactions, average score and flag counts."""
    rows = session.execute(
        _runs(ResultRow.agent_id, *_flag_counts(), *_satisfaction_columns())
        .where(*_current(None, team_id, start, end))
        .group_by(ResultRow.agent_id)
        .order_by(ResultRow.agent_id)
    ).all()
    return [
        {
            "agent_id": r.agent_id,
            "interactions": int(r.n),
            "average_score": _num(r.avg_score, 1),
            "pass_rate": _ratio(int(r.n) - int(r.red), int(r.n)),
            "flags": {"red": int(r.red), "yellow": int(r.yellow), "green": int(r.green)},
            "critical": int(r.critical),
            "reviewed": int(r.reviewed),
            "automatic": _automatic(r),
            **_satisfaction_kpis(r),
        }
        for r in rows
    ]


def score_distribution(
    session: Session,
    *,
    agent_id: str | None = None,
    team_id: str | None = None,
    start: date | None = None,
    end: date | None = None,
    width: int = 10,
) -> list[dict[str, Any]]:
    """Interactions per score band [lo, lo + width) (the last band includes 100): `count` by final
    scores (automatic where not reviewed), `automatic` by automatic ones."""
    edges = list(range(0, 100, width))

    def bands(score) -> list:
        return [_count_if(and_(score >= lo, score < lo + width if lo + width < 100 else true())) for lo in edges]

    counts = session.execute(_base(*bands(SCORE), *bands(ResultRow.score)).where(*_where(agent_id, team_id, start, end))).one()
    final, auto = counts[: len(edges)], counts[len(edges) :]
    return [
        {"from": lo, "to": min(lo + width, 100), "count": int(n), "automatic": int(a)}
        for lo, n, a in zip(edges, final, auto, strict=True)
    ]


def agent_ranks(rows: list[dict[str, Any]], min_interactions: int = 1) -> dict[str, int]:
    """Rank by average score within a breakdown (1 = best; ties share a rank). Agents with fewer
    than `min_interactions` are not ranked (two lucky interactions do not make the best agent)."""
    scored = sorted(
        (r for r in rows if r["average_score"] is not None and r["interactions"] >= min_interactions),
        key=lambda r: -r["average_score"],
    )
    ranks: dict[str, int] = {}
    for i, r in enumerate(scored):
        same = i and scored[i - 1]["average_score"] == r["average_score"]
        ranks[r["agent_id"]] = ranks[scored[i - 1]["agent_id"]] if same else i + 1
    return ranks


# --- warnings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WarningRule:
    days: int = 3
    red_below: float = 60
    yellow_below: float = 80


@dataclass(frozen=True)
class Day:
    """One working day of an agent: average (final) score and interactions with a critical violation."""

    date: date
    average: float | None
    critical: int = 0


def _latest_run(daily: list[Day], below: float, days: int) -> list[date]:
    """The most recent run of at least `days` consecutive working days averaging below `below`."""
    found: list[date] = []
    run: list[date] = []
    for day in daily:
        if day.average is not None and day.average < below:
            run.append(day.date)
            if len(run) >= days:
                found = list(run)
        else:
            run = []
    return found


def warning(daily: list[Day], rule: WarningRule) -> dict[str, Any]:
    """Red / yellow / green for one agent from their working days (oldest first): red on any
    critical (一票否决) violation, else by consecutive low days. `kind` says which rule fired and
    `below` its threshold (the page words it in its language)."""
    critical = [d.date for d in daily if d.critical]
    if critical:
        n = sum(d.critical for d in daily)
        return {
            "level": "red",
            "kind": "critical",
            "below": None,
            "reason": f"{n} critical (一票否决) violation{'s' if n > 1 else ''}",
            "days": critical,
        }
    for level, below in (("red", rule.red_below), ("yellow", rule.yellow_below)):
        run = _latest_run(daily, below, rule.days)
        if run:
            return {
                "level": level,
                "kind": "consecutive_low",
                "below": below,
                "reason": f"{len(run)} consecutive working days with a daily average below {below:g}",
                "days": run,
            }
    return {"level": "green", "kind": None, "below": None, "reason": None, "days": []}


def days_of(summary_daily: list[dict[str, Any]]) -> list[Day]:
    """The working days of a `summary`'s `daily` list."""
    return [Day(_as_date(d["date"]), d["average_score"], d["critical"]) for d in summary_daily]


def agent_daily_averages(
    session: Session, *, team_id: str, start: date | None = None, end: date | None = None
) -> dict[str, list[Day]]:
    """Each agent of a team: their working days, oldest first."""
    rows = session.execute(
        _runs(ResultRow.agent_id, ResultRow.occurred_date, func.avg(SCORE), _count_if(CRITICAL.is_(True)))
        .where(*_current(None, team_id, start, end), ResultRow.agent_id.is_not(None))
        .group_by(ResultRow.agent_id, ResultRow.occurred_date)
        .order_by(ResultRow.agent_id, ResultRow.occurred_date)
    ).all()
    out: dict[str, list[Day]] = defaultdict(list)
    for agent_id, day, avg, critical in rows:
        out[agent_id].append(Day(_as_date(day), round(float(avg), 1), int(critical)))  # as the daily trend shows it
    return dict(out)


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
