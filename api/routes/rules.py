"""Rule packs and scorecards: list, read, upload a new version (validated), rescore a date range."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, HTTPException, Path, Query, status
from sqlalchemy.exc import IntegrityError
from starlette.convertors import StringConvertor, register_url_convertor

from api.deps import ConfigDep, Reviewer, RuleEditor, ScorerDep, SessionDep
from api.openapi import errors
from api.schemas import (
    MAX_ID,
    DiffItemOut,
    DiffSummary,
    RescoreIn,
    RescoreOut,
    RuleDocOut,
    RuleDocSummary,
    RuleUploadIn,
    RuleVersionRef,
)
from qa_engine.rulepack import RulePackError
from qa_engine.store import repository as repo
from qa_engine.store import rule_versions as rv
from qa_engine.store.rescore import count_in_range, rescore

router = APIRouter(prefix="/v1/rules", tags=["rules"])

Kind = Literal["packs", "scorecards"]
KIND = {"packs": "pack", "scorecards": "scorecard"}


class KindConvertor(StringConvertor):
    """`{kind:rule_kind}` matches only the kinds, so /v1/rules/rescore is not read as a kind: other
    methods there get 405 with `Allow: POST`, not 422 for a kind named "rescore"."""

    regex = "|".join(KIND)


register_url_convertor("rule_kind", KindConvertor())
NO_KIND = {404: "no such kind (packs, scorecards)"}
Name = Annotated[str, Path(pattern=rv.NAME_PATTERN, description="pack name, or the scorecard's channel (call, chat)")]


def _ref(doc: rv.RuleDoc) -> RuleVersionRef:
    return RuleVersionRef(
        version=doc.version,
        declared_version=doc.declared_version,
        sha256=doc.sha256,
        comment=doc.comment,
        uploaded_by=doc.uploaded_by,
        created_at=doc.created_at,
    )


def _out(doc: rv.RuleDoc) -> RuleDocOut:
    return RuleDocOut(kind=doc.kind, name=doc.name, content=doc.content, **_ref(doc).model_dump())


def _enabled(scorer, kind: str, name: str, builtin: rv.RuleDoc | None) -> bool:
    if builtin is None:
        return False
    return kind == "scorecard" or name in scorer.settings.rule_packs


@router.get(
    "/{kind:rule_kind}",
    response_model=list[RuleDocSummary],
    responses=errors(NO_KIND),
    summary="List rule packs or scorecards",
)
def list_rule_docs(kind: Kind, session: SessionDep, principal: Reviewer, scorer: ScorerDep) -> list[RuleDocSummary]:
    """Every built-in file and every uploaded version."""
    k = KIND[kind]
    uploaded: dict[str, list[rv.RuleDoc]] = {}
    for doc in rv.versions(session, k):
        uploaded.setdefault(doc.name, []).append(doc)
    out = []
    for name in rv.names(session, scorer.settings, k):
        builtin = rv.builtin(scorer.settings, k, name)
        out.append(
            RuleDocSummary(
                kind=k,
                name=name,
                enabled=_enabled(scorer, k, name, builtin),
                builtin=_ref(builtin) if builtin else None,
                versions=[_ref(d) for d in uploaded.get(name, [])],
            )
        )
    return out


@router.get(
    "/{kind:rule_kind}/{name}",
    response_model=RuleDocOut,
    responses=errors({404: "no such kind, built-in file or uploaded version"}),
    summary="Read a rule pack or scorecard",
)
def get_rule_doc(
    kind: Kind,
    name: Name,
    session: SessionDep,
    principal: Reviewer,
    scorer: ScorerDep,
    version: Annotated[int | None, Query(ge=1, le=MAX_ID, description="uploaded version; omit for the built-in file")] = None,
) -> RuleDocOut:
    k = KIND[kind]
    doc = rv.builtin(scorer.settings, k, name) if version is None else rv.get(session, k, name, version)
    if doc is None:
        which = "built-in" if version is None else f"version {version} of"
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {which} {k} {name!r}")
    return _out(doc)


@router.post(
    "/{kind:rule_kind}/{name}",
    response_model=RuleDocOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors({**NO_KIND, 409: "another version was uploaded at the same time: retry"}),
    summary="Upload a new version of a rule pack or scorecard",
)
def upload_rule_doc(
    kind: Kind, name: Name, body: RuleUploadIn, session: SessionDep, principal: RuleEditor, scorer: ScorerDep
) -> RuleDocOut:
    """Validated with the engine's own loaders (YAML, operators, rule references and ids; a scorecard's
    channel, dimensions and rules), then stored as the next version. Live scoring keeps the built-in
    files; use the version in a rescore. Invalid content: 422 with the file and rule at fault."""
    k = KIND[kind]
    try:
        doc = rv.add_version(
            session, scorer.settings, k, name, body.content, uploaded_by=principal.username, comment=body.comment
        )
        repo.audit(session, principal.username, f"rules.upload_{k}", k, name, version=doc.version, sha256=doc.sha256)
        session.commit()
    except RulePackError as exc:
        raise HTTPException(422, str(exc)) from exc
    except IntegrityError:
        session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, "another version was uploaded at the same time; retry") from None
    return _out(doc)


def _contents(session, kind: str, chosen: dict[str, int]) -> dict[str, str]:
    out = {}
    for name, version in chosen.items():
        doc = rv.get(session, kind, name, version)
        if doc is None:
            raise HTTPException(422, f"no version {version} of {kind} {name!r}")
        out[name] = doc.content
    return out


@router.post("/rescore", response_model=RescoreOut, summary="Rescore a date range with chosen versions")
def rescore_range(
    body: Annotated[RescoreIn, Body()],
    session: SessionDep,
    principal: RuleEditor,
    scorer: ScorerDep,
    config: ConfigDep,
) -> RescoreOut:
    """Scores every stored interaction in the range (optionally one agent or team) with the chosen
    uploaded versions (built-in files for the rest), stores each as a new current run (earlier runs,
    the automatic one included, are kept) and returns the per-interaction score difference and summary
    counts. `dry_run` only reports. Ranges above QA_RESCORE_MAX_INTERACTIONS are refused: split them."""
    if body.end < body.start:
        raise HTTPException(422, "end is before start")
    limit = config.rescore_max_interactions
    n = count_in_range(session, body.start, body.end, agent_id=body.agent_id, team_id=body.team_id)
    if n > limit:
        raise HTTPException(422, f"{n} interactions in the range, at most {limit} per rescore; split the range")
    packs = _contents(session, "pack", body.packs)
    cards = _contents(session, "scorecard", {str(channel): v for channel, v in body.scorecards.items()})
    scorer.load()
    try:
        inspector = scorer.inspector_for(packs, cards)
    except RulePackError as exc:
        raise HTTPException(422, f"the chosen versions do not load together: {exc}") from exc
    chosen = {"packs": dict(body.packs), "scorecards": dict(body.scorecards)}
    report = rescore(
        session,
        inspector,
        start=body.start,
        end=body.end,
        agent_id=body.agent_id,
        team_id=body.team_id,
        rule_versions=chosen,
        actor=principal.username,
        dry_run=body.dry_run,
    )
    if len(report.items) > limit:  # rows arrived between the count and the rescore
        session.rollback()
        raise HTTPException(422, f"more than {limit} interactions in the range; split it")
    session.commit()
    return RescoreOut(
        dry_run=body.dry_run,
        rule_versions=chosen,
        ruleset_version=inspector.ruleset.version,
        summary=DiffSummary(**report.summary()),
        items=[DiffItemOut(**vars(i), delta=i.delta) for i in report.items],
    )
