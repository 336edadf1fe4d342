"""The ASR backend interface (qa_engine.asr.backend), used from outside the package: a contact centre's
own Transcriber named in QA_ASR_BACKEND replaces faster-whisper everywhere recordings are prepared."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, SHARED

from qa_engine.asr.backend import BackendError, Transcriber, make_transcriber, planned_version
from qa_engine.batch.worker import expected_versions
from qa_engine.config import Settings
from qa_engine.engine import Inspector
from qa_engine.pipeline import Preparer
from qa_engine.schema import Interaction, Turn

CALLS = SHARED / "audio" / "calls"


class ReferenceTranscriber:
    """A backend as a transcription service would be wired in: it answers with the reference
    transcript the service keeps beside each recording (NAME.json next to NAME.stereo.wav)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @staticmethod
    def planned_version(settings: Settings) -> str:
        return "reference-transcripts:1"

    @property
    def version(self) -> str:
        return self.planned_version(self.settings)

    def transcribe(self, path: Path, *, interaction_id: str | None = None,
                   channel_roles: tuple[str, str] | None = None, **fields) -> Interaction:
        truth = json.loads((path.parent / (path.name.split(".")[0] + ".json")).read_text(encoding="utf-8"))
        turns = [Turn(role=t["role"], text=t["text"], start=t["start"], end=t["end"]) for t in truth["turns"]]
        metadata = {**(fields.pop("metadata", None) or {}), "asr": {"model": self.version}}
        return Interaction(interaction_id=interaction_id or path.stem, channel="call", audio_path=str(path),
                           turns=turns, metadata=metadata, **fields)


BACKEND = f"{__name__}:ReferenceTranscriber"


@pytest.mark.skipif(not CALLS.is_dir(), reason=f"test recordings not found in {CALLS}")
def test_a_configured_backend_prepares_recordings_for_scoring_and_batch_versions():
    settings = Settings(asr_backend=BACKEND)
    transcriber = make_transcriber(settings)
    assert isinstance(transcriber, Transcriber)
    item = Interaction(interaction_id="c1", channel="call", audio_path=str(CALLS / "call_bad.stereo.wav"), agent_id="A2048")
    prepared = Preparer(settings).prepare(item)
    assert prepared.metadata["asr"]["model"] == "reference-transcripts:1" and prepared.agent_id == "A2048"
    assert prepared.turns[2].text == "这个不归我管，你自己去找售后。"
    result = Inspector(settings).inspect(prepared)
    assert any(h.rule_id.startswith("forbidden.") and h.turn == 2 for h in result.hits)
    # a batch plans its ledger versions with the backend's version, before any model is loaded
    assert planned_version(settings) == "reference-transcripts:1"
    assert expected_versions(Inspector(settings), settings, audio=True)["models"]["asr"] == "reference-transcripts:1"


def test_the_default_backend_is_faster_whisper_and_a_bad_name_is_one_clear_error():
    assert planned_version(Settings()).startswith("faster-whisper:")
    with pytest.raises(BackendError, match=r"cannot import nowhere.module:Thing"):
        make_transcriber(Settings(asr_backend="nowhere.module:Thing"))
    with pytest.raises(BackendError, match=r"use one of faster-whisper or package.module:ClassName"):
        make_transcriber(Settings(asr_backend="whisper-server"))
    with pytest.raises(BackendError, match=r"does not implement qa_engine.asr.backend.Transcriber"):
        make_transcriber(Settings(asr_backend="qa_engine.schema:Interaction"))


def test_transcribe_with_a_bad_backend_exits_with_one_line(tmp_path):
    wav = tmp_path / "x.wav"
    wav.write_bytes(b"RIFF")
    env = {**os.environ, "QA_ASR_BACKEND": "nowhere.module:Thing"}
    proc = subprocess.run([sys.executable, "-m", "qa_engine", "transcribe", str(wav)], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("qa-engine: error: QA_ASR_BACKEND 'nowhere.module:Thing': cannot import")
