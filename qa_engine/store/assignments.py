"""Review assignment and sampling rules (抽检计划).

An interaction is assigned to one QA specialist at a time (`review_assignments`, one row per
interaction): by hand (a supervisor for their teams, or an admin) or by a sampling rule. Assigning it
again moves it to the new specialist and opens it again. An assignment is *open* until the
interaction gets a review made at or after `assigned_at`, by anyone; nothing is written for that, the
reviews say it (so every path that writes a review closes it).

A sampling rule takes, per agent, per period (ISO week, Monday to Sunday, or day) and per flag, the
share `rates[flag]` of that team's interactions (rounded up: 5 % of 3 green items is 1). Candidates
are ordered by SHA-256 of "rule id:interaction id", so a run is deterministic; interactions already
assigned (by anyone) or already reviewed count as covered, and only what is missing is assigned, so
running the same rule again over the same days assigns nothing twice, and a nightly run over
yesterday tops up the week so far. Each new assignment goes to the rule's QA specialist with the
fewest open assignments (then by name).
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from qa_engine.store.models import (
    FLAGS,
    ApiUser,
    InteractionRow,
    ResultRow,
    Review,
    ReviewAssignment,
    SamplingRule,
    reviewed_since_assigned,
)
from qa_engine.store.repository import Scope, audit
from qa_engine.store.types import utcnow

SPECIALIST = "qa_specialist"
MAX_RUN_DAYS = 366


class AssignmentError(ValueError):
    """A request that names the wrong people or days (the API answers 422 with the message)."""


# --- who ---------------------------------------------------------------------------------------------


def specialist(session: Session, username: str) -> ApiUser:
    """The active QA specialist `username`, else AssignmentError saying what is wrong."""
    user = session.scalar(select(ApiUser).where(ApiUser.username == username))
    if user is None:
        raise AssignmentError(f"no user {username!r}")
    if user.role != SPECIALIST:
        raise AssignmentError(f"user {username!r} is a {user.role}, not a qa_specialist")
    if not user.is_active:
        raise AssignmentError(f"user {username!r} is deactivated")
    return user


def specialists(session: Session) -> list[ApiUser]:
    return list(
        session.scalars(select(ApiUser).where(ApiUser.role == SPECIALIST, ApiUser.is_active.is_(True)).order_by(ApiUser.username))
    )


# --- open / done -------------------------------------------------------------------------------------


def open_load(session: Session, user_ids: list[int] | None = None) -> dict[int, int]:
    """Open assignments per assignee (all teams)."""
    stmt = select(ReviewAssignment.assignee_id, func.count()).where(~reviewed_since_assigned())
    if user_ids is not None:
        stmt = stmt.where(ReviewAssignment.assignee_id.in_(user_ids))
    return dict(session.execute(stmt.group_by(ReviewAssignment.assignee_id)).all())


@dataclass(frozen=True)
class Done:
    reviewed_at: datetime
    reviewer: str


def done_of(session: Session, assignments: list[ReviewAssignment]) -> dict[int, Done]:
    """assignment id -> the first review that closed it, for those that are done."""
    ids = sorted({a.interaction_id for a in assignments})
    if not ids:
        return {}
    reviews: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for iid, at, who in session.execute(
        select(Review.interaction_id, Review.created_at, Review.reviewer)
        .where(Review.interaction_id.in_(ids))
        .order_by(Review.created_at, Review.id)
    ):
        reviews[iid].append((at, who))
    out = {}
    for a in assignments:
        first = next(((at, who) for at, who in reviews.get(a.interaction_id, ()) if at >= a.assigned_at), None)
        if first is not None:
            out[a.id] = Done(*first)
    return out


def of_interactions(session: Session, interaction_ids: list[str]) -> dict[str, ReviewAssignment]:
    if not interaction_ids:
        return {}
    rows = session.scalars(select(ReviewAssignment).where(ReviewAssignment.interaction_id.in_(interaction_ids)))
    return {a.interaction_id: a for a in rows}


def visible(session: Session, scope: Scope, assignment_id: int) -> ReviewAssignment | None:
    """The assignment if its interaction is in `scope` (else None, as for one that does not exist)."""
    return session.scalar(
        select(ReviewAssignment)
        .join(InteractionRow, InteractionRow.id == ReviewAssignment.interaction_id)
        .where(ReviewAssignment.id == assignment_id, scope.clause())
    )


def listing(
    session: Session,
    scope: Scope,
    *,
    assignee_id: int | None = None,
    status: str = "open",
    team_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[ReviewAssignment]]:
    """(total, page) of the assignments of interactions in `scope`, oldest first."""
    stmt = (
        select(ReviewAssignment).join(InteractionRow, InteractionRow.id == ReviewAssignment.interaction_id).where(scope.clause())
    )
    if assignee_id is not None:
        stmt = stmt.where(ReviewAssignment.assignee_id == assignee_id)
    if team_id is not None:
        stmt = stmt.where(InteractionRow.team_id == team_id)
    if status == "open":
        stmt = stmt.where(~reviewed_since_assigned())
    elif status == "done":
        stmt = stmt.where(reviewed_since_assigned())
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(stmt.order_by(ReviewAssignment.assigned_at, ReviewAssignment.id).limit(limit).offset(offset))
    return int(total or 0), list(rows)


# --- writing -----------------------------------------------------------------------------------------


def _insert_new(session: Session, values: list[dict]) -> set[str]:
    """Insert assignments, skipping interactions that got one meanwhile (another run, another
    request): INSERT ... ON CONFLICT DO NOTHING. Returns the interaction ids inserted."""
    if not values:
        return set()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(ReviewAssignment)
        .values(values)
        .on_conflict_do_nothing(index_elements=["interaction_id"])
        .returning(ReviewAssignment.interaction_id)
    )
    return set(session.scalars(stmt))


@dataclass
class Assigned:
    interaction_id: str
    outcome: str  # assigned | reassigned | unchanged
    previous: str | None = None  # the specialist it was assigned to before (reassigned)


def assign(session: Session, rows: list[InteractionRow], assignee: ApiUser, *, actor: str) -> list[Assigned]:
    """Assign `rows` to `assignee` by hand (flushes, does not commit; audited per interaction).
    One already assigned to them and still open is unchanged; one assigned to someone else, or
    done, is moved to them and opened again (a second look)."""
    existing = of_interactions(session, [r.id for r in rows])
    done = done_of(session, list(existing.values()))
    now = utcnow()
    out: list[Assigned] = []
    fresh: list[dict] = []
    for row in rows:
        current = existing.get(row.id)
        if current is None:
            fresh.append({"interaction_id": row.id, "assignee_id": assignee.id, "source": "manual",
                          "assigned_by": actor, "assigned_at": now})  # fmt: skip
            continue
        if current.assignee_id == assignee.id and current.id not in done:
            out.append(Assigned(row.id, "unchanged"))
            continue
        previous = current.assignee.username
        current.assignee, current.assigned_by, current.assigned_at = assignee, actor, now
        audit(session, actor, "assignment.reassign", "interaction", row.id, assignee=assignee.username,
              previous=previous, reopened=current.id in done)  # fmt: skip
        out.append(Assigned(row.id, "reassigned", previous))
    inserted = _insert_new(session, fresh)
    raced = []
    for values in fresh:
        iid = values["interaction_id"]
        if iid in inserted:
            audit(session, actor, "assignment.create", "interaction", iid, assignee=assignee.username)
            out.append(Assigned(iid, "assigned"))
        else:  # assigned by another request between our read and our insert: assign it as if after it
            raced.append(next(r for r in rows if r.id == iid))
    session.flush()
    if raced:
        out += assign(session, raced, assignee, actor=actor)
    order = {r.id: i for i, r in enumerate(rows)}
    return sorted(out, key=lambda a: order[a.interaction_id])


def unassign(session: Session, assignment: ReviewAssignment, *, actor: str) -> None:
    audit(session, actor, "assignment.delete", "interaction", assignment.interaction_id,
          assignee=assignment.assignee.username, source=assignment.source, rule_id=assignment.rule_id)  # fmt: skip
    session.delete(assignment)
    session.flush()


# --- sampling ----------------------------------------------------------------------------------------


def period_start(day: date, period: str) -> date:
    return day - timedelta(days=day.weekday()) if period == "week" else day


def sample_key(rule_id: int, interaction_id: str) -> str:
    """The order of a rule's candidates: fixed for a rule and an interaction, unrelated to ids' order."""
    return hashlib.sha256(f"{rule_id}:{interaction_id}".encode()).hexdigest()


def target(rate: float, candidates: int) -> int:
    """How many of `candidates` the rate asks for: rounded up (any share of a non-empty group is at
    least one), never more than there are."""
    return min(candidates, math.ceil(rate * candidates - 1e-9))


@dataclass
class Bucket:
    agent_id: str | None
    period_start: date
    flag: str
    candidates: int
    target: int
    covered: int  # already assigned or reviewed before this run
    assigned: int = 0


@dataclass
class SampleRun:
    rule_id: int
    start: date
    end: date
    buckets: list[Bucket] = field(default_factory=list)
    assigned: list[ReviewAssignment] = field(default_factory=list)
    bucket_of: dict[str, Bucket] = field(default_factory=dict)  # assigned interaction id -> its bucket


def check_range(start: date, end: date) -> None:
    if end < start:
        raise AssignmentError("end is before start")
    if (end - start).days + 1 > MAX_RUN_DAYS:
        raise AssignmentError(f"at most {MAX_RUN_DAYS} days per run; run the rule over shorter ranges")


def run_rule(session: Session, rule: SamplingRule, start: date, end: date, *, actor: str) -> SampleRun:
    """Sample the rule's team over every period that overlaps start..end (its interactions up to
    `end`) and assign what is missing (flushes, does not commit; one audit entry). Raises
    AssignmentError when the range is bad or none of the rule's assignees is an active QA specialist."""
    check_range(start, end)
    assignees = [u for u in rule.assignees if u.role == SPECIALIST and u.is_active]
    if not assignees:
        raise AssignmentError(f"sampling rule {rule.id} has no active qa_specialist to assign to")
    if session.get_bind().dialect.name == "postgresql":  # runs of one rule one after another
        session.execute(select(SamplingRule.id).where(SamplingRule.id == rule.id).with_for_update())
    rates = {flag: float(rate) for flag, rate in rule.rates.items() if flag in FLAGS and float(rate) > 0}
    first = period_start(start, rule.period)
    run = SampleRun(rule.id, start, end)
    if not rates:
        return run
    assigned_any = exists().where(ReviewAssignment.interaction_id == InteractionRow.id)
    reviewed = exists().where(Review.result_id == ResultRow.id)
    stmt = (
        select(
            InteractionRow.id, InteractionRow.agent_id, InteractionRow.occurred_date, ResultRow.flag, assigned_any, reviewed
        )  # fmt: skip
        .join(ResultRow, and_(ResultRow.interaction_id == InteractionRow.id, ResultRow.is_current.is_(True)))
        .where(
            InteractionRow.occurred_date >= first, InteractionRow.occurred_date <= end, ResultRow.flag.in_(sorted(rates))
        )  # fmt: skip
    )
    if rule.team_id is not None:
        stmt = stmt.where(InteractionRow.team_id == rule.team_id)
    groups: dict[tuple, list[tuple[str, bool]]] = defaultdict(list)
    for iid, agent_id, day, flag, is_assigned, is_reviewed in session.execute(stmt):
        groups[(agent_id or "", period_start(day, rule.period), flag)].append((iid, bool(is_assigned or is_reviewed)))
    picks: list[tuple[tuple, str]] = []
    for key in sorted(groups):
        members = groups[key]
        bucket = Bucket(key[0] or None, key[1], key[2], len(members), target(rates[key[2]], len(members)),
                        sum(covered for _, covered in members))  # fmt: skip
        run.buckets.append(bucket)
        missing = bucket.target - bucket.covered
        if missing > 0:
            free = sorted((iid for iid, covered in members if not covered), key=lambda i: sample_key(rule.id, i))
            picks.extend((key, iid) for iid in free[:missing])
    load = open_load(session, [u.id for u in assignees])
    counts = {u.id: load.get(u.id, 0) for u in assignees}
    now = utcnow()
    values = []
    for _, iid in picks:
        who = min(assignees, key=lambda u: (counts[u.id], u.username))
        counts[who.id] += 1
        values.append({"interaction_id": iid, "assignee_id": who.id, "source": "sampling", "rule_id": rule.id,
                       "assigned_by": actor, "assigned_at": now})  # fmt: skip
    inserted = _insert_new(session, values)
    by_key = {iid: key for key, iid in picks}
    index = {(b.agent_id or "", b.period_start, b.flag): b for b in run.buckets}
    for iid in inserted:
        index[by_key[iid]].assigned += 1
        run.bucket_of[iid] = index[by_key[iid]]
    if inserted:
        run.assigned = list(
            session.scalars(
                select(ReviewAssignment)
                .where(ReviewAssignment.interaction_id.in_(sorted(inserted)))
                .order_by(ReviewAssignment.id)
            )
        )
    per_assignee: dict[str, int] = defaultdict(int)
    for a in run.assigned:
        per_assignee[a.assignee.username] += 1
    audit(session, actor, "sampling_rule.run", "sampling_rule", rule.id, start=start.isoformat(),
          end=end.isoformat(), assigned=len(run.assigned), per_assignee=dict(per_assignee),
          interaction_ids=[a.interaction_id for a in run.assigned][:1000])  # fmt: skip
    session.flush()
    return run


def active_rules(session: Session, rule_ids: list[int] | None = None) -> list[SamplingRule]:
    stmt = select(SamplingRule).where(SamplingRule.active.is_(True))
    if rule_ids:
        stmt = stmt.where(SamplingRule.id.in_(rule_ids))
    return list(session.scalars(stmt.order_by(SamplingRule.id)))
