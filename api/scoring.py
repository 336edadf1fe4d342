"""Scoring inside the API: one process-wide Inspector, created on first use (it takes ~1 s)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from qa_engine.config import Settings
from qa_engine.schema import Interaction, Result

if TYPE_CHECKING:
    from qa_engine.pipeline import Preparer

log = logging.getLogger(__name__)
_lock = threading.Lock()
_inspector = None


def get_inspector(settings: Settings):
    """The process's Inspector; the settings of the first call configure it."""
    global _inspector
    if _inspector is None:
        with _lock:
            if _inspector is None:
                from qa_engine.engine import Inspector

                try:
                    _inspector = Inspector(settings)
                except Exception as exc:  # a missing model or a broken pack: the server cannot score
                    log.error("engine not loaded: %s", exc, extra={"error": exc.__class__.__name__})
                    raise
    return _inspector


class AudioNotAllowed(ValueError):
    pass


class Scorer:
    """Prepare (transcribe, redact) then inspect; also the scorecard behind final scores."""

    def __init__(self, settings: Settings, audio_dir: Path | None = None) -> None:
        self.settings = settings
        self.audio_dir = audio_dir
        self._preparer: Preparer | None = None
        self._versioned: dict[tuple, object] = {}  # insertion order = least recently used first

    @property
    def inspector(self):
        return get_inspector(self.settings)

    def load(self) -> None:
        """Load rule packs and scorecards now (a broken pack is then a server error, not a bad request)."""
        get_inspector(self.settings)

    @property
    def preparer(self) -> Preparer:
        if self._preparer is None:
            from qa_engine.pipeline import Preparer

            self._preparer = Preparer(self.inspector.settings)
        return self._preparer

    def _check_audio(self, item: Interaction) -> None:
        if item.turns or not item.audio_path:
            return
        if self.audio_dir is None:
            raise AudioNotAllowed("audio-only interactions need QA_AUDIO_DIR on the server; send turns instead")
        base = Path(self.audio_dir).resolve()
        path = (base / item.audio_path).resolve()
        if Path(item.audio_path).is_absolute() or not path.is_relative_to(base) or not path.is_file():
            raise AudioNotAllowed(f"audio_path {item.audio_path!r} is not a file under the audio directory")

    def score(self, item: Interaction) -> tuple[Interaction, Result]:
        self._check_audio(item)
        prepared = self.preparer.prepare(item, Path(self.audio_dir) if self.audio_dir else None)
        return prepared, self.inspector.inspect(prepared)

    def score_many(self, items: list[Interaction | dict]) -> list[tuple[Interaction | None, Result | None, Exception | None]]:
        """`score` of many interactions (or their fields, validated here) through inspect_many, whose
        models run in large batches: one (prepared, result, None) or (None, None, error) per item, in
        order. A bad item fails alone."""
        audio_dir = Path(self.audio_dir) if self.audio_dir else None
        prepared: list[Interaction | Exception] = []
        for item in items:
            try:
                item = item if isinstance(item, Interaction) else Interaction.model_validate(item)
                self._check_audio(item)
                prepared.append(self.preparer.prepare(item, audio_dir))
            except Exception as exc:  # noqa: BLE001 - passed through inspect_many as this item's outcome
                prepared.append(exc)
        try:
            results = list(self.inspector.inspect_many(prepared))
        except Exception:  # noqa: BLE001 - an error that ended the stream: one by one, so that it fails alone
            results = [self._inspect_alone(p) for p in prepared]
        return [_outcome(p, r) for p, r in zip(prepared, results, strict=True)]

    def _inspect_alone(self, item: Interaction | Exception) -> Result | Exception:
        if not isinstance(item, Interaction):
            return item
        try:
            return self.inspector.inspect(item)
        except Exception as exc:  # noqa: BLE001 - fails its item only
            return exc

    def score_upload(self, item: Interaction) -> tuple[Interaction, Result]:
        """An uploaded recording (audio_path is the server's own copy): transcribe, redact, inspect."""
        prepared = self.preparer.prepare(item)
        return prepared, self.inspector.inspect(prepared)

    def inspector_for(self, packs: dict[str, str], scorecards: dict[str, str]):
        """The live Inspector, or one built on uploaded versions (the last few are kept)."""
        if not packs and not scorecards:
            return self.inspector
        from qa_engine.store.rule_versions import build_inspector

        key = (tuple(sorted(packs.items())), tuple(sorted(scorecards.items())))
        with _lock:
            inspector = self._versioned.pop(key, None)
        if inspector is None:
            inspector = build_inspector(self.inspector.settings, packs, scorecards)
        with _lock:
            self._versioned[key] = inspector
            while len(self._versioned) > 4:
                self._versioned.pop(next(iter(self._versioned)))
        return inspector

    def scorecard(self, channel: str):
        return self.inspector.scorecards.get(channel)

    def step_rules(self) -> dict[str, dict[str, str]]:
        """Each channel's script steps and the rules that find them (the live scorecards)."""
        return {channel: dict(card.script.steps) for channel, card in self.inspector.scorecards.items()}

    def rule_names(self) -> list:
        """The live ruleset's rules in evaluation order (their specs: id, names, dimension, operator)."""
        return [r.spec for r in self.inspector.ruleset.rules]

    @property
    def rule_dimensions(self) -> dict[str, str]:
        return self.inspector.rule_dimensions


def _outcome(
    prepared: Interaction | Exception, result: Result | Exception
) -> tuple[Interaction | None, Result | None, Exception | None]:
    """(prepared, result, None) for a scored item, (None, None, error) for a failed one."""
    if isinstance(result, Result):
        assert isinstance(prepared, Interaction)  # an item that failed to prepare is its own outcome
        return prepared, result, None
    return None, None, result
