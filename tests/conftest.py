from __future__ import annotations

import os
from pathlib import Path

import pytest

from qa_engine.config import Settings
from qa_engine.engine import Inspector
from qa_engine.schema import Interaction

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("QA_SHARED_DIR", REPO.parent / "shared"))


def pytest_addoption(parser) -> None:
    parser.addoption("--update-screenshots", action="store_true",
                     help="tests/test_web.py writes its screenshots into docs/screenshots (default: a temporary folder)")


@pytest.fixture(scope="session")
def screenshots(request, tmp_path_factory) -> Path:
    """Where the browser tests put their screenshots: a temporary folder, so that a test run leaves the
    checkout as it was; docs/screenshots (the README's) with `pytest --update-screenshots`."""
    if request.config.getoption("--update-screenshots"):
        return REPO / "docs" / "screenshots"
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="session")
def inspector() -> Inspector:
    return Inspector(Settings())


def chat(*turns: tuple[str, str], channel: str = "chat", **extra) -> Interaction:
    return Interaction.model_validate(
        {"interaction_id": "t", "channel": channel, "turns": [{"role": r, "text": t} for r, t in turns], **extra}
    )


def rule_ids(result, turn: int | None = None) -> set[str]:
    return {h.rule_id for h in result.hits if turn is None or h.turn == turn}
