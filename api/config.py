"""The API's view of the settings: values derived from `qa_engine.config.Settings` (which holds every
setting and its default) in the form the routes use them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qa_engine.config import Settings
from qa_engine.store.db import database_url
from qa_engine.store.kpi import WarningRule


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
    queue_scorer: bool  # score queued interactions in this process (a background thread)
    queue_batch: int  # queued interactions claimed, scored and stored together
    redact_pii: bool  # queued and uploaded payloads are stored redacted, as the results are

    @property
    def signing_secret(self) -> str:
        """What signs and checks tokens: QA_JWT_SECRET, or the one create_app took from the database."""
        assert self.jwt_secret is not None, "create_app fills in jwt_secret"
        return self.jwt_secret

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiConfig:
        secret = settings.jwt_secret
        return cls(
            database_url=database_url(settings),
            jwt_secret=secret.get_secret_value() if secret is not None else None,
            jwt_algorithm=settings.jwt_algorithm,
            access_token_minutes=settings.access_token_minutes,
            report_timezone=settings.report_timezone,
            audio_dir=settings.audio_dir,
            upload_dir=settings.uploads_path,
            max_upload_bytes=settings.max_upload_mb * 1024 * 1024,
            max_body_bytes=settings.max_body_mb * 1024 * 1024,
            rescore_max_interactions=settings.rescore_max_interactions,
            queue_scorer=settings.queue_scorer,
            queue_batch=settings.queue_batch,
            redact_pii=settings.redact_pii,
            rate_limit_storage=settings.rate_limit_storage,
            rate_limit_prefix=settings.rate_limit_prefix,
            login_failures_per_user=settings.login_failures_per_user,
            login_failures_per_address=settings.login_failures_per_address,
            api_key_failures_per_address=settings.api_key_failures_per_address,
            rank_min_interactions=settings.rank_min_interactions,
            appeal_window_days=settings.appeal_window_days,
            warning_rule=WarningRule(
                days=settings.warning_days,
                red_below=settings.warning_red_below,
                yellow_below=settings.warning_yellow_below,
            ),
        )
