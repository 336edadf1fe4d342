"""Recordings to interactions: faster-whisper per channel (stereo) or on the mix (mono).

Decoding choices, each measured (docs/accuracy.md): `language="zh"`, beam 5, OpenCC `t2s` on the
output, VAD on, no conditioning on previous text, no-speech and log-prob thresholds so silence and
hold music give no text, word timestamps for times and confidence. The domain hot-word prompt is
available (`asr_hotword_prompt`) but off by default because it did not lower the error rate.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qa_engine.asr.audio import AudioInfo, iter_chunks, probe
from qa_engine.asr.model import resolve_model_dir
from qa_engine.config import Settings, get_settings
from qa_engine.normalize import to_simplified
from qa_engine.schema import Interaction, Turn, Word


@dataclass
class Segment:
    role: str | None  # None until a mono call's roles are assigned
    text: str
    start: float
    end: float
    words: list[Word] = field(default_factory=list)
    confidence: float = 0.0


def hotword_prompt(lexicons_dir: Path, limit: int = 40) -> str:
    """A Simplified-Chinese prompt carrying domain phrases from the script and politeness lists."""
    from qa_engine.lexicon import read_entries

    phrases: list[str] = []
    for name in ("script_greeting.txt", "script_identity.txt", "script_closing.txt", "politeness_apology.txt"):
        path = lexicons_dir / "words" / name
        if path.is_file():
            phrases += [p for p in read_entries(path) if 3 <= len(p) <= 10][:10]
    return "客服通话：" + "，".join(dict.fromkeys(phrases[:limit])) + "。"


def model_version(settings: Settings, model_dir: Path | None = None) -> str:
    """The ASR model as results record it; known without loading the model (batch planning)."""
    model_dir = model_dir or resolve_model_dir(settings.whisper_model_dir, settings.cache_dir)
    return f"faster-whisper:{model_dir.name}:{settings.asr_compute_type}"


class Transcriber:
    """Loads the Whisper model once; `transcribe` turns one recording into an Interaction."""

    def __init__(self, settings: Settings | None = None) -> None:
        from faster_whisper import WhisperModel

        self.settings = settings or get_settings()
        s = self.settings
        self.model_dir = resolve_model_dir(s.whisper_model_dir, s.cache_dir)
        self.model = WhisperModel(str(self.model_dir), device=s.asr_device, compute_type=s.asr_compute_type, cpu_threads=s.asr_threads)
        self.prompt = hotword_prompt(s.lexicons_dir) if s.asr_hotword_prompt else None

    @property
    def version(self) -> str:
        return model_version(self.settings, self.model_dir)

    def _mono_segments(self, audio, offset: float) -> Iterator[Segment]:
        """Mono: both parties on one track. The track is transcribed once; its words are then
        grouped by voice-activity regions (split at pauses of 0.3 s), so no turn spans two
        speakers where they paused between each other."""
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        regions = [
            (offset + r["start"] / 16_000, offset + r["end"] / 16_000)
            for r in get_speech_timestamps(audio, VadOptions(min_silence_duration_ms=300, speech_pad_ms=100))
        ]
        words = [w for seg in self._segments(audio, offset, None) for w in seg.words]
        groups: dict[int, list[Word]] = {}
        for w in words:
            mid = (w.start + w.end) / 2
            # The region holding the word's middle, else the nearest one.
            k = min(range(len(regions)), key=lambda i: 0 if regions[i][0] <= mid <= regions[i][1] else min(abs(mid - regions[i][0]), abs(mid - regions[i][1]))) if regions else 0
            groups.setdefault(k, []).append(w)
        for k in sorted(groups):
            yield _segment_from_words(None, groups[k])

    def _segments(self, audio, offset: float, role: str | None, vad: bool | None = None) -> Iterator[Segment]:
        s = self.settings
        segments, _ = self.model.transcribe(
            audio,
            language="zh",
            beam_size=s.asr_beam_size,
            initial_prompt=self.prompt,
            vad_filter=s.asr_vad if vad is None else vad,
            condition_on_previous_text=False,
            no_speech_threshold=0.6,
            log_prob_threshold=-1.0,
            compression_ratio_threshold=2.4,
            word_timestamps=True,
        )
        for seg in segments:
            words = [w for w in (seg.words or []) if w.word.strip()]
            if not words:
                text = to_simplified(seg.text.strip())
                if text:
                    yield Segment(role, text, round(seg.start + offset, 2), round(seg.end + offset, 2), [], round(math.exp(seg.avg_logprob), 3))
                continue
            # Whisper's segments often span several utterances; a pause between words marks a turn.
            piece: list = []
            for w in words:
                if piece and w.start - piece[-1].end > self.settings.asr_turn_gap:
                    yield _segment(role, piece, offset)
                    piece = []
                piece.append(w)
            yield _segment(role, piece, offset)

    def segments(self, path: Path, *, stereo_roles: tuple[str, str] | None = None) -> tuple[AudioInfo, list[Segment]]:
        """All segments of a recording, in time order; roles set for stereo, None for mono."""
        info = probe(path)
        roles = stereo_roles or tuple(self.settings.stereo_roles)
        out: list[Segment] = []
        for offset, chunk in iter_chunks(path):
            if chunk.shape[0] == 2:
                for channel, role in enumerate(roles):
                    out += self._segments(chunk[channel], offset, role)
            else:
                out += self._mono_segments(chunk[0], offset)
        out.sort(key=lambda seg: (seg.start, seg.end))
        return info, out

    def transcribe(self, path: Path, *, interaction_id: str | None = None, channel_roles: tuple[str, str] | None = None, **fields) -> Interaction:
        from qa_engine.asr.roles import assign_roles

        info, segs = self.segments(path, stereo_roles=channel_roles)
        if segs and segs[0].role is None:
            assign_roles(segs)
        turns = [
            Turn(role=seg.role, text=seg.text, start=seg.start, end=seg.end, words=seg.words, asr_confidence=seg.confidence)
            for seg in merge_adjacent(segs)
        ]
        metadata = dict(fields.pop("metadata", {}) or {})
        metadata["asr"] = {
            "model": self.version,
            "channels": info.channels,
            "sample_rate": info.sample_rate,
            "duration_s": info.duration,
            "mode": "stereo" if info.channels >= 2 else "mono",
        }
        return Interaction(
            interaction_id=interaction_id or path.stem,
            channel="call",
            audio_path=str(path),
            turns=turns,
            metadata=metadata,
            **fields,
        )


def _segment_from_words(role: str | None, words: list[Word]) -> Segment:
    text = to_simplified("".join(w.text for w in words))
    confidence = sum(w.probability or 0.0 for w in words) / len(words)
    return Segment(role, text, words[0].start, words[-1].end, list(words), round(confidence, 3))


def _segment(role: str | None, words: list, offset: float) -> Segment:
    text = to_simplified("".join(w.word for w in words).strip())
    kept = [
        Word(text=to_simplified(w.word.strip()), start=round(w.start + offset, 2), end=round(w.end + offset, 2), probability=round(w.probability, 3))
        for w in words
    ]
    confidence = sum(w.probability for w in kept) / len(kept)
    return Segment(role, text, kept[0].start, kept[-1].end, kept, round(confidence, 3))


def merge_adjacent(segs: list[Segment], max_gap: float = 1.0) -> list[Segment]:
    """Join consecutive segments of one role with a short pause between them into one turn."""
    merged: list[Segment] = []
    for seg in segs:
        prev = merged[-1] if merged else None
        if prev and prev.role == seg.role and 0 <= seg.start - prev.end <= max_gap:
            n_prev, n_seg = len(prev.text), len(seg.text)
            prev.confidence = round((prev.confidence * n_prev + seg.confidence * n_seg) / (n_prev + n_seg), 3)
            prev.text += seg.text
            prev.end = max(prev.end, seg.end)
            prev.words += seg.words
        else:
            merged.append(Segment(seg.role, seg.text, seg.start, seg.end, list(seg.words), seg.confidence))
    return merged
