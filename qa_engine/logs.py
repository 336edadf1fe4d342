"""Logging for operators: stdlib `logging`, as text or one JSON object per line (QA_LOG_FORMAT).

Modules log to `logging.getLogger(__name__)` and never configure anything; an entry point (the CLI,
the API app, a batch worker) calls `configure_logging` once. Fields passed with `extra=` (packs,
model versions, an item's key) become keys of the JSON object, so a log pipeline can filter on them.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qa_engine.config import Settings

# A LogRecord's own attributes; anything else on a record came in through `extra=`.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, the `extra` fields,
    and the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update((k, v) for k, v in vars(record).items() if k not in _RECORD_FIELDS and not k.startswith("_"))
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class _Handler(logging.StreamHandler):
    """The handler configure_logging installs (so a second call replaces it instead of adding one).
    It writes to the current sys.stderr, not the one of when it was made (a test's captured stream)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_logging(settings: Settings) -> None:
    """Log records of `settings.log_level` and above to stderr, as `settings.log_format` says."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(handler)
    handler = _Handler()
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(settings.log_level)


__all__ = ["JsonFormatter", "configure_logging"]
