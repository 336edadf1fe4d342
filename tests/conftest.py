from __future__ import annotations

import os
from pathlib import Path

import pytest

from qa_engine.config import Settings
from qa_engine.engine import Inspector
from qa_engine.schema import Interaction

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("QA_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def inspector() -> Inspector:
    return Inspector(Settings())


def chat(*turns: tuple[str, str], channel: str = "chat", **extra) -> Interaction:
    return Interaction.model_validate(
        {"interaction_id": "t", "channel": channel, "turns": [{"role": r, "text": t} for r, t in turns], **extra}
    )


def rule_ids(result, turn: int | None = None) -> set[str]:
    return {h.rule_id for h in result.hits if turn is None or h.turn == turn}
