"""Real audio through real faster-whisper (the embedded base model), and bad audio of every kind."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import SHARED
from qa_engine.asr.audio import AudioError, iter_chunks, probe
from qa_engine.asr.model import MODEL_BIN_SIZE, ModelError, embedded_model_dir, resolve_model_dir
from qa_engine.config import Settings

CALLS = SHARED / "audio" / "calls"


@pytest.fixture(scope="module")
def transcriber():
    from qa_engine.asr.transcribe import WhisperTranscriber

    return WhisperTranscriber(Settings())


def write_wav(path: Path, samples: np.ndarray, rate: int = 8000) -> Path:
    data = np.clip(samples, -1, 1)
    frames = (data.T if data.ndim == 2 else data[:, None]).astype(np.float32)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(frames.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((frames * 32767).astype("<i2").tobytes())
    return path


def test_embedded_model_assembled_once_and_verified(tmp_path):
    first = embedded_model_dir(tmp_path)
    assert (first / "model.bin").stat().st_size == MODEL_BIN_SIZE
    stamp = (first / "model.bin").stat().st_mtime_ns
    assert embedded_model_dir(tmp_path) == first and (first / "model.bin").stat().st_mtime_ns == stamp
    # A damaged cache (marker gone, e.g. an interrupted copy) is rebuilt, not trusted.
    (first / ".verified").unlink()
    with (first / "model.bin").open("r+b") as fh:
        fh.truncate(1000)
    rebuilt = embedded_model_dir(tmp_path)
    assert (rebuilt / "model.bin").stat().st_size == MODEL_BIN_SIZE
    with pytest.raises(ModelError, match="not a CTranslate2 Whisper directory"):
        resolve_model_dir(tmp_path / "nowhere", tmp_path)


def test_stereo_call_bad_end_to_end(transcriber, inspector):
    item = transcriber.transcribe(CALLS / "call_bad.stereo.wav", agent_id="A2048")
    assert [t.role for t in item.turns] == ["agent", "customer"] * 3 + ["agent"]
    assert all(t.asr_confidence is not None and t.words for t in item.turns)
    result = inspector.inspect(item)
    found = {h.text for h in result.hits if h.dimension == "forbidden_words"}
    assert {"不归我管", "你听不懂吗", "爱投诉就投诉"} <= found
    silence = [h for h in result.hits if h.rule_id == "signals.silence"]
    assert len(silence) == 1 and silence[0].time[1] - silence[0].time[0] > 6.0
    assert result.flag == "red"


def test_stereo_overlap_and_simplified_output(transcriber):
    item = transcriber.transcribe(CALLS / "call_mixed.stereo.wav")
    text = "".join(t.text for t in item.turns)
    assert "帮您查询" in text and "門" not in text and "幫" not in text
    customer_first = next(t for t in item.turns if t.role == "customer")
    agent_first = item.turns[0]
    assert agent_first.role == "agent" and customer_first.start < agent_first.end  # the interruption


def test_mono_call_gets_roles(transcriber):
    truth = json.loads((CALLS / "call_good.json").read_text(encoding="utf-8"))
    item = transcriber.transcribe(CALLS / "call_good.mono.wav")
    from qa_engine.asr.evaluate import role_accuracy
    from qa_engine.schema import Interaction

    assert role_accuracy(Interaction.model_validate(truth), item) > 0.8
    assert item.metadata["asr"]["mode"] == "mono"


@pytest.mark.slow
def test_other_formats_and_rates(transcriber, tmp_path):
    ffmpeg = shutil.which("ffmpeg")
    src = CALLS / "call_mixed.stereo.wav"
    import av

    # Re-encode with PyAV itself (no ffmpeg binary needed): 16 kHz mp3 and 48 kHz opus in ogg.
    for name, codec, rate in (("c.mp3", "mp3", 16000), ("c.ogg", "libopus", 48000)):
        out_path = tmp_path / name
        with av.open(str(src)) as inp, av.open(str(out_path), "w") as out:
            stream = out.add_stream(codec, rate=rate, layout="stereo")
            resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="stereo", rate=rate)
            for frame in inp.decode(audio=0):
                frame.pts = None
                for f in resampler.resample(frame):
                    for packet in stream.encode(f):
                        out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        info = probe(out_path)
        assert info.channels == 2
        item = transcriber.transcribe(out_path)
        assert "帮您查询" in "".join(t.text for t in item.turns), name
    assert ffmpeg is None or ffmpeg  # the test does not depend on an ffmpeg binary


def test_bad_audio_clear_errors(tmp_path, transcriber):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio", encoding="utf-8")
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes((CALLS / "call_bad.stereo.wav").read_bytes()[:200_000])
    with pytest.raises(AudioError, match="empty file"):
        transcriber.transcribe(empty)
    with pytest.raises(AudioError, match="not a readable audio file"):
        transcriber.transcribe(text)
    part = transcriber.transcribe(truncated)  # what is there is used
    assert part.turns and part.turns[-1].end < 15
    silent = transcriber.transcribe(write_wav(tmp_path / "silence.wav", np.random.default_rng(0).uniform(-0.003, 0.003, (2, 8000 * 20))))
    assert silent.turns == []


@pytest.mark.slow
def test_transcribe_cli_goes_past_bad_files(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_text("nope")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "qa_engine", "transcribe", str(bad), str(CALLS / "call_good.stereo.wav"), "-o", str(out)],
        capture_output=True, timeout=300,
    )
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert "bad.wav: not a readable audio file" in err and "Traceback" not in err
    item = json.loads((out / "call_good.stereo.json").read_text(encoding="utf-8"))
    assert item["channel"] == "call" and len(item["turns"]) >= 8


@pytest.mark.slow
def test_transcribe_cli_shows_progress_and_fails_truncated_and_speechless_audio(tmp_path):
    """A WAV cut short decodes to its end without an error and noise transcribes to nothing: both
    exit 1 with the reason (the cut one's transcript is still written); a missing path exits 2."""
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes((CALLS / "call_bad.stereo.wav").read_bytes()[:200_000])
    noise = write_wav(tmp_path / "noise.wav", np.random.default_rng(0).uniform(-0.003, 0.003, (2, 8000 * 5)))
    good = CALLS / "call_good.mono.wav"
    proc = subprocess.run([sys.executable, "-m", "qa_engine", "transcribe", str(truncated), str(noise), str(good)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    err = proc.stderr.splitlines()
    assert f"qa-engine: warning: {truncated}: truncated: its header announces 30.3 s of audio, the file holds 6.2 s; " \
           "the transcript covers only that" in err, err
    assert f"qa-engine: error: {noise}: no speech recognised in 5.0 s of audio (silent, noise or not a call recording?)" in err
    assert any(line.startswith(f"[3/3] {good}: ") and " turns from " in line for line in err), err  # progress
    items = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [i["interaction_id"] for i in items] == ["truncated", "call_good.mono"]
    assert items[0]["metadata"]["asr"]["truncated"].startswith("truncated:") and "truncated" not in items[1]["metadata"]["asr"]
    # an MP3 cut short: its header (Xing) announces the whole call, the decoder stops at the cut
    mp3 = tmp_path / "cut.mp3"
    with av.open(str(good)) as src, av.open(str(mp3), "w") as out:
        stream = out.add_stream("libmp3lame", rate=16000)
        for frame in src.decode(audio=0):
            frame.pts = None
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    mp3.write_bytes(mp3.read_bytes()[: mp3.stat().st_size // 3])
    cut = subprocess.run([sys.executable, "-m", "qa_engine", "transcribe", str(mp3)], capture_output=True, text=True, timeout=300)
    assert cut.returncode == 1 and f"qa-engine: warning: {mp3}: truncated: its header announces 50.6 s of audio" in cut.stderr, cut.stderr
    assert json.loads(cut.stdout)["metadata"]["asr"]["duration_s"] < 20
    complete = subprocess.run([sys.executable, "-m", "qa_engine", "transcribe", str(good)], capture_output=True, text=True, timeout=300)
    assert complete.returncode == 0 and "warning" not in complete.stderr, complete.stderr
    missing = subprocess.run([sys.executable, "-m", "qa_engine", "transcribe", str(tmp_path / "nope.wav"), str(good)],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and missing.stderr.strip() == f"qa-engine: error: not found: {tmp_path / 'nope.wav'}"


def _peak_mb_decoding(path: Path) -> tuple[float, int]:
    code = (
        "import resource; from pathlib import Path; from qa_engine.asr.audio import iter_chunks\n"
        "total = 0\n"
        f"for off, chunk in iter_chunks(Path({str(path)!r})): total += chunk.shape[1]\n"
        "print(total / 16000, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True).stdout.split()
    return float(out[0]), int(out[1])


def _noise_wav(path: Path, minutes: int) -> Path:
    rng = np.random.default_rng(1)
    block = (rng.uniform(-0.003, 0.003, (8000 * 60, 2)) * 32767).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        for _ in range(minutes):
            w.writeframes(block)
    return path


@pytest.mark.slow
def test_two_hour_file_streams_in_bounded_memory(tmp_path, transcriber):
    """Decoding is chunked: peak memory for 2 hours is that of 20 minutes, not 6x it; and two
    hours of line noise transcribe to an empty transcript."""
    seconds_short, peak_short = _peak_mb_decoding(_noise_wav(tmp_path / "short.wav", 20))
    long_path = _noise_wav(tmp_path / "long.wav", 120)
    seconds_long, peak_long = _peak_mb_decoding(long_path)
    assert transcriber.transcribe(long_path).turns == []
    assert abs(seconds_short - 1200) < 1 and abs(seconds_long - 7200) < 1
    # Holding the whole 2-hour file at 16 kHz float32 stereo would need 920 MB more.
    assert peak_long < peak_short * 1.25 + 20, (peak_short, peak_long)


def test_vad_regions_match_faster_whisper():
    """qa_engine.asr.vad cuts the Silero output exactly as faster-whisper's get_speech_timestamps
    does (it runs the model once for a mono call's two cuts)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    from qa_engine.asr.vad import speech_probabilities, speech_regions

    for name in ("call_bad.mono.wav", "call_mixed.stereo.wav"):
        _, chunk = next(iter_chunks(CALLS / name))
        for track in chunk:
            probs = speech_probabilities(track)
            for options in (VadOptions(), VadOptions(min_silence_duration_ms=300, speech_pad_ms=100), VadOptions(max_speech_duration_s=5)):
                assert speech_regions(probs, track.shape[0], options) == get_speech_timestamps(track, options)


def test_packed_stereo_keeps_roles_times_and_signals(inspector):
    """Both channels decoded as one stream (the default): every word goes back to its own channel
    and time, so roles, the interruption of call_mixed and the silence of call_bad survive."""
    from qa_engine.asr.transcribe import WhisperTranscriber

    packed = WhisperTranscriber(Settings(asr_stereo_pack="time"))
    item = packed.transcribe(CALLS / "call_mixed.stereo.wav")
    assert [t.role for t in item.turns] == ["agent", "customer"] * 3 + ["agent"]
    assert all(t.words and t.asr_confidence for t in item.turns)
    assert all(w.start >= t.start - 0.01 and w.end <= t.end + 0.01 for t in item.turns for w in t.words)
    customer_first = item.turns[1]
    assert customer_first.start < item.turns[0].end  # the interruption
    bad = packed.transcribe(CALLS / "call_bad.stereo.wav")
    silence = [h for h in inspector.inspect(bad).hits if h.rule_id == "signals.silence"]
    assert len(silence) == 1 and silence[0].time[1] - silence[0].time[0] > 6.0
