"""Alembic from Python: `upgrade(url)`, `downgrade(url, revision)`, `current(url)`.

The migration scripts live in `migrations/` at the repository root (see `alembic.ini`).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from qa_engine.config import REPO_ROOT


def find_alembic_ini() -> Path:
    """`alembic.ini` of the checkout, else of the working directory (an installed package in /app)."""
    for candidate in (REPO_ROOT / "alembic.ini", Path.cwd() / "alembic.ini"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("alembic.ini not found next to qa_engine/ nor in the working directory")


def alembic_config(url: str, ini: Path | None = None) -> Config:
    ini = ini or find_alembic_ini()
    cfg = Config(str(ini))
    cfg.set_main_option("script_location", str(ini.parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # ConfigParser interpolation
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def head() -> str:
    """The newest revision of the migration scripts."""
    from alembic.script import ScriptDirectory

    revision = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert revision is not None  # migrations/ has revisions
    return revision


def current(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from qa_engine.store.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
