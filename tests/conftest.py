from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from qa_engine.config import Settings
from qa_engine.engine import Inspector
from qa_engine.schema import Interaction

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("QA_SHARED_DIR", REPO.parent / "shared"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_app(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """The real app served by uvicorn on a free loopback port, configured by `env` (QA_* settings on
    top of this process's environment), its output in `log_path`; yields its base URL once
    /healthz answers and stops it afterwards. The database must be migrated."""
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app", "--host", "127.0.0.1",
             "--port", str(port)],
            cwd=REPO, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(120):
                try:
                    if httpx.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.5)
            else:
                pytest.fail(f"the app did not start; log: {log_path.read_text()[-2000:]}")
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def pytest_addoption(parser) -> None:
    parser.addoption("--update-screenshots", action="store_true",
                     help="tests/web/test_web.py writes its screenshots into docs/screenshots (default: a temporary folder)")


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
