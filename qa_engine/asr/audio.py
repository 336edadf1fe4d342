"""Audio decoding through PyAV (what faster-whisper uses), streamed in chunks of bounded size.

Any container PyAV reads works: wav, mp3, m4a, ogg/opus, 8 kHz telephone audio or higher rates.
Output is float32 at 16 kHz, one row per channel (mono stays one row, stereo two; more channels
keep the first two).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 16_000
log = logging.getLogger(__name__)


class AudioError(ValueError):
    """The file is not audio we can decode; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class AudioInfo:
    path: Path
    channels: int
    sample_rate: int
    duration: float | None  # as the container's header says
    codec: str
    truncated: str | None = None  # why the file holds less audio than its header announces (after decoding)
    decoded: float | None = None  # seconds of audio decoded (after decoding)


def _open(path: Path):
    if not path.exists():
        raise AudioError(f"{path}: file not found")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise AudioError(
            f"{path}: not a readable audio file ({exc.__class__.__name__}: {getattr(exc, 'strerror', None) or exc})"
        ) from None
    if not container.streams.audio:
        container.close()
        raise AudioError(f"{path}: no audio stream")
    return container


def wav_truncation(path: Path) -> str | None:
    """Why a WAV file is cut short (its data chunk announces more bytes than the file holds), else
    None; decoders read such a file to its end without an error. Other formats: None (their decoder
    reports damage, iter_chunks)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            byte_rate = 0
            while len(chunk := fh.read(8)) == 8:
                kind, n = chunk[:4], int.from_bytes(chunk[4:], "little")
                if kind == b"data":
                    present = size - fh.tell()
                    if n in (0, 0xFFFFFFFF) or present >= n or not byte_rate:  # 0 / -1: written as a stream
                        return None
                    return (f"truncated: its header announces {n / byte_rate:.1f} s of audio, the file holds "
                            f"{present / byte_rate:.1f} s")  # fmt: skip
                body = fh.read(n + n % 2)
                if kind == b"fmt " and len(body) >= 12:
                    byte_rate = int.from_bytes(body[8:12], "little")
    except OSError:
        return None
    return None


def probe(path: Path) -> AudioInfo:
    with _open(path) as container:
        stream = container.streams.audio[0]
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        return AudioInfo(
            path, stream.codec_context.channels, stream.codec_context.sample_rate, duration, stream.codec_context.name
        )


def iter_chunks(path: Path, chunk_seconds: float = 300.0) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (offset in seconds, float32 array [channels, samples]) chunks of at most
    `chunk_seconds`, so a two-hour recording never sits in memory whole. A file that breaks off
    midway (truncated) yields what could be decoded and logs a warning."""
    container = _open(path)
    try:
        stream = container.streams.audio[0]
        channels = min(2, stream.codec_context.channels or 1)
        resampler = av.AudioResampler(format="fltp", layout="stereo" if channels == 2 else "mono", rate=SAMPLE_RATE)
        limit = int(chunk_seconds * SAMPLE_RATE)
        pending: list[np.ndarray] = []
        pending_len = 0
        offset = 0

        def flush(n: int) -> np.ndarray:
            nonlocal pending, pending_len
            data = np.concatenate(pending, axis=1)
            out, rest = data[:, :n], data[:, n:]
            pending = [rest] if rest.shape[1] else []
            pending_len = rest.shape[1]
            return out

        try:
            for frame in container.decode(stream):
                frame.pts = None  # let the resampler run on sample counts, not damaged timestamps
                for out in resampler.resample(frame):
                    pending.append(out.to_ndarray().astype(np.float32, copy=False))
                    pending_len += pending[-1].shape[1]
                while pending_len >= limit:
                    chunk = flush(limit)
                    yield offset / SAMPLE_RATE, chunk
                    offset += chunk.shape[1]
            for out in resampler.resample(None):
                pending.append(out.to_ndarray().astype(np.float32, copy=False))
                pending_len += pending[-1].shape[1]
        except av.error.FFmpegError as exc:
            if offset == 0 and pending_len == 0:
                raise AudioError(f"{path}: cannot decode audio ({exc.__class__.__name__})") from None
            log.warning(
                "%s: decoding stopped early (%s); using the first %.1f s",
                path,
                exc.__class__.__name__,
                (offset + pending_len) / SAMPLE_RATE,
            )
        if pending_len:
            yield offset / SAMPLE_RATE, flush(pending_len)
        elif offset == 0:
            raise AudioError(f"{path}: no audio samples")
    finally:
        container.close()
