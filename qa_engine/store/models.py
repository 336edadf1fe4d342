"""Database tables (SQLAlchemy 2.0 typed declarative models).

An interaction keeps every scoring run as a `ResultRow`; exactly one per interaction is current
(a partial unique index enforces it). Reviews and appeals never change a result: decisions on hits
and manual dimension scores are their own rows, and the final score is stored on the review.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    exists,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from qa_engine.store.types import JSONType, UTCDateTime, utcnow

ROLES = ("admin", "supervisor", "qa_specialist", "agent", "ingest")
FLAGS = ("green", "yellow", "red")
DECISIONS = ("confirm", "dismiss")
APPEAL_STATUSES = ("open", "accepted", "rejected")
RULE_KINDS = ("pack", "scorecard")
JOB_STATUSES = ("queued", "running", "done", "failed")
JOB_KINDS = ("audio", "interaction")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {dict[str, Any]: JSONType, list[Any]: JSONType, datetime: UTCDateTime}


# --- organisation -----------------------------------------------------------------------------


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    team: Mapped[Team | None] = relationship()


# --- interactions and results -------------------------------------------------------------------


class InteractionRow(Base):
    __tablename__ = "interactions"
    __table_args__ = (
        CheckConstraint("channel IN ('call', 'chat')", name="channel"),
        Index("ix_interactions_agent_date", "agent_id", "occurred_date"),
        Index("ix_interactions_team_date", "team_id", "occurred_date"),
    )

    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # the contract's interaction_id
    channel: Mapped[str] = mapped_column(String(10))
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id"))
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"))
    started_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    occurred_at: Mapped[datetime]  # started_at, else received_at
    occurred_date: Mapped[date] = mapped_column(Date, index=True)  # local date for reports
    audio_path: Mapped[str | None] = mapped_column(String(1000))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)  # unknown top-level input fields
    content_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    agent: Mapped[Agent | None] = relationship()
    team: Mapped[Team | None] = relationship()
    turns: Mapped[list[TurnRow]] = relationship(order_by="TurnRow.idx", cascade="all, delete-orphan", passive_deletes=True)
    results: Mapped[list[ResultRow]] = relationship(order_by="ResultRow.id", cascade="all, delete-orphan", passive_deletes=True)


class TurnRow(Base):
    """One turn as stored: the redacted text the hits' character offsets point into."""

    __tablename__ = "turns"
    __table_args__ = (
        UniqueConstraint("interaction_id", "idx"),
        CheckConstraint("role IN ('agent', 'customer')", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"))
    idx: Mapped[int]
    role: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(Text)
    start_s: Mapped[float | None] = mapped_column(Float)
    end_s: Mapped[float | None] = mapped_column(Float)
    asr_confidence: Mapped[float | None] = mapped_column(Float)


class ResultRow(Base):
    """One scoring run. The KPI inputs from `Result.stats` are copied into columns for SQL."""

    __tablename__ = "results"
    __table_args__ = (
        CheckConstraint(_in("flag", FLAGS), name="flag"),
        CheckConstraint(_in("final_flag", FLAGS), name="final_flag"),
        Index(
            "uq_results_one_current",
            "interaction_id",
            unique=True,
            sqlite_where=text("is_current = 1"),
            postgresql_where=text("is_current"),
        ),
        Index("ix_results_current_flag", "is_current", "flag"),
        Index(
            "ix_results_agent_day_current",
            "agent_id",
            "occurred_date",
            sqlite_where=text("is_current = 1"),
            postgresql_where=text("is_current"),
        ),
        Index(  # covering: a team's breakdown, ranks and warnings read the index only (final or automatic)
            "ix_results_team_day_current",
            "team_id",
            "occurred_date",
            "agent_id",
            "score",
            "flag",
            "final_score",
            "final_flag",
            "has_critical",
            "final_critical",
            "is_current",  # SQLite treats the index as covering only with it
            sqlite_where=text("is_current = 1"),
            postgresql_where=text("is_current"),
            postgresql_include=["id"],
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    score: Mapped[float] = mapped_column(Float)
    flag: Mapped[str] = mapped_column(String(10))
    critical: Mapped[list[Any]] = mapped_column(default=list)
    script: Mapped[dict[str, Any]] = mapped_column(default=dict)
    emotion: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    versions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ruleset_version: Mapped[str | None] = mapped_column(String(100))
    emotion_model: Mapped[str | None] = mapped_column(String(200))
    # The interaction's agent, team and report date when this run was stored: KPI summaries read
    # current runs through the partial indexes above without joining interactions.
    agent_id: Mapped[str | None] = mapped_column(String(100))
    team_id: Mapped[str | None] = mapped_column(String(100))
    occurred_date: Mapped[date | None] = mapped_column(Date)
    # KPI columns (from stats / emotion / script), so summaries are SQL aggregates.
    agent_turns: Mapped[int] = mapped_column(default=0)
    polite_turns: Mapped[int] = mapped_column(default=0)
    empathy_turns: Mapped[int] = mapped_column(default=0)
    forbidden_hits: Mapped[int] = mapped_column(default=0)
    silence_total_s: Mapped[float | None] = mapped_column(Float)
    interruptions: Mapped[int | None]
    customer_start: Mapped[str | None] = mapped_column(String(10))
    deescalated: Mapped[bool | None] = mapped_column(Boolean)
    script_ok: Mapped[bool] = mapped_column(Boolean, default=True)
    has_critical: Mapped[bool] = mapped_column(Boolean, default=False)  # a critical rule (一票否决) hit
    # After people's review (the latest review of this run; null before any): what KPIs count. The
    # automatic values above stay as the engine produced them (the auto-vs-final view).
    final_score: Mapped[float | None] = mapped_column(Float)
    final_flag: Mapped[str | None] = mapped_column(String(10))
    final_critical: Mapped[bool | None] = mapped_column(Boolean)
    final_script_ok: Mapped[bool | None] = mapped_column(Boolean)
    final_forbidden_hits: Mapped[int | None]
    # Predicted customer satisfaction (result.satisfaction, null when the model was off): the whole
    # field, and its two figures as columns for KPIs and filters.
    satisfaction: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    satisfaction_predicted: Mapped[float | None] = mapped_column(Float)
    satisfaction_dissatisfied: Mapped[float | None] = mapped_column(Float)

    dimensions: Mapped[list[DimensionRow]] = relationship(
        order_by="DimensionRow.position", cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )
    hits: Mapped[list[HitRow]] = relationship(
        order_by="HitRow.position", cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )


class DimensionRow(Base):
    __tablename__ = "result_dimensions"
    __table_args__ = (
        Index("ix_result_dimensions_dimension_score", "dimension", "score"),
        Index("ix_result_dimensions_result_score", "result_id", "dimension", "score"),  # covering for averages
    )

    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(50), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)
    score: Mapped[float] = mapped_column(Float)
    final_score: Mapped[float | None] = mapped_column(Float)  # after review (manual score or rescored); null before
    weight: Mapped[float] = mapped_column(Float)
    deductions: Mapped[list[Any]] = mapped_column(default=list)


class HitRow(Base):
    __tablename__ = "hits"
    __table_args__ = (Index("ix_hits_rule_result", "rule_id", "result_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    dimension: Mapped[str] = mapped_column(String(50))
    rule_id: Mapped[str] = mapped_column(String(200))
    turn: Mapped[int | None]
    start_char: Mapped[int | None]
    end_char: Mapped[int | None]
    text: Mapped[str] = mapped_column(Text, default="")
    role: Mapped[str | None] = mapped_column(String(10))
    severity: Mapped[str] = mapped_column(String(10))
    explanation: Mapped[str] = mapped_column(Text, default="")
    time_start: Mapped[float | None] = mapped_column(Float)
    time_end: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float, default=1.0)  # Hit.score
    asr_confidence: Mapped[float | None] = mapped_column(Float)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # Hit.evidence; null before 0012


# --- people's work: reviews, appeals, audit --------------------------------------------------------


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (CheckConstraint(_in("final_flag", FLAGS), name="final_flag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), index=True)
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("api_users.id", ondelete="SET NULL"))
    reviewer: Mapped[str] = mapped_column(String(100))
    appeal_id: Mapped[int | None] = mapped_column(ForeignKey("appeals.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    comment: Mapped[str | None] = mapped_column(Text)
    final_score: Mapped[float] = mapped_column(Float)  # after all reviews of this result so far
    final_flag: Mapped[str] = mapped_column(String(10))
    final_dimensions: Mapped[dict[str, Any]] = mapped_column(default=dict)  # dimension -> final score

    hit_decisions: Mapped[list[HitDecision]] = relationship(
        order_by="HitDecision.id", cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )
    overrides: Mapped[list[DimensionOverride]] = relationship(
        order_by="DimensionOverride.id", cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )


class HitDecision(Base):
    __tablename__ = "review_hit_decisions"
    __table_args__ = (CheckConstraint(_in("decision", DECISIONS), name="decision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    hit_id: Mapped[int] = mapped_column(ForeignKey("hits.id", ondelete="CASCADE"), index=True)
    decision: Mapped[str] = mapped_column(String(10))
    note: Mapped[str | None] = mapped_column(Text)


class DimensionOverride(Base):
    """A manual dimension score; the automatic one stays in `result_dimensions`."""

    __tablename__ = "review_dimension_overrides"
    __table_args__ = (
        CheckConstraint("score >= 0 AND score <= 100", name="score_range"),
        CheckConstraint("length(reason) > 0", name="reason_given"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    dimension: Mapped[str] = mapped_column(String(50))
    score: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)


class Appeal(Base):
    __tablename__ = "appeals"
    __table_args__ = (
        CheckConstraint(_in("status", APPEAL_STATUSES), name="status"),
        Index("ix_appeals_status_created", "status", "created_at"),  # the inbox: open ones, oldest first
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"))
    agent_id: Mapped[str | None] = mapped_column(String(100))
    filed_by_id: Mapped[int | None] = mapped_column(ForeignKey("api_users.id", ondelete="SET NULL"))
    filed_by: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    hit_ids: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(10), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(Text)


class AuditLog(Base):
    """Who did what; no foreign keys, so entries outlive what they describe."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


# --- rules and background jobs ----------------------------------------------------------------------


class RuleVersion(Base):
    """An uploaded version of a rule pack or a scorecard (YAML as sent, validated before it is stored).

    Versions of one (kind, name) are numbered 1, 2, ...; the files under lexicons/ are the built-in
    version and are what live scoring uses. A rescore picks stored versions explicitly.
    """

    __tablename__ = "rule_versions"
    __table_args__ = (
        UniqueConstraint("kind", "name", "version", name="uq_rule_versions_kind_name_version"),
        CheckConstraint(_in("kind", RULE_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))  # pack name, or scorecard channel
    version: Mapped[int]
    declared_version: Mapped[str | None] = mapped_column(String(100))  # the YAML's own `version:`
    content: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    uploaded_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IngestJob(Base):
    """Work for the background: an uploaded recording (kind `audio`: transcribe, score, store) or an
    interaction sent with `wait=false` or in bulk (kind `interaction`: score, store)."""

    __tablename__ = "ingest_jobs"
    __table_args__ = (
        CheckConstraint(_in("status", JOB_STATUSES), name="status"),
        CheckConstraint(_in("kind", JOB_KINDS), name="kind"),
        Index("ix_ingest_jobs_kind_status_created", "kind", "status", "created_at"),  # oldest queued first
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="audio", server_default="audio")
    interaction_id: Mapped[str] = mapped_column(String(200), index=True)  # no FK: stored only when done
    status: Mapped[str] = mapped_column(String(10), default="queued")
    content_hash: Mapped[str] = mapped_column(String(64))
    audio_file: Mapped[str | None] = mapped_column(String(1000))  # kind audio: the server's copy
    # kind audio: the interaction's fields besides audio; kind interaction: the whole interaction;
    # PII redacted (QA_REDACT_PII), and emptied ({}) once the job is done or failed
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    batch_id: Mapped[str | None] = mapped_column(String(32), index=True)  # the bulk request it came in
    claimed_by: Mapped[str | None] = mapped_column(String(32))  # the scorer's claim while running
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    result_id: Mapped[int | None] = mapped_column(ForeignKey("results.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(Text)


# --- access ----------------------------------------------------------------------------------------

user_teams = Table(
    "user_teams",
    Base.metadata,
    Column("user_id", ForeignKey("api_users.id", ondelete="CASCADE"), primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
)


class ApiUser(Base):
    __tablename__ = "api_users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(300))  # None: API keys only
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id"))  # role agent: who they are
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    agent: Mapped[Agent | None] = relationship()
    teams: Mapped[list[Team]] = relationship(secondary=user_teams, lazy="selectin")


class ApiKey(Base):
    """Only the SHA-256 of the key is stored; the key itself is shown once, when created."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("api_users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[ApiUser] = relationship(lazy="joined")


class ServerSecret(Base):
    """A secret the server generates once and every process using this database shares (the token
    signing key when QA_JWT_SECRET is unset)."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- alerts ----------------------------------------------------------------------------------------

ALERT_EVENTS = ("critical_hit", "red_result")
DELIVERY_STATUSES = ("pending", "delivered", "failed")


class AlertWebhook(Base):
    """Where alerts go: a URL that gets a signed JSON POST when a result with a critical hit or a red
    flag is stored, for one team (or every team when `team_id` is null)."""

    __tablename__ = "alert_webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))  # HMAC key shared with the receiver (kept to sign)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    events: Mapped[list[Any]] = mapped_column(default=lambda: list(ALERT_EVENTS))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertDelivery(Base):
    """One alert to one webhook (an outbox row written with the result it reports, so no stored
    result loses its alert when the process dies): retried with backoff until delivered or failed."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        CheckConstraint(_in("status", DELIVERY_STATUSES), name="status"),
        Index("ix_alert_deliveries_status_next", "status", "next_attempt_at"),  # what is due, oldest first
        Index("ix_alert_deliveries_webhook_interaction", "webhook_id", "interaction_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("alert_webhooks.id", ondelete="CASCADE"))
    interaction_id: Mapped[str] = mapped_column(String(200))
    result_id: Mapped[int | None] = mapped_column(ForeignKey("results.id", ondelete="SET NULL"))
    events: Mapped[list[Any]] = mapped_column(default=list)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None]  # a sender's lease while it posts (several processes send)
    last_status: Mapped[int | None]  # the receiver's HTTP status of the last attempt
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- batch scoring ---------------------------------------------------------------------------------

BATCH_STATUSES = ("done", "failed")


class BatchItemRow(Base):
    """The batch ledger: one row per item, content and versions (`qa-engine batch`).

    An item counts as done for one (key, content hash, versions hash); the unique constraint and the
    row being written in the same transaction as the result make a rerun after a crash skip it, and
    make two workers that scored the same item store it once. Failures keep their reason.
    """

    __tablename__ = "batch_items"
    __table_args__ = (
        UniqueConstraint("item_key", "content_hash", "versions_hash", name="uq_batch_items_item"),
        CheckConstraint(_in("status", BATCH_STATUSES), name="status"),
        Index("ix_batch_items_batch_status", "batch_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_key: Mapped[str] = mapped_column(String(300))  # interaction_id, else where a bad record was
    content_hash: Mapped[str] = mapped_column(String(64))
    versions_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(1000))
    interaction_id: Mapped[str | None] = mapped_column(String(200), index=True)  # no FK: failures have none
    status: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(Text)
    ruleset_version: Mapped[str | None] = mapped_column(String(100))
    versions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result_id: Mapped[int | None] = mapped_column(ForeignKey("results.id", ondelete="SET NULL"))
    batch_id: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=1)
    audio_seconds: Mapped[float | None] = mapped_column(Float)
    flag: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- review assignment and sampling (抽检) ------------------------------------------------------------

ASSIGNMENT_SOURCES = ("manual", "sampling")
SAMPLING_PERIODS = ("week", "day")

sampling_rule_assignees = Table(
    "sampling_rule_assignees",
    Base.metadata,
    Column("rule_id", ForeignKey("sampling_rules.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("api_users.id", ondelete="CASCADE"), primary_key=True),
)


class SamplingRule(Base):
    """A sampling plan (抽检计划): per agent and period (ISO week or day), a share of each flag's
    interactions of one team (every team when `team_id` is null) is assigned to the rule's QA
    specialists; `rates` is flag -> share (0..1, 1.0 = every one)."""

    __tablename__ = "sampling_rules"
    __table_args__ = (CheckConstraint(_in("period", SAMPLING_PERIODS), name="period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    rates: Mapped[dict[str, Any]] = mapped_column(default=dict)
    period: Mapped[str] = mapped_column(String(10), default="week")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    assignees: Mapped[list[ApiUser]] = relationship(
        secondary=sampling_rule_assignees, lazy="selectin", order_by="ApiUser.username"
    )


class ReviewAssignment(Base):
    """An interaction given to a QA specialist to review, by hand or by a sampling rule. One per
    interaction (assigning it again moves it); it is done once the interaction gets a review made
    at or after `assigned_at`, by anyone (nothing is stored for that: the reviews say it)."""

    __tablename__ = "review_assignments"
    __table_args__ = (
        UniqueConstraint("interaction_id"),
        CheckConstraint(_in("source", ASSIGNMENT_SOURCES), name="source"),
        Index("ix_review_assignments_assignee", "assignee_id", "assigned_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[str] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"))
    assignee_id: Mapped[int] = mapped_column(ForeignKey("api_users.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(10), default="manual")
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("sampling_rules.id", ondelete="SET NULL"), index=True)
    assigned_by: Mapped[str] = mapped_column(String(100))
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)

    assignee: Mapped[ApiUser] = relationship(lazy="joined")


def reviewed_since_assigned():
    """SQL: the assignment's interaction has a review made at or after it was assigned (it is done)."""
    return exists().where(
        Review.interaction_id == ReviewAssignment.interaction_id, Review.created_at >= ReviewAssignment.assigned_at
    )
