"""Voice activity detection computed once per channel, cut into regions as often as needed.

faster-whisper's `get_speech_timestamps` runs the Silero model and then turns the per-window speech
probabilities into regions. A mono call needs two cuts of the same track (Whisper's regions and the
finer role regions), so the model output is kept and `speech_regions` below repeats only the cheap
second step. It is faster-whisper 1.2.1's post-processing (MIT, adapted from snakers4/silero-vad),
unchanged; `tests/asr/test_asr.py` checks that it gives exactly what `get_speech_timestamps` gives.
"""

from __future__ import annotations

import numpy as np
from faster_whisper.vad import VadOptions, get_vad_model

WINDOW = 512  # samples per Silero window at 16 kHz


def speech_probabilities(audio: np.ndarray) -> np.ndarray:
    """Silero speech probability of each 512-sample window of a 16 kHz track."""
    padded = np.pad(audio, (0, WINDOW - audio.shape[0] % WINDOW))
    return get_vad_model()(padded)


def speech_regions(
    probs: np.ndarray, n_samples: int, options: VadOptions | None = None, sampling_rate: int = 16_000
) -> list[dict]:
    """Regions {"start", "end"} (samples) of speech, from `speech_probabilities` of the track."""
    o = options or VadOptions()
    threshold = o.threshold
    neg_threshold = o.neg_threshold if o.neg_threshold is not None else max(threshold - 0.15, 0.01)
    min_speech_samples = sampling_rate * o.min_speech_duration_ms / 1000
    speech_pad_samples = sampling_rate * o.speech_pad_ms / 1000
    max_speech_samples = sampling_rate * o.max_speech_duration_s - WINDOW - 2 * speech_pad_samples
    min_silence_samples = sampling_rate * o.min_silence_duration_ms / 1000
    min_silence_samples_at_max_speech = sampling_rate * 98 / 1000

    triggered = False
    speeches: list[dict] = []
    current: dict = {}
    temp_end = prev_end = next_start = 0
    for i, prob in enumerate(probs):
        pos = WINDOW * i
        if prob >= threshold and temp_end:
            temp_end = 0
            if next_start < prev_end:
                next_start = pos
        if prob >= threshold and not triggered:
            triggered = True
            current["start"] = pos
            continue
        if triggered and pos - current["start"] > max_speech_samples:
            if prev_end:
                current["end"] = prev_end
                speeches.append(current)
                current = {}
                if next_start < prev_end:
                    triggered = False
                else:
                    current["start"] = next_start
                prev_end = next_start = temp_end = 0
            else:
                current["end"] = pos
                speeches.append(current)
                current = {}
                prev_end = next_start = temp_end = 0
                triggered = False
                continue
        if prob < neg_threshold and triggered:
            if not temp_end:
                temp_end = pos
            if pos - temp_end > min_silence_samples_at_max_speech:
                prev_end = temp_end
            if pos - temp_end < min_silence_samples:
                continue
            current["end"] = temp_end
            if current["end"] - current["start"] > min_speech_samples:
                speeches.append(current)
            current = {}
            prev_end = next_start = temp_end = 0
            triggered = False
            continue
    if current and n_samples - current["start"] > min_speech_samples:
        current["end"] = n_samples
        speeches.append(current)

    for i, speech in enumerate(speeches):
        if i == 0:
            speech["start"] = int(max(0, speech["start"] - speech_pad_samples))
        if i != len(speeches) - 1:
            silence = speeches[i + 1]["start"] - speech["end"]
            if silence < 2 * speech_pad_samples:
                speech["end"] += int(silence // 2)
                speeches[i + 1]["start"] = int(max(0, speeches[i + 1]["start"] - silence // 2))
            else:
                speech["end"] = int(min(n_samples, speech["end"] + speech_pad_samples))
                speeches[i + 1]["start"] = int(max(0, speeches[i + 1]["start"] - speech_pad_samples))
        else:
            speech["end"] = int(min(n_samples, speech["end"] + speech_pad_samples))
    return speeches
