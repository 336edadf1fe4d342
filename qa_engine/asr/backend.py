"""The ASR backend interface: what the pipeline needs from a transcriber, and the one place that
picks the backend by configuration (`QA_ASR_BACKEND`).

The built-in backend is faster-whisper in this process (qa_engine.asr.transcribe.WhisperTranscriber,
any CTranslate2 Whisper directory). A contact centre plugs in another one (a Whisper server on GPU
machines, another engine) by naming a class `package.module:ClassName` that implements `Transcriber`
and takes the settings: nothing else changes, results record its `version`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Protocol, runtime_checkable

from qa_engine.config import Settings
from qa_engine.schema import Interaction, Word

BACKENDS = {"faster-whisper": "qa_engine.asr.transcribe:WhisperTranscriber"}


@dataclass
class Segment:
    """A stretch of one speaker's speech as a backend decodes it, before turns are made."""

    role: str | None  # None until a mono call's roles are assigned (qa_engine.asr.roles)
    text: str
    start: float
    end: float
    words: list[Word] = field(default_factory=list)
    confidence: float = 0.0


@runtime_checkable
class Transcriber(Protocol):
    """One recording (wav, mp3, m4a, opus; stereo with one speaker per channel, or mono) in, one
    call Interaction out: timed turns with roles, Simplified Chinese text, `metadata["asr"]`."""

    def __init__(self, settings: Settings) -> None:
        """Loads the model (make_transcriber builds every backend from the settings alone)."""
        ...

    @staticmethod
    def planned_version(settings: Settings) -> str:
        """The version results will record, known without loading the model (batch planning)."""
        ...

    @property
    def version(self) -> str:
        """The loaded model's version, recorded in result.versions.models.asr."""
        ...

    def transcribe(
        self, path: Path, *, interaction_id: str | None = None, channel_roles: tuple[str, str] | None = None, **fields
    ) -> Interaction:
        """`channel_roles`: who is on the left and right channel (default: settings.stereo_roles);
        `fields`: the interaction's other fields (agent_id, team_id, metadata, ...)."""
        ...


class BackendError(ValueError):
    """QA_ASR_BACKEND names no importable Transcriber."""


def backend_class(settings: Settings) -> type[Transcriber]:
    spec = BACKENDS.get(settings.asr_backend, settings.asr_backend)
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise BackendError(
            f"QA_ASR_BACKEND {settings.asr_backend!r}: use one of {', '.join(BACKENDS)} or package.module:ClassName"
        )
    try:
        cls = getattr(import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise BackendError(f"QA_ASR_BACKEND {settings.asr_backend!r}: cannot import {spec}: {exc}") from exc
    if not all(callable(getattr(cls, name, None)) for name in ("planned_version", "transcribe")):
        raise BackendError(
            f"QA_ASR_BACKEND {settings.asr_backend!r}: {spec} does not implement "
            f"qa_engine.asr.backend.Transcriber (planned_version, version, transcribe)"
        )
    return cls


def make_transcriber(settings: Settings) -> Transcriber:
    """The configured backend, loaded (for faster-whisper: the model, once)."""
    return backend_class(settings)(settings)


def planned_version(settings: Settings) -> str:
    return backend_class(settings).planned_version(settings)


__all__ = ["BACKENDS", "BackendError", "Segment", "Transcriber", "backend_class", "make_transcriber", "planned_version"]
