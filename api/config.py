"""The API's view of the settings (all of them live in `qa_engine.config.Settings`).

Fields not yet on Settings fall back to the defaults here, so the API runs on any Settings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from qa_engine.config import Settings
from qa_engine.store.db import database_url
from qa_engine.store.kpi import WarningRule


def _setting(settings: Settings, name: str, default: str) -> str:
    """A setting Settings may not define yet: its field, else the environment (`QA_NAME`), else `default`."""
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(f"QA_{name.upper()}", default)
    return str(value)


@dataclass(frozen=True)
class ApiConfig:
    database_url: str
    jwt_secret: str | None  # None: QA_JWT_SECRET is unset; create_app takes the one stored in the database
    jwt_algorithm: str
    access_token_minutes: int
    report_timezone: str
    audio_dir: Path | None
    upload_dir: Path
    max_upload_bytes: int
    max_body_bytes: int
    rescore_max_interactions: int
    warning_rule: WarningRule
    rank_min_interactions: int
    appeal_window_days: int
    rate_limit_storage: str  # the limits are described in qa_engine.config.Settings
    rate_limit_prefix: str
    login_failures_per_user: str
    login_failures_per_address: str
    api_key_failures_per_address: str
    queue_scorer: bool = True  # score queued interactions in this process (a background thread)
    queue_batch: int = 32  # queued interactions claimed, scored and stored together
    redact_pii: bool = True  # queued and uploaded payloads are stored redacted, as the results are

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiConfig:
        secret = getattr(settings, "jwt_secret", None)
        if hasattr(secret, "get_secret_value"):
            secret = secret.get_secret_value()
        return cls(
            database_url=database_url(settings),
            jwt_secret=secret or None,
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
            redact_pii=bool(getattr(settings, "redact_pii", True)),
            rate_limit_storage=settings.rate_limit_storage,
            rate_limit_prefix=settings.rate_limit_prefix,
            login_failures_per_user=settings.login_failures_per_user,
            login_failures_per_address=settings.login_failures_per_address,
            api_key_failures_per_address=settings.api_key_failures_per_address,
            rank_min_interactions=int(getattr(settings, "rank_min_interactions", 10)),
            appeal_window_days=int(getattr(settings, "appeal_window_days", 7)),
            warning_rule=WarningRule(
                days=int(getattr(settings, "warning_days", 3)),
                red_below=float(getattr(settings, "warning_red_below", 60)),
                yellow_below=float(getattr(settings, "warning_yellow_below", 80)),
            ),
        )
