"""One interaction from input to stored form: transcribe if it is audio only, then redact PII.

Shared by the CLI, the API and batch jobs, so every path stores the same text the hits point into.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from qa_engine.config import Settings
from qa_engine.schema import Interaction
from qa_engine.text.redact import redact_interaction

if TYPE_CHECKING:
    from qa_engine.asr.backend import Transcriber


class Preparer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._transcriber: Transcriber | None = None

    @property
    def transcriber(self) -> Transcriber:
        if self._transcriber is None:  # Whisper loads only when audio arrives
            from qa_engine.asr.backend import make_transcriber

            self._transcriber = make_transcriber(self.settings)
        return self._transcriber

    def prepare(
        self, item: Interaction, base_dir: Path | None = None, channel_roles: tuple[str, str] | None = None
    ) -> Interaction:
        """`channel_roles`: who is on the left and right channel of a stereo recording (default: settings)."""
        if not item.turns and item.audio_path:
            path = Path(item.audio_path)
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            fields = item.model_dump(exclude={"turns", "audio_path", "interaction_id", "channel"}, exclude_none=True)
            item = self.transcriber.transcribe(path, interaction_id=item.interaction_id, channel_roles=channel_roles, **fields)
        if self.settings.redact_pii:
            item = redact_interaction(item)
        return item
