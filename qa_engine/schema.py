"""The interaction and result contract (../shared/contract/README.md) as pydantic models.

`qa-engine schema` prints the JSON Schema generated from these classes, so the contract and the
code cannot drift apart.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

if TYPE_CHECKING:
    from qa_engine.config import Settings

Role = Literal["agent", "customer"]
Channel = Literal["call", "chat"]
Severity = Literal["info", "minor", "major", "critical"]
Flag = Literal["green", "yellow", "red"]
Polarity = Literal["negative", "neutral", "positive"]
EmotionLabel = Literal["angry", "anxious", "sad", "neutral", "happy"]

# Agent and team ids name rows (String(100) columns, foreign keys): empty or longer ids cannot.
EntityId = Annotated[str, Field(min_length=1, max_length=100)]


# Numbers, dates and times as the JSON Schema says, no more: pydantic alone also takes true/false and
# "1.5" for a number, and a number (read as Unix time) for a date or time.
def json_number(value: Any) -> Any:
    """Before-validator of numbers from JSON: true, false and text are not numbers."""
    if isinstance(value, (bool, str)):
        raise PydanticCustomError("number_type", "Input should be a number")
    return value


DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
TIME = r"[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
# A time of day without an offset is local time in the report timezone (QA_REPORT_TIMEZONE); so is
# midnight of a date given alone. With an offset it is RFC 3339 (JSON Schema's date-time).
LOCAL_DATETIME = rf"{DATE}[T ]{TIME}"
RFC3339 = rf"{DATE}[Tt ][0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{{2}}:[0-9]{{2}})"
DATETIME_SHAPE = re.compile(rf"{DATE}|{LOCAL_DATETIME}|{RFC3339}")


def _iso_date(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if not (isinstance(value, str) and re.fullmatch(DATE, value)):
        raise PydanticCustomError("date_type", "Input should be a date, YYYY-MM-DD")
    return date.fromisoformat(value)  # a ValueError says which part is out of range


def _iso_datetime(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not (isinstance(value, str) and DATETIME_SHAPE.fullmatch(value)):
        raise PydanticCustomError("datetime_type", "Input should be a date and time, e.g. 2026-11-22T10:15:00+08:00")
    return datetime.fromisoformat(value.upper())


Number = Annotated[float, BeforeValidator(json_number)]
OptionalNumber = Annotated[float | None, BeforeValidator(json_number)]  # constraints in Field stay in the schema
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
IsoDateTime = Annotated[
    datetime,
    BeforeValidator(_iso_datetime),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "string", "pattern": f"^{LOCAL_DATETIME}$", "description": "local time (report timezone)"},
                {"type": "string", "format": "date", "description": "midnight, local time"},
            ]
        }
    ),
]

DIMENSIONS = ("politeness", "forbidden_words", "empathy", "script_compliance", "emotion", "call_signals", "customer_outcome")


class Word(BaseModel):
    """One recognised word of an ASR turn."""

    text: str
    start: Number
    end: Number
    probability: OptionalNumber = None


class Turn(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Role
    text: str = Field(description="at most QA_MAX_TURN_CHARS characters (5,000 by default) on ingest")
    start: OptionalNumber = Field(default=None, ge=0, description="seconds from the interaction start")
    end: OptionalNumber = Field(default=None, ge=0)
    words: list[Word] | None = None
    asr_confidence: OptionalNumber = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _end_after_start(self) -> Turn:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"turn ends ({self.end}) before it starts ({self.start})")
        return self


# Ids are shown, logged, exported and put in URLs: printable text only. Refused: control characters
# (Cc), format characters (Cf: bidi overrides that reorder what a reviewer reads, zero-width
# characters), lone surrogates (Cs) and line / paragraph separators (Zl, Zp).
_UNPRINTABLE = {"Cc": "a control character", "Cf": "a format character", "Cs": "a lone surrogate",
                "Zl": "a line separator", "Zp": "a paragraph separator"}  # fmt: skip
# The API names an interaction in its URL path (`/v1/interactions/{id}`, `{id}/audio`,
# `{id}/audio-link`, `{id}/reviews`, `{id}/appeals`, `bulk/{batch_id}`): an id those routes would
# read as another route, or a `.` / `..` segment that clients resolve away, could be stored but
# never read back (or reviewed).
ROUTE_SUFFIXES = ("/audio", "/audio-link", "/reviews", "/appeals")
_ROUTE_PREFIX = "bulk/"
# Instants that convert to UTC and to any report time zone (offsets within a day) without overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
_SURROGATE = re.compile("[\ud800-\udfff]")


def unprintable(value: str) -> str | None:
    """Why `value` is not printable text (the first offending character), or None."""
    for i, ch in enumerate(value):
        kind = _UNPRINTABLE.get(unicodedata.category(ch))
        if kind:
            return f"contains {kind} (U+{ord(ch):04X}) at position {i}"
    return None


def _lone_surrogate(data: Any) -> str | None:
    """Where the first lone surrogate in JSON-like data is (`turns[0].text`), or None. A JSON
    `\\ud800` escape without its pair parses into one; it can be neither stored nor encoded."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if m := _SURROGATE.search(value):
                return f"{where} has a lone surrogate (U+{ord(m.group()):04X})"
        elif isinstance(value, dict):
            for key in value:
                if isinstance(key, str) and (m := _SURROGATE.search(key)):
                    return f"a key of {where or 'the interaction'} has a lone surrogate (U+{ord(m.group()):04X})"
            stack.extend((f"{where}.{key}" if where else str(key), item) for key, item in reversed(value.items()))
        elif isinstance(value, list | tuple):
            stack.extend((f"{where}[{i}]", item) for i, item in reversed(list(enumerate(value))))
    return None


def unroutable_id(value: str) -> str | None:
    """Why `/v1/interactions/{value}` would not reach this interaction, or None if it does."""
    segments = value.split("/")
    if {".", ".."} & set(segments):
        dots = ".." if ".." in segments else "."
        return f"interaction_id {value!r} has a '{dots}' path segment, which URLs cannot carry"
    if value.startswith(_ROUTE_PREFIX):
        return (f"interaction_id {value!r} starts with '{_ROUTE_PREFIX}', which the API reads as "
                "/v1/interactions/bulk/{batch_id}")  # fmt: skip
    for suffix in ROUTE_SUFFIXES:
        if value.endswith(suffix):
            return (f"interaction_id {value!r} ends with '{suffix}', which the API reads as "
                    f"/v1/interactions/{{id}}{suffix}")  # fmt: skip
    return None


class Interaction(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "interaction_id": "c-20261122-0001",
                    "channel": "call",
                    "agent_id": "A1024",
                    "turns": [
                        {"role": "agent", "text": "您好，很高兴为您服务", "start": 0.0, "end": 2.1},
                        {"role": "customer", "text": "我的快递三天了还没到", "start": 2.5, "end": 4.8},
                    ],
                }
            ]
        },
    )

    interaction_id: str = Field(min_length=1, max_length=200)
    channel: Channel
    agent_id: EntityId | None = None
    team_id: EntityId | None = None
    started_at: IsoDateTime | None = None
    audio_path: str | None = None
    turns: list[Turn] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: Any) -> Any:
        if isinstance(data, dict) and (where := _lone_surrogate(data)):
            raise ValueError(f"{where}: text must be valid Unicode")
        return data

    @field_validator("interaction_id", "agent_id", "team_id")
    @classmethod
    def _printable_id(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and (why := unprintable(value)):
            raise ValueError(f"{info.field_name} {why}; ids must be printable text")
        return value

    @field_validator("interaction_id")
    @classmethod
    def _routable_id(cls, value: str) -> str:
        if why := unroutable_id(value):
            raise ValueError(why)
        return value

    @field_validator("started_at")
    @classmethod
    def _convertible(cls, value: datetime | None) -> datetime | None:
        # A naive time is local to the report time zone; the range is far enough from the ends of
        # what datetime holds that any zone's offset stays inside.
        if value is None:
            return value
        try:
            instant = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
        except OverflowError:
            instant = None
        if instant is None or not EARLIEST <= instant < LATEST:
            raise ValueError(
                f"started_at {value.isoformat()} is out of range: it must lie from {EARLIEST.date()} up to {LATEST.date()} (UTC)"
            )
        return value

    @model_validator(mode="after")
    def _has_content(self) -> Interaction:
        if not self.turns and not self.audio_path:
            raise ValueError("interaction has no turns and no audio_path")
        return self


class LimitExceeded(ValueError):
    """An interaction over one of the input limits (QA_MAX_*); `loc` points at what is too large."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def _json_bytes(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8"))


def check_limits(interaction: Interaction, settings: Settings) -> None:
    """Raise LimitExceeded for the first input limit of `settings` the interaction is over. Every
    ingest path calls it (the API, `qa-engine score`, `qa-engine batch`): the limits are
    settings, so they are checked here rather than in the model."""
    turns = interaction.turns
    if len(turns) > settings.max_turns:
        raise LimitExceeded(
            ("turns",), f"interaction has {len(turns):,} turns; the limit is {settings.max_turns:,} (QA_MAX_TURNS)"
        )
    total = 0
    for i, turn in enumerate(turns):
        if len(turn.text) > settings.max_turn_chars:
            raise LimitExceeded(
                ("turns", i, "text"),
                f"turns[{i}] has {len(turn.text):,} characters; the limit is {settings.max_turn_chars:,} (QA_MAX_TURN_CHARS)",
            )
        total += len(turn.text)
    if total > settings.max_text_chars:
        raise LimitExceeded(
            ("turns",),
            f"the turns have {total:,} characters of text; the limit is {settings.max_text_chars:,} (QA_MAX_TEXT_CHARS)",
        )
    # Extra top-level fields are stored beside the metadata: they count towards the same limit.
    extra = interaction.model_extra or {}
    size = _json_bytes(interaction.metadata) + (_json_bytes(extra) if extra else 0)
    if size > settings.max_metadata_bytes:
        what = f"metadata and the extra fields ({', '.join(extra)}) are" if extra else "metadata is"
        raise LimitExceeded(
            ("metadata",),
            f"{what} {size:,} bytes as JSON; the limit is {settings.max_metadata_bytes:,} (QA_MAX_METADATA_BYTES)",
        )


# What a hit rests on, as data (presidio's AnalysisExplanation): the operator fills it in and renders
# the hit's prose `explanation` from it. One small model per kind of evidence, told apart by `kind`.
class _Evidence(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    operator: str = Field(description="the rule operator that found it")


class PhraseEvidence(_Evidence):
    """Entries of a word list found in the turn (keyword / phrase operators)."""

    kind: Literal["phrase"] = "phrase"
    phrases: list[str] = Field(description="the word-list entries matched (normalised text)")
    word_list: str = Field(description="the list: a words file under lexicons/words, or `inline`")
    mode: Literal["any", "all", "at_least", "none"] = "any"
    negation: Literal["ignore", "exclude", "only"] = Field(
        description="exclude: negated matches were dropped; only: only negated ones count"
    )
    word_boundary: bool = Field(description="matches had to fall on word boundaries")


class PatternEvidence(_Evidence):
    """A regular expression that matched (regex operator)."""

    kind: Literal["pattern"] = "pattern"
    pattern: str
    exclusions_checked: bool = Field(description="the rule's exclusion patterns were searched and none matched")
    word_boundary: bool


class ModelEvidence(_Evidence):
    """A turn classifier's probability at or over its threshold (classifier operator)."""

    kind: Literal["model"] = "model"
    model: str
    probability: float = Field(description="the model's probability for the turn")
    threshold: float
    category: str | None = Field(default=None, description="the most likely category (multi-category models)")
    category_probability: float | None = None
    span: Literal["clause", "turn"] = Field(description="clause: one clause alone reaches the threshold")


class ExemplarEvidence(_Evidence):
    """A clause semantically close to an exemplar sentence (similar operator)."""

    kind: Literal["exemplar"] = "exemplar"
    exemplar: str
    similarity: float
    threshold: float


class BooleanEvidence(_Evidence):
    """Other rules' hits a boolean rule combined (all / any present, none absent)."""

    kind: Literal["boolean"] = "boolean"
    all: list[str] = Field(default_factory=list, description="rule refs that all had hits")
    any: list[str] = Field(default_factory=list)
    none: list[str] = Field(default_factory=list, description="rule refs that had none")
    within: Literal["turn", "interaction"]
    combined: list[str] = Field(description="the hits it rests on, as `rule_id@turn` (turn `None`: interaction)")


class EmotionEvidence(_Evidence):
    """A turn's emotion from the emotion scorer (emotion operator)."""

    kind: Literal["emotion"] = "emotion"
    scorer: str
    label: EmotionLabel
    polarity: Polarity
    confidence: float
    min_confidence: float


class SignalEvidence(_Evidence):
    """A timing measure over its limit (silence, interruption, speech rate, response time)."""

    kind: Literal["signal"] = "signal"
    measure: Literal["silence_s", "overlap_s", "chars_per_minute", "first_response_s", "reply_s"]
    value: float
    limit: float
    above: bool = Field(default=True, description="false: the measure is under a lower limit")
    excuse: str | None = Field(default=None, description="a hold phrase said before the silence, not enough")


class OperatorEvidence(_Evidence):
    """An operator that gives no structured evidence (one added from outside the package)."""

    kind: Literal["operator"] = "operator"


HitEvidence = Annotated[
    PhraseEvidence
    | PatternEvidence
    | ModelEvidence
    | ExemplarEvidence
    | BooleanEvidence
    | EmotionEvidence
    | SignalEvidence
    | OperatorEvidence,
    Field(discriminator="kind"),
]


class Hit(BaseModel):
    """One finding with its evidence. `turn`/`start`/`end` point into the original turn text. Made
    once by its operator and never changed (frozen): a later step that adds to it makes a copy."""

    model_config = ConfigDict(frozen=True)

    dimension: str
    rule_id: str
    turn: int | None = Field(description="index into turns; null for interaction-level findings")
    start: int | None = None
    end: int | None = None
    text: str = ""
    role: Role | None = None
    severity: Severity
    explanation: str
    time: tuple[float, float] | None = None
    score: float = Field(default=1.0, ge=0, le=1, description="confidence of the operator")
    asr_confidence: float | None = None
    evidence: HitEvidence | None = Field(
        default=None, description="what matched, as data; the explanation is rendered from it (null: stored before it existed)"
    )


class DimensionScore(BaseModel):
    score: float = Field(ge=0, le=100)
    weight: float = Field(ge=0)
    deductions: list[str] = Field(default_factory=list, description="why points were lost")


class ScriptStep(BaseModel):
    present: bool
    turn: int | None = None


class ScriptResult(BaseModel):
    steps: dict[str, ScriptStep] = Field(default_factory=dict)
    order_ok: bool = True


class TurnEmotion(BaseModel):
    turn: int
    role: Role
    label: EmotionLabel
    polarity: Polarity
    confidence: float = Field(ge=0, le=1)
    cue: str | None = Field(
        default=None,
        description="the customer negative cue that made this turn negative (lexicons/words/customer_negative_*.txt)",
    )


class EmotionResult(BaseModel):
    source: str = Field(description="which scorer produced it, e.g. 'lexicon-baseline'")
    turns: list[TurnEmotion] = Field(default_factory=list)
    customer_start: Polarity | None = None
    customer_end: Polarity | None = None
    deescalated: bool | None = Field(default=None, description="customer negative at the start and not negative at the end")


class SatisfactionResult(BaseModel):
    """Predicted customer satisfaction of the interaction (models/satisfaction_ridge, docs/accuracy.md)."""

    predicted: float = Field(ge=-2, le=2, description="on the STC-3 scale: -2 very dissatisfied .. 2 very satisfied")
    dissatisfied: float = Field(ge=0, le=1, description="probability that the customer is dissatisfied (mean S <= -0.5)")
    source: str = Field(description="model id @ content digest of its files")
    evidence: list[int] = Field(default_factory=list, description="indices of the customer turns that drove it")


def _absent(value: object) -> bool:
    return value is None


# A timing figure exists only for timed turns (calls, chats with times); left out of the JSON otherwise.
TimingFigure = Annotated[float | None, Field(exclude_if=_absent)]


class Stats(BaseModel):
    """KPI inputs of one interaction: counts and rates (computed by the engine's `_stats`). The store copies the
    KPI columns from it (store/repository), the API returns it as is; one model for the three."""

    turns: int = 0
    agent_turns: int = 0
    customer_turns: int = 0
    polite_turns: int = Field(default=0, description="agent turns with a politeness hit (礼貌用语)")
    forbidden_hits: int = Field(default=0, description="服务禁语 hits")
    empathy_turns: int = Field(default=0, description="agent turns with an empathy hit")
    customer_negative_turns: int = 0
    politeness_rate: float = Field(default=0.0, description="polite_turns / agent_turns")
    empathy_rate: float = Field(default=0.0, description="empathy_turns / agent_turns")
    duration_s: TimingFigure = None
    silence_max_s: TimingFigure = None
    silence_total_s: TimingFigure = None
    interruptions: Annotated[int | None, Field(exclude_if=_absent)] = None
    agent_talk_s: TimingFigure = None
    customer_talk_s: TimingFigure = None
    talk_ratio: TimingFigure = None  # agent / customer talk time, when the customer spoke
    agent_cpm: TimingFigure = None  # characters per minute
    customer_cpm: TimingFigure = None
    first_response_s: TimingFigure = None
    reply_avg_s: TimingFigure = None


class Result(BaseModel):
    interaction_id: str
    agent_id: str | None = None
    team_id: str | None = None
    channel: Channel
    score: float = Field(ge=0, le=100)
    flag: Flag
    critical: list[str] = Field(default_factory=list, description="critical rules hit (一票否决)")
    dimensions: dict[str, DimensionScore]
    hits: list[Hit]
    script: ScriptResult
    emotion: EmotionResult
    satisfaction: SatisfactionResult | None = Field(
        default=None, description="predicted customer satisfaction; null when the model is switched off"
    )
    stats: Stats = Field(default_factory=Stats, description="KPI inputs: counts and rates")
    versions: dict[str, Any] = Field(default_factory=dict)


def json_schemas() -> dict[str, Any]:
    """JSON Schema of every public model, keyed by name."""
    return {m.__name__: m.model_json_schema() for m in (Interaction, Turn, Hit, DimensionScore, SatisfactionResult, Result)}
