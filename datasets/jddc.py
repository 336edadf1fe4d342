"""Loader for the JD customer-service chats (JDDC 2019 sample) in ../shared/datasets.

The data are research-only and are never copied into this repository; the loader reads them where
they lie and turns each session into an Interaction of the contract (channel chat, no times).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from qa_engine.config import get_settings


def shared_dir() -> Path:
    """The shared folder of the settings (QA_SHARED_DIR), where ../shared/datasets lives."""
    return get_settings().shared_dir


def chat_dev_path(shared: Path | None = None) -> Path:
    return (shared or shared_dir()) / "datasets" / "jddc_chat_sample" / "chat_dev.txt"


def iter_rows(path: Path) -> Iterator[tuple[str, int, str, str]]:
    """(session_id, utterance index within the session, role, text) for each row."""
    if not path.is_file():
        raise FileNotFoundError(f"JDDC chat sample not found at {path} (set QA_SHARED_DIR)")
    current, index = None, 0
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 7:
                raise ValueError(f"{path.name} line {line_no}: expected 7 tab-separated columns, got {len(cols)}")
            session, is_agent, text = cols[0], cols[2], "\t".join(cols[6:])
            index = index + 1 if session == current else 0
            current = session
            yield session, index, "agent" if is_agent == "1" else "customer", text


def load_sessions(path: Path | None = None) -> list[dict]:
    """Every session as an interaction dict (contract shape), in file order."""
    sessions: dict[str, dict] = {}
    for session, _, role, text in iter_rows(path or chat_dev_path()):
        item = sessions.setdefault(
            session,
            {"interaction_id": f"jddc-{session}", "channel": "chat", "agent_id": None, "turns": [],
             "metadata": {"source": "JDDC 2019 chat_dev"}},
        )
        item["turns"].append({"role": role, "text": text})
    return list(sessions.values())
