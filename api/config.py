"""The API's view of the settings (all of them live in `qa_engine.config.Settings`).

Fields not yet on Settings fall back to the defaults here, so the API runs on any Settings.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from qa_engine.config import Settings
from qa_engine.store.db import database_url
from qa_engine.store.kpi import WarningRule

log = logging.getLogger(__name__)


def _setting(settings: Settings, name: str, default: str) -> str:
    """A setting Settings may not define yet: its field, else the environment (`QA_NAME`), else `default`."""
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(f"QA_{name.upper()}", default)
    return str(value)


@dataclass(frozen=True)
class ApiConfig:
    database_url: str
    jwt_secret: str
    jwt_algorithm: str
    access_token_minutes: int
    report_timezone: str
    audio_dir: Path | None
    upload_dir: Path
    max_upload_bytes: int
    max_body_bytes: int
    rescore_max_interactions: int
    warning_rule: WarningRule
    queue_scorer: bool = True  # score queued interactions in this process (a background thread)
    queue_batch: int = 32  # queued interactions claimed, scored and stored together

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiConfig:
        secret = getattr(settings, "jwt_secret", None)
        if hasattr(secret, "get_secret_value"):
            secret = secret.get_secret_value()
        if not secret:
            log.warning("QA_JWT_SECRET is not set: using a random secret; tokens end with this process")
            secret = secrets.token_urlsafe(48)
        return cls(
            database_url=database_url(settings),
            jwt_secret=secret,
            jwt_algorithm=getattr(settings, "jwt_algorithm", "HS256"),
            access_token_minutes=int(getattr(settings, "access_token_minutes", 60)),
            report_timezone=getattr(settings, "report_timezone", "Asia/Shanghai"),
            audio_dir=getattr(settings, "audio_dir", None),
            upload_dir=getattr(settings, "upload_dir", None) or Path(settings.cache_dir) / "uploads",
            max_upload_bytes=int(getattr(settings, "max_upload_mb", 200)) * 1024 * 1024,
            max_body_bytes=int(getattr(settings, "max_body_mb", 32)) * 1024 * 1024,
            rescore_max_interactions=int(getattr(settings, "rescore_max_interactions", 20000)),
            queue_scorer=_setting(settings, "queue_scorer", "1").lower() not in ("0", "false", "no", "off"),
            queue_batch=max(1, int(_setting(settings, "queue_batch", "32"))),
            warning_rule=WarningRule(
                days=int(getattr(settings, "warning_days", 3)),
                red_below=float(getattr(settings, "warning_red_below", 60)),
                yellow_below=float(getattr(settings, "warning_yellow_below", 80)),
            ),
        )
