"""Rescore stored interactions with chosen rule pack / scorecard versions, and report the difference.

Each rescored interaction gets a new result run, marked current; earlier runs (the automatic one
included) are kept. The stored turns are the redacted text, so no audio is transcribed again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, selectinload

from qa_engine.schema import Interaction
from qa_engine.store.models import InteractionRow, ResultRow
from qa_engine.store.repository import add_current_run, audit

BATCH = 500


@dataclass
class DiffItem:
    interaction_id: str
    old_result_id: int
    new_result_id: int | None
    old_score: float
    new_score: float
    old_flag: str
    new_flag: str

    @property
    def delta(self) -> float:
        return round(self.new_score - self.old_score, 1)


@dataclass
class DiffReport:
    items: list[DiffItem] = field(default_factory=list)

    def summary(self) -> dict:
        deltas = [i.delta for i in self.items]
        transitions = Counter(f"{i.old_flag}->{i.new_flag}" for i in self.items if i.old_flag != i.new_flag)
        return {
            "interactions": len(self.items),
            "score_changed": sum(d != 0 for d in deltas),
            "flag_changed": sum(transitions.values()),
            "improved": sum(d > 0 for d in deltas),
            "worsened": sum(d < 0 for d in deltas),
            "unchanged": sum(d == 0 for d in deltas),
            "mean_delta": round(sum(deltas) / len(deltas), 2) if deltas else None,
            "flag_transitions": dict(sorted(transitions.items())),
            "old_flags": dict(Counter(i.old_flag for i in self.items)),
            "new_flags": dict(Counter(i.new_flag for i in self.items)),
        }


def _in_range(start: date, end: date, agent_id: str | None, team_id: str | None) -> list:
    conds = [InteractionRow.occurred_date >= start, InteractionRow.occurred_date <= end]
    if agent_id is not None:
        conds.append(InteractionRow.agent_id == agent_id)
    if team_id is not None:
        conds.append(InteractionRow.team_id == team_id)
    return conds


def count_in_range(session: Session, start: date, end: date, *, agent_id: str | None = None, team_id: str | None = None) -> int:
    return int(
        session.scalar(select(func.count()).select_from(InteractionRow).where(*_in_range(start, end, agent_id, team_id))) or 0
    )


def as_interaction(row: InteractionRow) -> Interaction:
    """The stored interaction as the engine's input (redacted turns, as they were scored)."""
    return Interaction(
        interaction_id=row.id,
        channel=row.channel,
        agent_id=row.agent_id,
        team_id=row.team_id,
        started_at=row.started_at,
        metadata=dict(row.meta),
        turns=[
            {"role": t.role, "text": t.text, "start": t.start_s, "end": t.end_s, "asr_confidence": t.asr_confidence}
            for t in row.turns
        ],
    )


def rescore(
    session: Session,
    inspector,
    *,
    start: date,
    end: date,
    agent_id: str | None = None,
    team_id: str | None = None,
    rule_versions: dict | None = None,
    actor: str,
    dry_run: bool = False,
) -> DiffReport:
    """Score every interaction in the range with `inspector`; store new current runs unless dry_run.

    Flushes but does not commit (the caller commits the whole rescore at once).
    """
    report = DiffReport()
    last_id = ""
    while True:
        rows = session.execute(
            select(InteractionRow, ResultRow)
            .join(ResultRow, and_(ResultRow.interaction_id == InteractionRow.id, ResultRow.is_current.is_(True)))
            .where(*_in_range(start, end, agent_id, team_id), InteractionRow.id > last_id)
            .options(selectinload(InteractionRow.turns))
            .order_by(InteractionRow.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        # one page through inspect_many: its models score the page's turns in large batches
        results = inspector.inspect_many(as_interaction(row) for row, _ in rows)
        for (row, old), result in zip(rows, results, strict=True):
            if isinstance(result, ValueError):  # as inspect would have raised it (a stored run has turns)
                raise result
            result.versions = {**(result.versions or {}), "rule_versions": rule_versions or {}}
            new_id = None
            if not dry_run:
                new_id = add_current_run(session, row.id, result, row.content_hash).id
            report.items.append(DiffItem(row.id, old.id, new_id, old.score, result.score, old.flag, result.flag))
        last_id = rows[-1][0].id
    audit(
        session,
        actor,
        "rules.rescore" if not dry_run else "rules.rescore_dry_run",
        "rules",
        f"{start.isoformat()}..{end.isoformat()}",
        agent_id=agent_id,
        team_id=team_id,
        rule_versions=rule_versions or {},
        summary=report.summary(),
    )
    return report
