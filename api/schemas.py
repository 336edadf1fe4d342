"""Request and response bodies of the API (the contract's own models are reused where they fit)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, computed_field

from qa_engine.schema import (
    Channel,
    DimensionScore,
    EmotionResult,
    EntityId,
    Flag,
    Hit,
    Interaction,
    IsoDate,
    Number,
    Role,
    SatisfactionResult,
    ScriptResult,
    Stats,
    json_number,
)
from qa_engine.store.accounts import USERNAME_PATTERN

T = TypeVar("T")

MAX_ID = 2_147_483_647  # ids are 32-bit integers on PostgreSQL; larger ones cannot name a row
DbId = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(json_number)]  # in bodies: true or "17" is not an id


# --- errors -------------------------------------------------------------------------------------


class ErrorOut(BaseModel):
    """Every error but request validation (422, see HTTPValidationError) has this body."""

    detail: str = Field(description="what is wrong, in one message")


# --- interactions ---------------------------------------------------------------------------------


class TurnOut(BaseModel):
    index: int
    role: Role
    text: str = Field(description="redacted text; hit offsets point into it")
    start: float | None = None
    end: float | None = None
    asr_confidence: float | None = None


class HitOut(Hit):
    id: int = Field(description="use it to confirm or dismiss the hit in a review")
    decision: Literal["confirm", "dismiss"] | None = Field(default=None, description="latest review decision")


class ResultOut(BaseModel):
    id: int
    created_at: datetime
    current: bool
    content_hash: str
    score: float
    flag: Flag
    critical: list[str]
    dimensions: dict[str, DimensionScore]
    hits: list[HitOut]
    script: ScriptResult
    emotion: EmotionResult
    satisfaction: SatisfactionResult | None = Field(
        default=None, description="predicted customer satisfaction; null for runs scored without the model"
    )
    stats: Stats
    versions: dict[str, Any]


class ResultRef(BaseModel):
    id: int
    created_at: datetime
    current: bool
    score: float
    flag: Flag
    ruleset_version: str | None
    content_hash: str


class FinalOut(BaseModel):
    """The score after review; the automatic result is unchanged."""

    score: float
    flag: Flag
    dimensions: dict[str, float]
    review_id: int
    reviewed_at: datetime
    reviewer: str


class HitDecisionBody(BaseModel):
    hit_id: DbId
    decision: Literal["confirm", "dismiss"]
    note: str | None = Field(default=None, max_length=2000)


class OverrideBody(BaseModel):
    dimension: str
    score: Number = Field(ge=0, le=100)
    reason: str = Field(min_length=1, max_length=2000)


class ReviewOut(BaseModel):
    id: int
    result_id: int
    reviewer: str
    created_at: datetime
    comment: str | None
    appeal_id: int | None
    hits: list[HitDecisionBody]
    overrides: list[OverrideBody]
    final_score: float
    final_flag: Flag
    final_dimensions: dict[str, float]


class AppealOut(BaseModel):
    id: int
    interaction_id: str
    result_id: int
    agent_id: str | None
    filed_by: str
    reason: str
    hit_ids: list[int]
    status: Literal["open", "accepted", "rejected"]
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None


class ContestedHit(BaseModel):
    hit_id: int
    rule_id: str
    dimension: str
    severity: str
    text: str
    decision: Literal["confirm", "dismiss"] | None = Field(description="latest review decision")


class AppealItem(AppealOut):
    """An appeal in the inbox (or on the agent's page) with what it is about and its outcome."""

    team_id: str | None
    channel: Channel
    occurred_at: datetime
    score: float = Field(description="automatic score of the appealed run")
    flag: Flag
    final_score: float | None = Field(description="after review (the appeal's decision included); null before")
    final_flag: Flag | None
    current: bool = Field(description="the appealed run is still the interaction's current one")
    contested: list[ContestedHit] = Field(description="the hits the appeal contests, with their decision")


class InteractionOut(BaseModel):
    interaction_id: str
    channel: Channel
    agent_id: str | None
    team_id: str | None
    started_at: datetime | None
    received_at: datetime
    metadata: dict[str, Any]
    turns: list[TurnOut]
    result: ResultOut
    final: FinalOut | None = Field(description="after review; null when not reviewed")
    reviews: list[ReviewOut]
    appeals: list[AppealOut]
    appeal_deadline: datetime = Field(
        description="the current run may be appealed until then (QA_APPEAL_WINDOW_DAYS after it was scored)"
    )
    history: list[ResultRef] = Field(description="every scoring run, oldest first")
    missing_steps: list[MissingStep] = Field(
        default_factory=list, description="required script steps the current run did not find (each cost points)"
    )


class IngestOut(BaseModel):
    interaction_id: str
    created: bool = Field(description="false: same content as before, the stored result is returned")
    result: ResultOut


class MissingStep(BaseModel):
    step: str = Field(description="the scorecard's script step, e.g. identity")
    rule_id: str = Field(description="the rule that finds it (its name: GET /v1/rule-names)")


class FlagReason(BaseModel):
    rule_id: str
    dimension: str
    severity: str
    hits: int


class InteractionItem(BaseModel):
    interaction_id: str
    channel: Channel
    agent_id: str | None
    team_id: str | None
    occurred_at: datetime
    result_id: int
    score: float
    flag: Flag
    critical: list[str]
    final_score: float | None
    final_flag: Flag | None
    appeal_id: int | None = Field(default=None, description="the newest appeal of the current run")
    appeal_status: Literal["open", "accepted", "rejected"] | None = None
    # Why it is flagged, so a list can say it without opening it (automatic result).
    findings: int = Field(default=0, description="hits that are findings (severity above info)")
    top_rules: list[FlagReason] = Field(default_factory=list, description="most severe, then most frequent, first (3 at most)")
    low_dimensions: dict[str, float] = Field(default_factory=dict, description="dimensions below 100, lowest first")
    missing_steps: list[MissingStep] = Field(default_factory=list, description="required script steps not found")
    reviewed_by: str | None = Field(default=None, description="who made the latest review")
    reviewed_at: datetime | None = None
    satisfaction: float | None = Field(default=None, description="predicted customer satisfaction (-2..2)")
    dissatisfied: float | None = Field(default=None, description="probability that the customer is dissatisfied")


class Page(BaseModel, Generic[T]):
    total: int
    limit: int
    offset: int
    items: list[T]


# --- reviews and appeals ------------------------------------------------------------------------


class ReviewIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "hits": [{"hit_id": 17, "decision": "dismiss", "note": "客户原话，不是坐席说的"}],
                    "overrides": [{"dimension": "empathy", "score": 90, "reason": "语气安抚到位，规则未识别"}],
                    "comment": "复核完成",
                }
            ]
        }
    )

    hits: list[HitDecisionBody] = Field(default_factory=list, max_length=1000)
    overrides: list[OverrideBody] = Field(default_factory=list, max_length=20)
    comment: str | None = Field(default=None, max_length=4000)


class ReviewCreated(BaseModel):
    review: ReviewOut
    final: FinalOut


class AppealIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "“不归我管”是在转述客户的话", "hit_ids": [17]}]})

    reason: str = Field(min_length=1, max_length=4000)
    hit_ids: list[DbId] = Field(default_factory=list, max_length=1000)


class DecisionIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "decision": "accepted",
                    "reason": "录音核实属实",
                    "hits": [{"hit_id": 17, "decision": "dismiss"}],
                },
                {"decision": "rejected", "reason": "禁语确为坐席所说"},
            ]
        }
    )

    decision: Literal["accepted", "rejected"]
    reason: str = Field(min_length=1, max_length=4000)
    hits: list[HitDecisionBody] = Field(default_factory=list, max_length=1000)
    overrides: list[OverrideBody] = Field(default_factory=list, max_length=20)


class DecisionOut(BaseModel):
    appeal: AppealOut
    review: ReviewOut = Field(description="the review that records the decision")
    final: FinalOut


# --- summaries ----------------------------------------------------------------------------------


class FlagCounts(BaseModel):
    red: int
    yellow: int
    green: int


class DayOut(BaseModel):
    date: date
    interactions: int
    average_score: float | None
    red: int
    yellow: int
    green: int
    critical: int = Field(description="interactions with a critical (一票否决) violation")
    reviewed: int = Field(description="interactions with a final score")
    automatic_average_score: float | None = Field(description="the same day by automatic scores")


class AutomaticKpis(BaseModel):
    """The same interactions by automatic scores alone (before any review)."""

    average_score: float | None
    pass_rate: float | None
    flags: FlagCounts


class KpiOut(BaseModel):
    start: date | None
    end: date | None
    interactions: int
    average_score: float | None
    pass_rate: float | None = Field(description="share of interactions not flagged red")
    flags: FlagCounts
    critical: int = Field(description="interactions with a critical (一票否决) violation")
    reviewed: int = Field(description="interactions with a final score (reviewed or appeal decided)")
    automatic: AutomaticKpis = Field(description="average, pass rate and flags by automatic scores")
    dimensions: dict[str, float | None] = Field(description="average score per dimension")
    politeness_rate: float | None = Field(description="礼貌用语使用率: polite agent turns / agent turns")
    forbidden_per_100: float | None = Field(description="服务禁语 hits per 100 interactions")
    empathy_rate: float | None = Field(description="agent turns with empathy / agent turns")
    script_compliance_rate: float | None = Field(description="share with no script deduction")
    deescalation_rate: float | None = Field(
        description="情绪安抚有效率: de-escalated / interactions where the customer started negative"
    )
    customer_negative_start: int
    average_silence_s: float | None
    average_interruptions: float | None
    average_satisfaction: float | None = Field(
        default=None, description="average predicted customer satisfaction (-2..2) of the runs with a prediction"
    )
    dissatisfied_share: float | None = Field(
        default=None,
        description="share of the runs with a prediction whose customer is predicted dissatisfied (probability >= 0.5)",
    )
    satisfaction_n: int = Field(default=0, description="runs with a satisfaction prediction")
    daily: list[DayOut]


class AgentWarning(BaseModel):
    """Red / yellow / green warning of an agent over the range (thresholds: QA_WARNING_*)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "level": "red",
                    "kind": "consecutive_low",
                    "below": 60,
                    "reason": "3 consecutive working days with a daily average below 60",
                    "days": ["2026-11-18", "2026-11-19", "2026-11-20"],
                }
            ]
        }
    )

    level: Flag
    kind: Literal["critical", "consecutive_low"] | None = Field(
        default=None, description="critical: a 一票否决 violation in the range; consecutive_low: low days in a row"
    )
    below: float | None = Field(default=None, description="the daily average threshold of consecutive_low")
    reason: str | None = Field(description="why, when not green")
    days: list[date] = Field(description="the consecutive working days behind a red or yellow warning")


_DAY = {"date": "2026-11-20", "interactions": 41, "average_score": 57.3, "red": 19, "yellow": 12, "green": 10,
        "critical": 2, "reviewed": 9, "automatic_average_score": 55.8}  # fmt: skip
_KPIS: dict[str, Any] = {
    "start": "2026-11-01",
    "end": "2026-11-30",
    "interactions": 812,
    "average_score": 78.4,
    "pass_rate": 0.8867,
    "flags": {"red": 92, "yellow": 241, "green": 479},
    "critical": 7,
    "reviewed": 130,
    "automatic": {"average_score": 77.1, "pass_rate": 0.8695, "flags": {"red": 106, "yellow": 250, "green": 456}},
    "dimensions": {"politeness": 86.2, "forbidden_words": 91.5, "empathy": 74.0, "script_compliance": 81.9,
                   "emotion": 88.7, "call_signals": 95.1},
    "politeness_rate": 0.6421,
    "forbidden_per_100": 9.85,
    "empathy_rate": 0.2113,
    "script_compliance_rate": 0.5542,
    "deescalation_rate": 0.7031,
    "customer_negative_start": 256,
    "average_silence_s": 12.4,
    "average_interruptions": 0.83,
    "average_satisfaction": -0.214,
    "dissatisfied_share": 0.1872,
    "satisfaction_n": 812,
    "daily": [_DAY],
}  # fmt: skip


class AgentSummary(KpiOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_KPIS,
                    "agent_id": "A1024",
                    "team_id": "T-after-sales",
                    "rank": 3,
                    "rank_min_interactions": 10,
                    "team_agents": 12,
                    "warning": {
                        "level": "red",
                        "kind": "consecutive_low",
                        "below": 60,
                        "reason": "3 consecutive working days with a daily average below 60",
                        "days": ["2026-11-18", "2026-11-19", "2026-11-20"],
                    },
                }
            ]
        }
    )

    agent_id: str
    team_id: str | None = Field(
        description="the agent's team; for a supervisor whose teams the agent left, the supervisor's team "
        "the agent last handled an interaction in"
    )
    rank: int | None = Field(
        description="rank by average score within the team over the range (1 = best); null with fewer than "
        "rank_min_interactions interactions"
    )
    rank_note: str | None = Field(default=None, description="why there is no rank")
    rank_min_interactions: int = Field(description="interactions an agent needs in the range to be ranked")
    team_agents: int = Field(description="agents of the team ranked over the range")
    warning: AgentWarning


class AgentRow(BaseModel):
    agent_id: str | None
    interactions: int
    average_score: float | None
    pass_rate: float | None
    flags: FlagCounts
    critical: int
    reviewed: int
    automatic: AutomaticKpis
    average_satisfaction: float | None = None
    dissatisfied_share: float | None = None
    satisfaction_n: int = 0
    rank: int | None = None
    rank_note: str | None = Field(default=None, description="why there is no rank")
    warning: AgentWarning | None = None


class TeamWarning(AgentWarning):
    agent_id: str


class TeamSummary(KpiOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_KPIS,
                    "team_id": "T-after-sales",
                    "rank_min_interactions": 10,
                    "agents": [
                        {
                            "agent_id": "A1024",
                            "interactions": 96,
                            "average_score": 63.2,
                            "pass_rate": 0.6875,
                            "flags": {"red": 30, "yellow": 31, "green": 35},
                            "average_satisfaction": -0.41,
                            "dissatisfied_share": 0.2604,
                            "satisfaction_n": 96,
                            "critical": 0,
                            "reviewed": 14,
                            "automatic": {
                                "average_score": 61.9,
                                "pass_rate": 0.6667,
                                "flags": {"red": 32, "yellow": 30, "green": 34},
                            },
                            "rank": 12,
                            "warning": {
                                "level": "red",
                                "kind": "consecutive_low",
                                "below": 60,
                                "reason": "3 consecutive working days with a daily average below 60",
                                "days": ["2026-11-18", "2026-11-19", "2026-11-20"],
                            },
                        },
                    ],
                    "warnings": [
                        {
                            "agent_id": "A1024",
                            "level": "red",
                            "kind": "consecutive_low",
                            "below": 60,
                            "reason": "3 consecutive working days with a daily average below 60",
                            "days": ["2026-11-18", "2026-11-19", "2026-11-20"],
                        },
                    ],
                }  # fmt: skip
            ]
        }
    )

    team_id: str
    rank_min_interactions: int = Field(description="interactions an agent needs in the range to be ranked")
    agents: list[AgentRow]
    warnings: list[TeamWarning] = Field(description="agents with a red or yellow warning, red first")


# --- access -------------------------------------------------------------------------------------


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class UserIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "username": "zhang.wei",
                    "password": "a long passphrase",
                    "role": "supervisor",
                    "team_ids": ["T-after-sales"],
                },
                {"username": "a1024", "password": "another passphrase", "role": "agent", "agent_id": "A1024"},
                {"username": "crm-sync", "role": "ingest"},
            ]
        }
    )

    username: str = Field(min_length=1, max_length=100, pattern=USERNAME_PATTERN)
    password: str | None = Field(default=None, min_length=8, max_length=200, description="omit for machine users")
    role: Literal["admin", "supervisor", "qa_specialist", "agent", "ingest"]
    agent_id: EntityId | None = Field(default=None, description="required for role agent")
    team_ids: list[EntityId] = Field(default_factory=list, description="teams a supervisor sees")


class UserOut(BaseModel):
    id: int
    username: str
    role: str
    agent_id: str | None
    team_ids: list[str]
    is_active: bool


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["crm-sync"])


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    key: str = Field(description="shown once; only its hash is stored")


# --- alerts -----------------------------------------------------------------------------------------

AlertEvent = Literal["critical_hit", "red_result"]
# `\s` differs between the pattern's readers: ECMA regex (generated clients, schemathesis) leaves out
# U+0085 and Rust's (pydantic) U+FEFF, so both are named and every reader accepts the same URLs.
WebhookUrl = Annotated[
    str,
    Field(
        min_length=8,
        max_length=2000,
        pattern=r"^https?://[^\s\x85\ufeff/?#]+[^\s\x85\ufeff]*$",
        examples=["https://ops.example.com/hooks"],
    ),
]


class AlertWebhookIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "售后组告警", "url": "https://ops.example.com/qa-alerts", "team_id": "T-after-sales",
                 "events": ["critical_hit", "red_result"]}
            ]
        }
    )  # fmt: skip

    name: str = Field(min_length=1, max_length=100)
    url: WebhookUrl = Field(description="receives a JSON POST, signed in X-QA-Signature (http or https)")
    team_id: EntityId | None = Field(default=None, description="only this team's interactions; null: every team")
    events: list[AlertEvent] = Field(default=["critical_hit", "red_result"], min_length=1, max_length=2)
    secret: str | None = Field(
        default=None, min_length=16, max_length=200, description="HMAC key; omitted: one is generated and shown once"
    )


class AlertWebhookOut(BaseModel):
    id: int
    name: str
    url: str
    team_id: str | None
    events: list[AlertEvent]
    active: bool
    created_at: datetime


class AlertWebhookCreated(AlertWebhookOut):
    secret: str = Field(description="shown once: the receiver checks X-QA-Signature with it")


class AlertDeliveryOut(BaseModel):
    id: int
    interaction_id: str
    events: list[AlertEvent]
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status: int | None = Field(description="the receiver's HTTP status of the last try")
    last_error: str | None
    next_attempt_at: datetime
    delivered_at: datetime | None
    created_at: datetime


# --- review assignment and sampling (抽检) ------------------------------------------------------------

Username = Annotated[str, Field(min_length=1, max_length=100, examples=["qa.li"])]
Rate = Annotated[float, Field(ge=0, le=1), BeforeValidator(json_number)]


class AssignIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"interaction_ids": ["c-20261122-0001", "c-20261122-0002"], "assignee": "qa.li"}]}
    )

    interaction_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=1, max_length=500)
    assignee: Username = Field(description="an active QA specialist (role qa_specialist)")


class AssignmentOut(BaseModel):
    id: int
    interaction_id: str
    assignee: str
    source: Literal["manual", "sampling"]
    rule_id: int | None = Field(description="the sampling rule that assigned it (source sampling)")
    assigned_by: str
    assigned_at: datetime
    status: Literal["open", "done"] = Field(description="done once the interaction has a review made since")
    reviewed_at: datetime | None
    reviewed_by: str | None


class AssignedItem(BaseModel):
    interaction_id: str
    outcome: Literal["assigned", "reassigned", "unchanged"]
    previous_assignee: str | None = Field(description="who had it before (reassigned)")


class AssignOut(BaseModel):
    assigned: int
    reassigned: int
    unchanged: int
    items: list[AssignedItem]


class SpecialistOut(BaseModel):
    username: str
    open_assignments: int = Field(description="open assignments, all teams")


class FlagRates(BaseModel):
    model_config = ConfigDict(extra="forbid")

    green: Rate = 0.0
    yellow: Rate = 0.0
    red: Rate = 0.0


class SamplingRuleIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "售后组周抽检", "team_id": "T-after-sales", "rates": {"green": 0.05, "yellow": 0.2, "red": 1.0},
                 "period": "week", "assignees": ["qa.li", "qa.wang"]}
            ]
        }
    )  # fmt: skip

    name: str = Field(min_length=1, max_length=100)
    team_id: EntityId | None = Field(default=None, description="this team's interactions; null: every team (admin)")
    rates: FlagRates = Field(description="flag -> share sampled per agent and period (0..1; 1 = every one)")
    period: Literal["week", "day"] = Field(default="week", description="ISO week (Monday to Sunday) or day")
    assignees: list[Username] = Field(min_length=1, max_length=50, description="QA specialists, least loaded first")
    active: Annotated[bool, Strict()] = Field(default=True, description="run by `qa-engine sample`")


class SamplingRuleOut(BaseModel):
    id: int
    name: str
    team_id: str | None
    rates: FlagRates
    period: Literal["week", "day"]
    assignees: list[str]
    active: bool
    created_by: str
    created_at: datetime


class SamplingRunIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"start": "2026-11-16", "end": "2026-11-22"}]})

    start: IsoDate = Field(description="first local date (inclusive); its whole period is sampled")
    end: IsoDate = Field(description="last local date (inclusive)")


class SamplingBucketOut(BaseModel):
    agent_id: str | None
    period_start: date
    flag: Flag
    candidates: int = Field(description="interactions of this agent, period and flag up to `end`")
    target: int = Field(description="how many the rate asks for (rounded up)")
    covered: int = Field(description="already assigned or reviewed before this run")
    assigned: int = Field(description="assigned by this run")


class SamplingRunOut(BaseModel):
    rule_id: int
    start: date
    end: date
    buckets: list[SamplingBucketOut]
    assigned: list[AssignmentOut]


class QueueItem(InteractionItem):
    """A review-queue row: the interaction, and to whom it is assigned."""

    assignment_id: int | None = Field(description="its assignment, if it has one")
    assigned_to: str | None = Field(description="the QA specialist it is assigned to")
    assignment_status: Literal["open", "done"] | None


# --- dashboards and the review UI ---------------------------------------------------------------


class TeamOut(BaseModel):
    team_id: str
    name: str | None
    agents: list[str]


class RuleQuality(BaseModel):
    rule_id: str
    dimension: str
    severity: str
    hits: int = Field(description="hits in current results")
    reviewed: int = Field(description="hits with a review decision (the latest one counts)")
    confirmed: int
    dismissed: int
    precision: float | None = Field(description="confirmed / reviewed; null before any review")


class RuleName(BaseModel):
    rule_id: str
    dimension: str
    operator: str = Field(description="classifier and similar: a model's judgement (the hit's score is its confidence)")
    severity: str
    name_zh: str
    name_en: str


class RuleCount(BaseModel):
    rule_id: str
    dimension: str
    severity: str
    hits: int
    interactions: int
    dismissed: int = Field(description="of these hits, dismissed by reviewers")


class ScoreBand(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: int = Field(alias="from", serialization_alias="from")
    to: int
    count: int = Field(description="by final scores (automatic where not reviewed)")
    automatic: int = Field(description="by automatic scores")


class ScoreDistribution(BaseModel):
    team_id: str
    start: date | None
    end: date | None
    bands: list[ScoreBand] = Field(description="10-point bands; the last one includes 100")


class AudioLink(BaseModel):
    url: str = Field(description="plays without other credentials until it expires")
    expires_in: int


# --- rules -------------------------------------------------------------------------------------------


class RuleVersionRef(BaseModel):
    version: int | None = Field(description="uploaded version number; null: the built-in file")
    declared_version: str | None = Field(description="the YAML's own `version:` field")
    sha256: str
    comment: str | None = None
    uploaded_by: str | None = None
    created_at: datetime | None = None


class RuleDocSummary(BaseModel):
    kind: Literal["pack", "scorecard"]
    name: str = Field(description="pack name, or the scorecard's channel")
    enabled: bool = Field(description="live scoring loads it (built-in file)")
    builtin: RuleVersionRef | None
    versions: list[RuleVersionRef] = Field(description="uploaded versions, oldest first")


class RuleDocOut(RuleVersionRef):
    kind: Literal["pack", "scorecard"]
    name: str
    content: str = Field(description="the YAML text")


class RuleUploadIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "content": "pack: politeness\nversion: 2026.11-b\nrules:\n  - id: politeness.thanks\n"
                    "    dimension: politeness\n    operator: keyword\n    roles: [agent]\n    severity: info\n"
                    "    words: [谢谢, 感谢]\n    explanation: 礼貌用语「{text}」\n",
                    "comment": "致谢词表试行版",
                }
            ]
        }
    )

    content: str = Field(min_length=1, max_length=1_000_000, description="the rule pack or scorecard YAML")
    comment: str | None = Field(default=None, max_length=2000)


class RescoreIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"start": "2026-11-01", "end": "2026-11-30", "packs": {"forbidden": 2}, "scorecards": {"chat": 1}},
                {"start": "2026-11-20", "end": "2026-11-20", "team_id": "T-after-sales", "dry_run": True},
            ]
        }
    )

    start: IsoDate = Field(description="first local date (inclusive)")
    end: IsoDate = Field(description="last local date (inclusive)")
    agent_id: str | None = None
    team_id: str | None = None
    packs: dict[str, DbId] = Field(default_factory=dict, description="pack name -> uploaded version; others built-in")
    scorecards: dict[Literal["call", "chat"], DbId] = Field(
        default_factory=dict, description="channel -> uploaded scorecard version; others built-in"
    )
    dry_run: Annotated[bool, Strict()] = Field(default=False, description="report the difference without storing new runs")


class DiffItemOut(BaseModel):
    interaction_id: str
    old_result_id: int
    new_result_id: int | None = Field(description="null on a dry run")
    old_score: float
    new_score: float
    delta: float
    old_flag: Flag
    new_flag: Flag


class DiffSummary(BaseModel):
    interactions: int
    score_changed: int
    flag_changed: int
    improved: int
    worsened: int
    unchanged: int
    mean_delta: float | None
    flag_transitions: dict[str, int] = Field(description='e.g. {"red->yellow": 3}')
    old_flags: dict[str, int]
    new_flags: dict[str, int]


class RescoreOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "dry_run": False,
                    "rule_versions": {"packs": {"forbidden": 2}, "scorecards": {}},
                    "ruleset_version": "3f9a1c0b7d2e",
                    "summary": {
                        "interactions": 2,
                        "score_changed": 1,
                        "flag_changed": 1,
                        "improved": 1,
                        "worsened": 0,
                        "unchanged": 1,
                        "mean_delta": 6.0,
                        "flag_transitions": {"yellow->green": 1},
                        "old_flags": {"yellow": 1, "green": 1},
                        "new_flags": {"green": 2},
                    },
                    "items": [
                        {
                            "interaction_id": "chat-20261120-0007",
                            "old_result_id": 311,
                            "new_result_id": 902,
                            "old_score": 76.0,
                            "new_score": 88.0,
                            "delta": 12.0,
                            "old_flag": "yellow",
                            "new_flag": "green",
                        },
                        {
                            "interaction_id": "chat-20261120-0008",
                            "old_result_id": 312,
                            "new_result_id": 903,
                            "old_score": 95.5,
                            "new_score": 95.5,
                            "delta": 0.0,
                            "old_flag": "green",
                            "new_flag": "green",
                        },
                    ],
                }  # fmt: skip
            ]
        }
    )

    dry_run: bool
    rule_versions: dict[str, dict[str, int]]
    ruleset_version: str
    summary: DiffSummary
    items: list[DiffItemOut] = Field(description="one per interaction, by interaction id")


# --- background jobs: audio uploads, queued interactions ---------------------------------------------

JobStatus = Literal["queued", "running", "done", "failed"]


class JobOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_id": "5f0c6a3e9b2d4c41a8e7d1f2a3b4c5d6",
                    "interaction_id": "call-20261122-0007",
                    "status": "done",
                    "created_at": "2026-11-22T02:15:00Z",
                    "updated_at": "2026-11-22T02:15:09Z",
                    "result_id": 42,
                    "score": 86.5,
                    "flag": "green",
                    "error": None,
                    "status_url": "/v1/jobs/5f0c6a3e9b2d4c41a8e7d1f2a3b4c5d6",
                }
            ]
        }
    )

    job_id: str
    interaction_id: str
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    result_id: int | None
    score: float | None = None
    flag: Flag | None = None
    error: str | None = Field(default=None, description="why it failed")

    @computed_field(description="poll it: GET this path")  # type: ignore[prop-decorator]
    @property
    def status_url(self) -> str:
        return f"/v1/jobs/{self.job_id}"


MAX_BULK = 1000


class BulkIn(BaseModel):
    interactions: list[Interaction] = Field(
        min_length=1,
        max_length=MAX_BULK,
        description=f"1 to {MAX_BULK} interactions, each as for POST /v1/interactions",
    )


class BulkJobOut(BaseModel):
    index: int = Field(description="position of the interaction in the request")
    interaction_id: str
    job_id: str
    status: JobStatus
    duplicate: bool = Field(
        description="the same content is already queued, running or stored: this is the existing job, "
        "nothing new was queued for it"
    )

    @computed_field(description="poll it: GET this path")  # type: ignore[prop-decorator]
    @property
    def status_url(self) -> str:
        return f"/v1/jobs/{self.job_id}"


class BulkOut(BaseModel):
    batch_id: str
    accepted: int = Field(description="interactions queued by this request")
    duplicates: int = Field(description="interactions whose content was already queued, running or stored")
    jobs: list[BulkJobOut] = Field(description="one per interaction sent, in the order sent")

    @computed_field(description="the whole request's progress: GET this path")  # type: ignore[prop-decorator]
    @property
    def status_url(self) -> str:
        return f"/v1/interactions/bulk/{self.batch_id}"


class BulkStatusOut(BaseModel):
    batch_id: str
    total: int = Field(description="jobs created by the request (duplicates of other requests' jobs are not counted)")
    queued: int
    running: int
    done: int
    failed: int
    finished: bool = Field(description="no job of the request is queued or running")
    jobs: list[JobOut]
