"""Review assignment and sampling rules (抽检计划): a supervisor (their teams' interactions) or an admin
assigns interactions to QA specialists by hand or by a rule; each specialist's queue shows theirs
(`GET /v1/review-queue?assignee=me`). qa_engine/store/assignments.py does the work."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from sqlalchemy import select

from api import views
from api.deps import NO_INTERACTION, Assigner, Reviewer, SessionDep
from api.openapi import errors
from api.schemas import (
    MAX_ID,
    AssignedItem,
    AssignIn,
    AssignmentOut,
    AssignOut,
    Page,
    SamplingBucketOut,
    SamplingRuleIn,
    SamplingRuleOut,
    SamplingRunIn,
    SamplingRunOut,
    SpecialistOut,
)
from api.security import Principal
from qa_engine.store import assignments as asg
from qa_engine.store.accounts import get_user
from qa_engine.store.models import SamplingRule, Team
from qa_engine.store.repository import audit, get_interaction

router = APIRouter(prefix="/v1", tags=["assignments"])
NO_ASSIGNMENT = {404: "no assignment with this id that the caller may see"}
NO_RULE = {404: "no sampling rule with this id that the caller may see"}
AssignmentId = Annotated[int, Path(ge=1, le=MAX_ID)]
RuleId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _unprocessable(exc: Exception) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))


def _specialist(session, username: str):
    try:
        return asg.specialist(session, username)
    except asg.AssignmentError as exc:
        raise _unprocessable(exc) from None


# --- who can be assigned -------------------------------------------------------------------------------


@router.get("/qa-specialists", response_model=list[SpecialistOut], summary="QA specialists one can assign to")
def list_qa_specialists(session: SessionDep, principal: Assigner) -> list[SpecialistOut]:
    """Active QA specialists with their open assignments (a count over all teams), by name."""
    people = asg.specialists(session)
    load = asg.open_load(session, [u.id for u in people])
    return [SpecialistOut(username=u.username, open_assignments=load.get(u.id, 0)) for u in people]


# --- manual assignment ---------------------------------------------------------------------------------


@router.post(
    "/assignments",
    response_model=AssignOut,
    responses=errors(NO_INTERACTION),
    summary="Assign interactions to a QA specialist",
)
def create_assignments(body: AssignIn, session: SessionDep, principal: Assigner) -> AssignOut:
    """Each interaction is assigned to `assignee`: a new assignment, or one moved from another
    specialist (or a done one opened again); one already theirs and open is unchanged (sending the
    same request again changes nothing). A supervisor assigns their teams' interactions only: any
    other id is 404, as for one that does not exist, and nothing is assigned. An assignee who is not
    an active QA specialist: 422 saying why."""
    assignee = _specialist(session, body.assignee)
    rows, seen = [], set()
    for iid in body.interaction_ids:
        if iid in seen:
            continue
        seen.add(iid)
        row = get_interaction(session, iid)
        if row is None or not principal.scope.allows(row):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no interaction {iid!r}")
        rows.append(row)
    done = asg.assign(session, rows, assignee, actor=principal.username)
    session.commit()
    counts = {outcome: sum(d.outcome == outcome for d in done) for outcome in ("assigned", "reassigned", "unchanged")}
    return AssignOut(
        **counts,
        items=[AssignedItem(interaction_id=d.interaction_id, outcome=d.outcome, previous_assignee=d.previous) for d in done],
    )


def _listed_assignee(session, principal: Principal, assignee: str | None) -> int | None:
    """The assignee filter: QA specialists see their own assignments only."""
    if principal.role == "qa_specialist":
        if assignee not in (None, "me", principal.username):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "QA specialists see their own assignments only")
        return principal.user_id
    if assignee is None:
        return None
    if assignee == "me":
        return principal.user_id
    user = get_user(session, assignee)
    return user.id if user is not None else 0  # 0: nobody, an empty page


@router.get("/assignments", response_model=Page[AssignmentOut], summary="Review assignments, oldest first")
def list_assignments(
    session: SessionDep,
    principal: Reviewer,
    assignee: Annotated[
        str | None, Query(min_length=1, max_length=100, description='a username, or "me"; QA specialists: their own')
    ] = None,
    assignment_status: Annotated[Literal["open", "done", "all"], Query(alias="status")] = "open",
    team: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Page[AssignmentOut]:
    """Supervisors see the assignments of their teams' interactions, admins all, QA specialists
    their own."""
    assignee_id = _listed_assignee(session, principal, assignee)
    total, rows = asg.listing(
        session, principal.scope, assignee_id=assignee_id, status=assignment_status, team_id=team, limit=limit,
        offset=offset,
    )  # fmt: skip
    return Page[AssignmentOut](total=total, limit=limit, offset=offset, items=views.assignments_out(session, rows))


@router.delete(
    "/assignments/{assignment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(NO_ASSIGNMENT),
    summary="Remove an assignment",
)
def delete_assignment(assignment_id: AssignmentId, session: SessionDep, principal: Assigner) -> Response:
    assignment = asg.visible(session, principal.scope, assignment_id)
    if assignment is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no assignment {assignment_id}")
    asg.unassign(session, assignment, actor=principal.username)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- sampling rules -----------------------------------------------------------------------------------


def _rule_visible(principal: Principal, rule: SamplingRule | None) -> bool:
    if rule is None:
        return False
    return principal.role == "admin" or (rule.team_id is not None and rule.team_id in principal.team_ids)


def _rule(session, principal: Principal, rule_id: int) -> SamplingRule:
    rule = session.get(SamplingRule, rule_id)
    if not _rule_visible(principal, rule):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no sampling rule {rule_id}")
    return rule


@router.post(
    "/sampling-rules",
    status_code=status.HTTP_201_CREATED,
    response_model=SamplingRuleOut,
    summary="Add a sampling rule (抽检计划)",
)
def create_sampling_rule(body: SamplingRuleIn, session: SessionDep, principal: Assigner) -> SamplingRuleOut:
    """Per agent and period, the share `rates[flag]` of the team's interactions of each flag is
    assigned to `assignees` when the rule runs (`POST /v1/sampling-rules/{id}/run`, or nightly with
    `qa-engine sample`). Supervisors: one of their teams (403 otherwise); admins: any team, or every
    team (null). An unknown team, an assignee who is not an active QA specialist, or every rate 0:
    422 saying why."""
    _own_team(principal, body.team_id)
    rule = SamplingRule(created_by=principal.username)
    _fill(session, rule, body)
    session.add(rule)
    session.flush()
    audit(session, principal.username, "sampling_rule.create", "sampling_rule", rule.id, **_described(rule))
    session.commit()
    return views.sampling_rule_out(rule)


def _fill(session, rule: SamplingRule, body: SamplingRuleIn) -> None:
    """Check `body` (team, rates, assignees; 422 saying what is wrong) and set the rule's fields."""
    if body.team_id is not None and session.get(Team, body.team_id) is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"no team {body.team_id!r}")
    rates = body.rates.model_dump()
    if not any(rates.values()):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "every rate is 0: the rule would sample nothing")
    people = [_specialist(session, username) for username in dict.fromkeys(body.assignees)]
    rule.name, rule.team_id, rule.rates, rule.period, rule.active = (
        body.name, body.team_id, rates, body.period, body.active
    )  # fmt: skip
    rule.assignees = people


def _described(rule: SamplingRule) -> dict:
    return {"name": rule.name, "team_id": rule.team_id, "rates": dict(rule.rates), "period": rule.period,
            "active": rule.active, "assignees": [u.username for u in rule.assignees]}  # fmt: skip


def _own_team(principal: Principal, team_id: str | None) -> None:
    if principal.role == "supervisor" and team_id not in principal.team_ids:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "supervisors keep sampling rules for their own teams")


@router.put(
    "/sampling-rules/{rule_id}",
    response_model=SamplingRuleOut,
    responses=errors(NO_RULE),
    summary="Change a sampling rule",
)
def update_sampling_rule(rule_id: RuleId, body: SamplingRuleIn, session: SessionDep, principal: Assigner) -> SamplingRuleOut:
    """Replace the rule's fields (pause it with `active: false`, change its rates or specialists).
    Its assignments stay; later runs top up to the new rates. Checked as when it is added."""
    rule = _rule(session, principal, rule_id)
    _own_team(principal, body.team_id)
    before = _described(rule)
    _fill(session, rule, body)
    session.flush()
    audit(session, principal.username, "sampling_rule.update", "sampling_rule", rule.id, before=before,
          after=_described(rule))  # fmt: skip
    session.commit()
    return views.sampling_rule_out(rule)


@router.get("/sampling-rules", response_model=list[SamplingRuleOut], summary="Sampling rules")
def list_sampling_rules(session: SessionDep, principal: Assigner) -> list[SamplingRuleOut]:
    """Admins see every rule; supervisors those of their teams."""
    stmt = select(SamplingRule).order_by(SamplingRule.id)
    if principal.role != "admin":
        stmt = stmt.where(SamplingRule.team_id.in_(sorted(principal.team_ids)))
    return [views.sampling_rule_out(rule) for rule in session.scalars(stmt)]


@router.get("/sampling-rules/{rule_id}", response_model=SamplingRuleOut, responses=errors(NO_RULE), summary="A sampling rule")
def get_sampling_rule(rule_id: RuleId, session: SessionDep, principal: Assigner) -> SamplingRuleOut:
    return views.sampling_rule_out(_rule(session, principal, rule_id))


@router.delete(
    "/sampling-rules/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(NO_RULE),
    summary="Remove a sampling rule (its assignments stay)",
)
def delete_sampling_rule(rule_id: RuleId, session: SessionDep, principal: Assigner) -> Response:
    rule = _rule(session, principal, rule_id)
    audit(session, principal.username, "sampling_rule.delete", "sampling_rule", rule.id, name=rule.name)
    session.delete(rule)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/sampling-rules/{rule_id}/run",
    response_model=SamplingRunOut,
    responses=errors(NO_RULE),
    summary="Run a sampling rule over a date range",
)
def run_sampling_rule(rule_id: RuleId, body: SamplingRunIn, session: SessionDep, principal: Assigner) -> SamplingRunOut:
    """Samples every period (week or day) that overlaps start..end, with the interactions up to
    `end`, and assigns what is missing. Deterministic and idempotent: running it again over the same
    days assigns nothing twice. End before start, more than 366 days, or no active QA specialist
    among the rule's assignees: 422 saying why."""
    rule = _rule(session, principal, rule_id)
    try:
        run = asg.run_rule(session, rule, body.start, body.end, actor=principal.username)
    except asg.AssignmentError as exc:
        raise _unprocessable(exc) from None
    session.commit()
    return SamplingRunOut(
        rule_id=rule.id,
        start=run.start,
        end=run.end,
        buckets=[SamplingBucketOut(**vars(b)) for b in run.buckets],
        assigned=views.assignments_out(session, run.assigned),
    )
