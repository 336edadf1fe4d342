"""Recordings to interactions: faster-whisper per channel (stereo) or on the mix (mono).

Decoding choices, each measured for CER and speed (docs/accuracy.md, docs/benchmarks.md):
`language="zh"`, beam 4, OpenCC `t2s` on the output, VAD on (one Silero pass per channel), the
speech regions packed into independent windows of at most 30 s decoded as one batch (both stereo
channels together, never two channels in one window), no conditioning on previous text, no-speech
and log-prob thresholds so silence and hold music give no text (a window failing them is decoded
again the sequential way, with temperature fallback), word timestamps for times and confidence.
The domain hot-word prompt is available (`asr_hotword_prompt`) but off by default because it did
not lower the error rate.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from qa_engine.asr.audio import SAMPLE_RATE, AudioInfo, iter_chunks, probe, wav_truncation
from qa_engine.asr.backend import Segment
from qa_engine.asr.model import resolve_model_dir
from qa_engine.asr.vad import speech_probabilities, speech_regions
from qa_engine.config import Settings
from qa_engine.schema import Interaction, Turn, Word
from qa_engine.text.normalize import to_simplified


def hotword_prompt(lexicons_dir: Path, limit: int = 40) -> str:
    """A Simplified-Chinese prompt carrying domain phrases from the script and politeness lists."""
    from qa_engine.text.lexicon import read_entries

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


class _Packed:
    """Speech regions of one or both channels laid end to end, the way faster-whisper's VAD filter
    concatenates them, and the map from a time in that stream back to (channel, original time)."""

    def __init__(self, chunk: np.ndarray, spans: list[tuple[int, int, int]]) -> None:
        self.spans = spans  # (channel, start sample, end sample)
        pieces = [chunk[c, a:b] for c, a, b in spans]
        self.audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        self.starts: list[int] = []
        self.ends: list[int] = []
        pos = 0
        for _, a, b in spans:
            self.starts.append(pos)
            pos += b - a
            self.ends.append(pos)

    def locate(self, t: float, is_end: bool = False) -> int:
        """Index of the span holding packed time `t` (as faster-whisper's SpeechTimestampsMap)."""
        sample = int(t * SAMPLE_RATE)
        if is_end and sample in self.ends:
            return self.ends.index(sample)
        return min(bisect.bisect(self.ends, sample), len(self.ends) - 1)

    def original(self, t: float, i: int) -> float:
        return round((self.spans[i][1] - self.starts[i]) / SAMPLE_RATE + t, 2)

    def windows(self, seconds: float = 30.0, mix_channels: bool = True) -> list[tuple[int, int]]:
        """Packed sample ranges of at most `seconds`, cut at span edges where possible (and at
        every change of channel unless `mix_channels`)."""
        limit = int(seconds * SAMPLE_RATE)
        out: list[tuple[int, int]] = []
        last_channel = None
        for (channel, _, _), a, b in zip(self.spans, self.starts, self.ends):
            if out and b - out[-1][0] <= limit and (mix_channels or channel == last_channel):
                out[-1] = (out[-1][0], b)
                continue
            last_channel = channel
            while b - a > limit:
                out.append((a, a + limit))
                a += limit
            out.append((a, b))
        return out


class WhisperTranscriber:
    """The built-in qa_engine.asr.backend.Transcriber: faster-whisper in this process. Loads the
    Whisper model once; `transcribe` turns one recording into an Interaction."""

    planned_version = staticmethod(model_version)

    def __init__(self, settings: Settings) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self.settings = settings
        s = self.settings
        self.model_dir = resolve_model_dir(s.whisper_model_dir, s.cache_dir)
        self.model = WhisperModel(
            str(self.model_dir),
            device=s.asr_device,
            compute_type=s.asr_compute_type,
            cpu_threads=s.asr_threads,
            num_workers=max(1, s.asr_workers),
        )
        self.batched = BatchedInferencePipeline(self.model) if s.asr_batch_size > 0 else None
        self.fallback_windows = 0  # batched windows decoded again sequentially (see _whisper)
        self.prompt = hotword_prompt(s.lexicons_dir) if s.asr_hotword_prompt else None

    @property
    def version(self) -> str:
        return model_version(self.settings, self.model_dir)

    def _vad_options(self):
        from faster_whisper.vad import VadOptions

        # Independent windows (batched decoding) need regions of at most 30 s.
        return VadOptions(max_speech_duration_s=30) if self.batched is not None else VadOptions()

    def _spans(self, chunk: np.ndarray, channel: int, probs: np.ndarray | None = None) -> list[tuple[int, int, int]]:
        """(channel, start, end) of the parts of one channel to decode: its speech, or all of it."""
        n = chunk.shape[1]
        if not self.settings.asr_vad:
            return [(channel, 0, n)] if n else []
        if probs is None:
            probs = speech_probabilities(chunk[channel])
        return [(channel, r["start"], r["end"]) for r in speech_regions(probs, n, self._vad_options())]

    def _mono_segments(self, chunk: np.ndarray, offset: float) -> Iterator[Segment]:
        """Mono: both parties on one track. The track is transcribed once; its words are then
        grouped by voice-activity regions (split at pauses of 0.3 s), so no turn spans two
        speakers where they paused between each other. One VAD run serves both cuts."""
        from faster_whisper.vad import VadOptions

        probs = speech_probabilities(chunk[0])
        regions = [
            (offset + r["start"] / SAMPLE_RATE, offset + r["end"] / SAMPLE_RATE)
            for r in speech_regions(probs, chunk.shape[1], VadOptions(min_silence_duration_ms=300, speech_pad_ms=100))
        ]
        words = [w for seg in self._decode(_Packed(chunk, self._spans(chunk, 0, probs)), (None,), offset) for w in seg.words]
        groups: dict[int, list[Word]] = {}
        for w in words:
            mid = (w.start + w.end) / 2
            # The region holding the word's middle, else the nearest one.
            k = (
                min(
                    range(len(regions)),
                    key=lambda i: (
                        0 if regions[i][0] <= mid <= regions[i][1] else min(abs(mid - regions[i][0]), abs(mid - regions[i][1]))
                    ),
                )
                if regions
                else 0
            )
            groups.setdefault(k, []).append(w)
        for k in sorted(groups):
            yield _segment_from_words(None, groups[k])

    def _stereo_segments(self, chunk: np.ndarray, offset: float, roles: tuple[str, ...]) -> list[Segment]:
        spans = [self._spans(chunk, c) for c in range(len(roles))]
        pack = self.settings.asr_stereo_pack
        if pack in ("time", "channel"):
            # Both parties' speech in one stream. "channel": the left channel's regions, then the
            # right's; with the batched pipeline each window stays within one channel and all
            # windows of the call are decoded as one batch. "time": regions in time order, windows
            # filled across channels (fewer windows, but a higher CER: docs/accuracy.md).
            merged = [sp for per in spans for sp in per]
            if pack == "time":
                merged.sort(key=lambda sp: (sp[1], sp[0]))
            return list(self._decode(_Packed(chunk, merged), roles, offset))
        if pack != "none":
            raise ValueError(f"asr_stereo_pack must be none, time or channel, not {pack!r}")
        jobs = [_Packed(chunk, per) for per in spans]
        if self.settings.asr_workers > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(self.settings.asr_workers) as pool:
                parts = list(pool.map(lambda job: list(self._decode(job, roles, offset)), jobs))
        else:
            parts = [list(self._decode(job, roles, offset)) for job in jobs]
        return [seg for part in parts for seg in part]

    def _whisper(self, audio: np.ndarray, windows: list[tuple[int, int]]):
        s = self.settings
        common = dict(
            language="zh",
            beam_size=s.asr_beam_size,
            initial_prompt=self.prompt,
            no_speech_threshold=0.6,
            log_prob_threshold=-1.0,
            compression_ratio_threshold=2.4,
            word_timestamps=True,
            without_timestamps=s.asr_without_timestamps,
        )
        if self.batched is None:
            segments, _ = self.model.transcribe(audio, vad_filter=False, condition_on_previous_text=False, **common)
            yield from segments
            return
        from faster_whisper.transcribe import get_compression_ratio

        clips = [{"start": a / SAMPLE_RATE, "end": b / SAMPLE_RATE} for a, b in windows]
        segments, _ = self.batched.transcribe(audio, clip_timestamps=clips, batch_size=s.asr_batch_size, **common)
        starts = [a / SAMPLE_RATE for a, _ in windows]
        per_window: dict[int, list] = {}
        for seg in segments:
            per_window.setdefault(max(0, bisect.bisect_right(starts, seg.start + 1e-6) - 1), []).append(seg)
        for k, (a, b) in enumerate(windows):
            # The batched pipeline has neither the no-speech check nor the temperature fallback of
            # the sequential decoder: the same no-speech rule here, and a window whose text is too
            # repetitive or too improbable is decoded again sequentially, fallback included.
            kept = [seg for seg in per_window.get(k, []) if not (seg.no_speech_prob > 0.6 and seg.avg_logprob < -1.0)]
            if kept and (
                get_compression_ratio("".join(seg.text for seg in kept)) > 2.4 or min(seg.avg_logprob for seg in kept) < -1.0
            ):
                self.fallback_windows += 1
                shift = a / SAMPLE_RATE
                redo, _ = self.model.transcribe(audio[a:b], vad_filter=False, condition_on_previous_text=False, **common)
                for seg in redo:
                    words = [replace(w, start=round(w.start + shift, 3), end=round(w.end + shift, 3)) for w in seg.words or []]
                    yield replace(seg, start=round(seg.start + shift, 3), end=round(seg.end + shift, 3), words=words)
                continue
            yield from kept

    def _decode(self, packed: _Packed, roles: tuple[str | None, ...], offset: float) -> Iterator[Segment]:
        """Whisper over a packed stream; words mapped back to their channel (role) and time."""
        if not packed.spans:
            return
        for seg in self._whisper(packed.audio, packed.windows(mix_channels=self.settings.asr_stereo_pack != "channel")):
            words = [w for w in (seg.words or []) if w.word.strip()]
            if not words:
                text = to_simplified(seg.text.strip())
                if text:
                    i, j = packed.locate(seg.start), packed.locate(seg.end, is_end=True)
                    role = roles[packed.spans[i][0]]
                    yield Segment(
                        role,
                        text,
                        round(packed.original(seg.start, i) + offset, 2),
                        round(packed.original(seg.end, j) + offset, 2),
                        [],
                        round(math.exp(seg.avg_logprob), 3),
                    )
                continue
            # Whisper's segments often span several utterances; a pause between words marks a
            # turn, and so does a change of channel in a packed stereo stream.
            piece: list[tuple[str, float, float, float]] = []
            channel: int | None = None
            for w in words:
                i = packed.locate((w.start + w.end) / 2)
                start, end = packed.original(w.start, i), packed.original(w.end, i)
                if piece and (packed.spans[i][0] != channel or start - piece[-1][2] > self.settings.asr_turn_gap):
                    assert channel is not None  # set with the piece's first word
                    yield _segment(roles[channel], piece, offset)
                    piece = []
                channel = packed.spans[i][0]
                piece.append((w.word, start, end, w.probability))
            assert channel is not None  # words is not empty
            yield _segment(roles[channel], piece, offset)

    def segments(self, path: Path, *, stereo_roles: tuple[str, str] | None = None) -> tuple[AudioInfo, list[Segment]]:
        """All segments of a recording, in time order; roles set for stereo, None for mono."""
        info = probe(path)
        roles = stereo_roles or tuple(self.settings.stereo_roles)
        out: list[Segment] = []
        decoded = 0.0
        for offset, chunk in iter_chunks(path):
            decoded = offset + chunk.shape[1] / SAMPLE_RATE
            if chunk.shape[0] == 2:
                out += self._stereo_segments(chunk, offset, roles)
            else:
                out += self._mono_segments(chunk, offset)
        out.sort(key=lambda seg: (seg.start, seg.end))
        # A file cut short decodes to its end without an error: compare with what its header announces.
        truncated = wav_truncation(path)
        if truncated is None and info.duration and info.duration - decoded > max(1.0, 0.02 * info.duration):
            truncated = f"truncated: its header announces {info.duration:.1f} s of audio, {decoded:.1f} s could be decoded"
        return replace(info, truncated=truncated, decoded=round(decoded, 3)), out

    def transcribe(
        self, path: Path, *, interaction_id: str | None = None, channel_roles: tuple[str, str] | None = None, **fields
    ) -> Interaction:
        from qa_engine.asr.roles import assign_roles
        from qa_engine.ml.role_classifier import RoleClassifier

        info, segs = self.segments(path, stereo_roles=channel_roles)
        if segs and segs[0].role is None:
            assign_roles(segs, RoleClassifier.default(self.settings.models_dir))
        turns = [
            Turn(role=seg.role, text=seg.text, start=seg.start, end=seg.end, words=seg.words, asr_confidence=seg.confidence)
            for seg in merge_adjacent(segs)
        ]
        metadata = dict(fields.pop("metadata", {}) or {})
        metadata["asr"] = {
            "model": self.version,
            "channels": info.channels,
            "sample_rate": info.sample_rate,
            "duration_s": info.decoded if info.truncated else info.duration,  # what there is to hear
            "mode": "stereo" if info.channels >= 2 else "mono",
        }
        if info.truncated:
            metadata["asr"]["truncated"] = info.truncated
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


def _segment(role: str | None, words: list[tuple[str, float, float, float]], offset: float) -> Segment:
    """A segment from (text, start, end, probability) words; times already in the recording's own."""
    text = to_simplified("".join(w[0] for w in words).strip())
    kept = [
        Word(text=to_simplified(w.strip()), start=round(a + offset, 2), end=round(b + offset, 2), probability=round(p, 3))
        for w, a, b, p in words
    ]
    confidence = sum(w.probability or 0.0 for w in kept) / len(kept)  # every word has one
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
