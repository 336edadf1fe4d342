"""The interaction and result contract (../shared/contract/README.md) as pydantic models.

`qa-engine schema` prints the JSON Schema generated from these classes, so the contract and the
code cannot drift apart.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

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

DIMENSIONS = ("politeness", "forbidden_words", "empathy", "script_compliance", "emotion", "call_signals")


class Word(BaseModel):
    """One recognised word of an ASR turn."""

    text: str
    start: Number
    end: Number
    probability: OptionalNumber = None


MAX_TURN_CHARS = 20_000  # longer "turns" are broken input (a whole transcript in one turn)


class Turn(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Role
    text: str = Field(max_length=MAX_TURN_CHARS)
    start: OptionalNumber = Field(default=None, ge=0, description="seconds from the interaction start")
    end: OptionalNumber = Field(default=None, ge=0)
    words: list[Word] | None = None
    asr_confidence: OptionalNumber = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _end_after_start(self) -> Turn:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"turn ends ({self.end}) before it starts ({self.start})")
        return self


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

    @model_validator(mode="after")
    def _has_content(self) -> Interaction:
        if not self.turns and not self.audio_path:
            raise ValueError("interaction has no turns and no audio_path")
        return self


class Hit(BaseModel):
    """One finding with its evidence. `turn`/`start`/`end` point into the original turn text."""

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


class EmotionResult(BaseModel):
    source: str = Field(description="which scorer produced it, e.g. 'lexicon-baseline'")
    turns: list[TurnEmotion] = Field(default_factory=list)
    customer_start: Polarity | None = None
    customer_end: Polarity | None = None
    deescalated: bool | None = Field(
        default=None, description="customer negative at the start and not negative at the end"
    )


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
    stats: dict[str, float] = Field(default_factory=dict, description="KPI inputs: counts and rates")
    versions: dict[str, Any] = Field(default_factory=dict)


def json_schemas() -> dict[str, Any]:
    """JSON Schema of every public model, keyed by name."""
    return {m.__name__: m.model_json_schema() for m in (Interaction, Turn, Hit, DimensionScore, Result)}
