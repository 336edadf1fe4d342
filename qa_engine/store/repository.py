"""Write path (`save_result`) and the queries behind the API.

Every query that returns interactions takes a `Scope`: the API turns the caller's role into one, so
an agent's scope only ever matches their own interactions and a supervisor's only their teams'.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, exists, false, func, insert, select, true, update
from sqlalchemy.orm import Session

from qa_engine.schema import (
    DimensionScore,
    EmotionResult,
    Hit,
    Interaction,
    Result,
    SatisfactionResult,
    ScriptResult,
)
from qa_engine.store.alerts import queue_alerts
from qa_engine.store.models import (
    Agent,
    AuditLog,
    DimensionRow,
    HitRow,
    InteractionRow,
    ResultRow,
    Review,
    ReviewAssignment,
    Team,
    TurnRow,
    reviewed_since_assigned,
)
from qa_engine.store.types import utcnow

DEFAULT_TZ = "Asia/Shanghai"


# --- scope ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Which interactions a caller may see. None on an axis means unrestricted on it."""

    agent_ids: frozenset[str] | None = None
    team_ids: frozenset[str] | None = None

    def clause(self) -> ColumnElement[bool]:
        conds: list[ColumnElement[bool]] = []
        for ids, column in ((self.agent_ids, InteractionRow.agent_id), (self.team_ids, InteractionRow.team_id)):
            if ids is not None:
                conds.append(column.in_(sorted(ids)) if ids else false())
        return and_(*conds) if conds else true()

    def allows(self, row: InteractionRow) -> bool:
        if self.agent_ids is not None and row.agent_id not in self.agent_ids:
            return False
        if self.team_ids is not None and row.team_id not in self.team_ids:
            return False
        return True


EVERYTHING = Scope()


# --- write path -----------------------------------------------------------------------------------


def content_hash(interaction: Interaction) -> str:
    """SHA-256 of the interaction as received (canonical JSON): same content, same hash."""
    payload = interaction.model_dump(mode="json", exclude_none=True)
    canonical = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def recording_hash(interaction: Interaction, audio_sha256: str, channel_roles: object = None) -> str:
    """SHA-256 of a recording's identity: its fields and the audio bytes' hash, not its path (moving
    a file does not make it new). The API's upload jobs and the batch ledger both use it."""
    fields = interaction.model_dump(mode="json", exclude_none=True, exclude={"audio_path"})
    payload = {"interaction": fields, "audio_sha256": audio_sha256, "channel_roles": channel_roles}
    canonical = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _aware(value: datetime, tz: str) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=ZoneInfo(tz))


def _ensure_team(session: Session, team_id: str | None) -> None:
    if team_id and session.get(Team, team_id) is None:
        session.add(Team(id=team_id))
        session.flush()


class OwnerConflict(Exception):
    """A stored interaction was sent again for another agent or team. Its agent and team are fixed
    once stored: moving it would hand its reviews and appeals to another agent and their supervisor.
    `index`: the item's position when several were sent at once."""

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


def _someone(kind: str, value: str | None) -> str:
    return f"{kind} {value!r}" if value is not None else f"no {kind}"


def check_owner(interaction: Interaction, agent_id: str | None, team_id: str | None, *, index: int | None = None) -> None:
    """Raise `OwnerConflict` when `interaction` names another agent or team than the stored ones
    (`agent_id`, `team_id`). An omitted agent_id or team_id keeps the stored one: not a conflict."""
    changed = [
        _someone(kind, sent)
        for kind, sent, stored in (("agent", interaction.agent_id, agent_id), ("team", interaction.team_id, team_id))
        if sent is not None and sent != stored
    ]
    if changed:
        raise OwnerConflict(
            f"interaction {interaction.interaction_id!r} is stored for {_someone('agent', agent_id)} / "
            f"{_someone('team', team_id)}; it cannot be re-sent for {' / '.join(changed)}",
            index=index,
        )


def check_stored_owner(session: Session, interaction: Interaction) -> None:
    """`check_owner` against the stored interaction of the same id, if there is one."""
    row = session.get(InteractionRow, interaction.interaction_id)
    if row is not None:
        check_owner(interaction, row.agent_id, row.team_id)


def _resolve_agent_team(session: Session, agent_id: str | None, team_id: str | None) -> str | None:
    """Create the agent on first sight; an interaction naming a team moves the agent there."""
    _ensure_team(session, team_id)
    if not agent_id:
        return team_id
    agent = session.get(Agent, agent_id)
    if agent is None:
        session.add(Agent(id=agent_id, team_id=team_id))
        session.flush()
    elif team_id and agent.team_id != team_id:
        agent.team_id = team_id
    elif not team_id:
        team_id = agent.team_id
    return team_id


def _turn_rows(interaction: Interaction) -> list[TurnRow]:
    return [
        TurnRow(idx=i, role=t.role, text=t.text, start_s=t.start, end_s=t.end, asr_confidence=t.asr_confidence)
        for i, t in enumerate(interaction.turns)
    ]


def _turn_values(interaction_id: str, interaction: Interaction) -> list[dict]:
    return [
        {"interaction_id": interaction_id, "idx": i, "role": t.role, "text": t.text, "start_s": t.start,
         "end_s": t.end, "asr_confidence": t.asr_confidence}
        for i, t in enumerate(interaction.turns)
    ]  # fmt: skip


def save_result(
    session: Session,
    interaction: Interaction,
    result: Result,
    *,
    content_hash: str,
    received_at: datetime | None = None,
    report_tz: str = DEFAULT_TZ,
) -> ResultRow:
    """Store a scored interaction (already prepared: transcribed and redacted) as its current result.

    The interaction row is created or, when its content changed, updated with the new turns. The
    previous results stay, no longer current. Flushes but does not commit.

    An interaction's agent and team are fixed once stored (the team it was handled in, whatever team
    the agent is in later): a re-send naming another raises `OwnerConflict` before anything is
    written; one omitting them keeps the stored ones and moves no agent.

    A new interaction costs one flush (interaction and result rows) and one multi-row INSERT each
    for its turns, dimension scores and hits (Core, not one ORM object per row).
    """
    if result.interaction_id != interaction.interaction_id:
        raise ValueError("result and interaction have different interaction_id")
    received_at = received_at or utcnow()
    row = session.get(InteractionRow, interaction.interaction_id)
    if row is None:
        agent_id = interaction.agent_id
        team_id = _resolve_agent_team(session, agent_id, interaction.team_id)
    else:
        check_owner(interaction, row.agent_id, row.team_id)
        agent_id, team_id = row.agent_id, row.team_id
    started_at = _aware(interaction.started_at, report_tz) if interaction.started_at else None
    occurred_at = started_at or received_at
    fields = dict(
        channel=interaction.channel,
        agent_id=agent_id,
        team_id=team_id,
        started_at=started_at,
        occurred_at=occurred_at,
        occurred_date=occurred_at.astimezone(ZoneInfo(report_tz)).date(),
        audio_path=interaction.audio_path,
        meta=interaction.metadata,
        extra=dict(interaction.model_extra or {}),
        content_hash=content_hash,
    )
    if row is None:
        row = InteractionRow(id=interaction.interaction_id, received_at=received_at, **fields)
        session.add(row)
        res = add_current_run(session, row.id, result, content_hash, row=row, first=True)  # one flush: both rows
        if interaction.turns:
            session.execute(insert(TurnRow), _turn_values(row.id, interaction))
        return res
    if row.content_hash != content_hash:
        for key, value in fields.items():
            setattr(row, key, value)
        row.turns.clear()
        session.flush()  # old turns go before new ones take their (interaction, idx) slots
        row.turns.extend(_turn_rows(interaction))
    return add_current_run(session, row.id, result, content_hash, row=row)


def add_current_run(
    session: Session,
    interaction_id: str,
    result: Result,
    content_hash: str,
    *,
    row: InteractionRow | None = None,
    first: bool = False,
) -> ResultRow:
    """Store `result` as the current run of a stored interaction; earlier runs stay, not current.
    `first`: the interaction has no run yet (nothing to mark no longer current)."""
    if not first:
        session.execute(
            update(ResultRow)
            .where(ResultRow.interaction_id == interaction_id, ResultRow.is_current.is_(True))
            .values(is_current=False)
        )
    res = _result_row(result, content_hash)
    row = row if row is not None else session.get_one(InteractionRow, interaction_id)
    res.agent_id, res.team_id, res.occurred_date = row.agent_id, row.team_id, row.occurred_date
    session.add(res)
    session.flush()
    dims = [
        {"result_id": res.id, "dimension": name, "position": i, "score": d.score, "weight": d.weight,
         "deductions": list(d.deductions)}
        for i, (name, d) in enumerate(result.dimensions.items())
    ]  # fmt: skip
    if dims:
        session.execute(insert(DimensionRow), dims)
    if result.hits:
        session.execute(insert(HitRow), [_hit_values(res.id, i, h) for i, h in enumerate(result.hits)])
    queue_alerts(session, row, res, result)  # in this transaction: no stored red result without its alert
    return res


def _result_row(result: Result, content_hash: str) -> ResultRow:
    """The run's row; its dimension scores and hits are inserted by `add_current_run` (and read
    back from the database when first accessed)."""
    stats = result.stats
    versions = result.versions or {}
    script_dim = result.dimensions.get("script_compliance")
    return ResultRow(
        interaction_id=result.interaction_id,
        is_current=True,
        content_hash=content_hash,
        score=result.score,
        flag=result.flag,
        critical=list(result.critical),
        script=result.script.model_dump(mode="json"),
        emotion=result.emotion.model_dump(mode="json"),
        stats=dict(stats),
        versions=versions,
        ruleset_version=versions.get("ruleset"),
        emotion_model=(versions.get("models") or {}).get("emotion") or result.emotion.source,
        agent_turns=int(stats.get("agent_turns", 0)),
        polite_turns=int(stats.get("polite_turns", 0)),
        empathy_turns=int(stats.get("empathy_turns", 0)),
        forbidden_hits=int(stats.get("forbidden_hits", 0)),
        silence_total_s=stats.get("silence_total_s"),
        interruptions=int(stats["interruptions"]) if "interruptions" in stats else None,
        customer_start=result.emotion.customer_start,
        deescalated=result.emotion.deescalated,
        script_ok=script_dim is None or script_dim.score >= 100,
        has_critical=bool(result.critical),
        satisfaction=result.satisfaction.model_dump(mode="json") if result.satisfaction is not None else None,
        satisfaction_predicted=result.satisfaction.predicted if result.satisfaction is not None else None,
        satisfaction_dissatisfied=result.satisfaction.dissatisfied if result.satisfaction is not None else None,
    )


def _hit_values(result_id: int, position: int, h: Hit) -> dict:
    return {
        "result_id": result_id,
        "position": position,
        "dimension": h.dimension,
        "rule_id": h.rule_id,
        "turn": h.turn,
        "start_char": h.start,
        "end_char": h.end,
        "text": h.text,
        "role": h.role,
        "severity": h.severity,
        "explanation": h.explanation,
        "time_start": h.time[0] if h.time else None,
        "time_end": h.time[1] if h.time else None,
        "confidence": h.score,
        "asr_confidence": h.asr_confidence,
        "evidence": h.evidence.model_dump() if h.evidence is not None else None,
    }


def audit(session: Session, actor: str, action: str, object_type: str, object_id: str | int, **detail) -> None:
    session.add(AuditLog(actor=actor, action=action, object_type=object_type, object_id=str(object_id), detail=detail))


# --- reads ----------------------------------------------------------------------------------------


def get_interaction(session: Session, interaction_id: str) -> InteractionRow | None:
    return session.get(InteractionRow, interaction_id)


def last_team_handled(session: Session, agent_id: str, team_ids: frozenset[str]) -> str | None:
    """The team, of `team_ids`, that the agent's most recent interaction handled in one of them was
    handled in; None when the agent handled none there."""
    if not team_ids:
        return None
    return session.scalar(
        select(InteractionRow.team_id)
        .where(InteractionRow.agent_id == agent_id, InteractionRow.team_id.in_(sorted(team_ids)))
        .order_by(InteractionRow.occurred_at.desc(), InteractionRow.id.desc())
        .limit(1)
    )


def current_result(session: Session, interaction_id: str) -> ResultRow | None:
    return session.scalar(select(ResultRow).where(ResultRow.interaction_id == interaction_id, ResultRow.is_current.is_(True)))


def result_history(session: Session, interaction_id: str) -> list[ResultRow]:
    return list(session.scalars(select(ResultRow).where(ResultRow.interaction_id == interaction_id).order_by(ResultRow.id)))


def hit_from_row(h: HitRow) -> Hit:
    return Hit(
        dimension=h.dimension,
        rule_id=h.rule_id,
        turn=h.turn,
        start=h.start_char,
        end=h.end_char,
        text=h.text,
        role=h.role,
        severity=h.severity,
        explanation=h.explanation,
        time=(h.time_start, h.time_end) if h.time_start is not None else None,
        score=h.confidence,
        asr_confidence=h.asr_confidence,
        evidence=h.evidence,
    )


def result_fields(res: ResultRow) -> dict:
    """The scored fields of a stored run (everything of a `Result` but identity and hits)."""
    return {
        "score": res.score,
        "flag": res.flag,
        "critical": list(res.critical),
        "dimensions": {
            d.dimension: DimensionScore(score=d.score, weight=d.weight, deductions=list(d.deductions)) for d in res.dimensions
        },
        "script": ScriptResult.model_validate(res.script),
        "emotion": EmotionResult.model_validate(res.emotion),
        "satisfaction": SatisfactionResult.model_validate(res.satisfaction) if res.satisfaction else None,
        "stats": dict(res.stats),
        "versions": dict(res.versions),
    }


def to_contract(res: ResultRow, interaction: InteractionRow) -> Result:
    """The stored run as the contract's `Result`, exactly as the engine produced it."""
    return Result(
        interaction_id=interaction.id,
        agent_id=interaction.agent_id,
        team_id=interaction.team_id,
        channel=interaction.channel,
        hits=[hit_from_row(h) for h in res.hits],
        **result_fields(res),
    )


DISSATISFIED_PROBABILITY = 0.5  # a result counts as predicted dissatisfied from this probability on


@dataclass(frozen=True)
class Filters:
    agent_id: str | None = None
    team_id: str | None = None
    start: date | None = None  # inclusive, local report date
    end: date | None = None  # inclusive
    flag: str | None = None
    dimension: str | None = None  # lost points in this dimension
    rule_id: str | None = None  # has a hit of this rule
    min_score: float | None = None
    max_score: float | None = None
    dissatisfied: bool | None = None  # predicted dissatisfied (probability >= 0.5) or not
    satisfaction_min: float | None = None  # predicted satisfaction, -2..2
    satisfaction_max: float | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        c: list[ColumnElement[bool]] = []
        if self.agent_id is not None:
            c.append(InteractionRow.agent_id == self.agent_id)
        if self.team_id is not None:
            c.append(InteractionRow.team_id == self.team_id)
        if self.start is not None:
            c.append(InteractionRow.occurred_date >= self.start)
        if self.end is not None:
            c.append(InteractionRow.occurred_date <= self.end)
        if self.flag is not None:
            c.append(ResultRow.flag == self.flag)
        if self.min_score is not None:
            c.append(ResultRow.score >= self.min_score)
        if self.max_score is not None:
            c.append(ResultRow.score <= self.max_score)
        if self.dissatisfied is not None:
            likely = ResultRow.satisfaction_dissatisfied >= DISSATISFIED_PROBABILITY
            c.append(likely if self.dissatisfied else ResultRow.satisfaction_dissatisfied < DISSATISFIED_PROBABILITY)
        if self.satisfaction_min is not None:
            c.append(ResultRow.satisfaction_predicted >= self.satisfaction_min)
        if self.satisfaction_max is not None:
            c.append(ResultRow.satisfaction_predicted <= self.satisfaction_max)
        if self.dimension is not None:
            c.append(
                exists().where(
                    DimensionRow.result_id == ResultRow.id,
                    DimensionRow.dimension == self.dimension,
                    DimensionRow.score < 100,
                )
            )
        if self.rule_id is not None:
            c.append(exists().where(HitRow.result_id == ResultRow.id, HitRow.rule_id == self.rule_id))
        return c


def _current_join():
    return select(InteractionRow, ResultRow).join(
        ResultRow, and_(ResultRow.interaction_id == InteractionRow.id, ResultRow.is_current.is_(True))
    )


def _page(session: Session, stmt, order, limit: int, offset: int) -> tuple[int, list[tuple[InteractionRow, ResultRow]]]:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = session.execute(stmt.order_by(*order).limit(limit).offset(offset)).all()
    return int(total or 0), list(rows)


def list_interactions(
    session: Session, scope: Scope, filters: Filters, *, limit: int = 50, offset: int = 0
) -> tuple[int, list[tuple[InteractionRow, ResultRow]]]:
    """(total, page) of interactions with their current result, newest first."""
    stmt = _current_join().where(scope.clause(), *filters.clauses())
    return _page(session, stmt, (InteractionRow.occurred_at.desc(), InteractionRow.id), limit, offset)


def review_queue(
    session: Session,
    scope: Scope,
    *,
    limit: int = 50,
    offset: int = 0,
    include_reviewed: bool = False,
    filters: Filters | None = None,
    assignee_id: int | None = None,
) -> tuple[int, list[tuple[InteractionRow, ResultRow]]]:
    """Red then yellow current results, oldest first within a flag; reviewed ones left out by default.

    `assignee_id`: the interactions assigned to this user instead, of any flag (a sampled green one
    too), those still open unless `include_reviewed` (then also those done)."""
    stmt = _current_join().where(scope.clause())
    if filters is not None:
        stmt = stmt.where(*filters.clauses())
    if assignee_id is not None:
        stmt = stmt.join(ReviewAssignment, ReviewAssignment.interaction_id == InteractionRow.id).where(
            ReviewAssignment.assignee_id == assignee_id
        )
        if not include_reviewed:
            stmt = stmt.where(~reviewed_since_assigned())
    else:
        stmt = stmt.where(ResultRow.flag.in_(("red", "yellow")))
        if not include_reviewed:
            stmt = stmt.where(~exists().where(Review.result_id == ResultRow.id))
    severity = case((ResultRow.flag == "red", 0), (ResultRow.flag == "yellow", 1), else_=2)
    return _page(session, stmt, (severity, InteractionRow.occurred_at, InteractionRow.id), limit, offset)


def latest_reviews(session: Session, result_ids: list[int]) -> dict[int, Review]:
    """The newest review of each result (it carries the final score)."""
    if not result_ids:
        return {}
    latest = select(func.max(Review.id)).where(Review.result_id.in_(result_ids)).group_by(Review.result_id)
    return {r.result_id: r for r in session.scalars(select(Review).where(Review.id.in_(latest)))}
