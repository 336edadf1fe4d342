"""All settings in one pydantic-settings class; environment variables use the prefix ``QA_``."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from limits import parse as parse_limit
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]
MIN_JWT_SECRET_BYTES = 32


def user_data_dir() -> Path:
    """The default data folder: ~/.local/share/qa-engine (the XDG user data directory)."""
    return Path.home() / ".local" / "share" / "qa-engine"


class Settings(BaseSettings):
    # hide_input_in_errors: a refused setting's message never prints its value (secrets, database passwords)
    model_config = SettingsConfigDict(env_prefix="QA_", env_file=".env", extra="ignore", hide_input_in_errors=True)

    lexicons_dir: Path = REPO_ROOT / "lexicons"  # lexicons, rule packs (packs/) and scorecards
    # Rule packs (YAML files relative to lexicons_dir/packs) loaded by default.
    rule_packs: list[str] = ["politeness", "forbidden", "empathy", "script", "signals", "emotion"]
    scorecards_dir: Path | None = None  # default: lexicons_dir / "scorecards"
    # Where ../shared/datasets lives (evaluation only; never needed for scoring).
    shared_dir: Path = REPO_ROOT.parent / "shared"
    # Emotion per turn and the customer trajectory: "lstm" (models/emotion_lstm, committed; better than
    # the lexicon on the held-out split, docs/accuracy.md), "transformer" (models/emotion_e5, built by
    # training.train_e5_emotion) or "lexicon" (the DUTIR/cue-list baseline).
    emotion_scorer: str = "lstm"
    # With a model scorer (lstm, transformer): a customer turn the model reads as not negative is
    # negative when it holds one of the guideline's explicit cues (lexicons/words/customer_negative_*.txt,
    # qa_engine.ml.customer_cues; customer dev negative F1 0.573 -> 0.615). Agent turns: the model alone.
    emotion_customer_cues: bool = True
    # Predicted customer satisfaction per interaction (result.satisfaction; models/satisfaction_ridge,
    # committed, built by training.train_satisfaction). False: no prediction (result.satisfaction null).
    satisfaction: bool = True
    # ONNX models (models/<name>/ with a model card each); any compatible directory by configuration.
    models_dir: Path = REPO_ROOT / "models"
    embedder_dir: Path | None = None  # default: models_dir / "e5_small_zh"
    onnx_threads: int = 2  # threads of each ONNX model session
    # The GIL switch interval (ms) `qa-engine score` sets for its process when its engine runs models
    # in background threads (engine.shorten_gil_switch; never the engine itself, nor the API): their
    # onnxruntime calls need the GIL for a moment at each start and end, and with Python's default
    # 5 ms they wait that long behind the rules thread (inspect_many 1.45 -> 1.25 s per 800 JD
    # sessions at 0.5 ms, docs/benchmarks.md). 0 leaves the interpreter's setting alone.
    gil_switch_ms: float = Field(default=0.5, ge=0)
    # Logs of the CLI, the API and batch workers, on stderr (qa_engine.logs): "text" lines or "json",
    # one object per line with the record's fields (packs, model versions, a failed item's key).
    log_format: Literal["text", "json"] = "text"
    # WARNING: problems only (a queued interaction that failed, an engine that cannot load: a missing
    # model); INFO adds the engine's load (packs, versions, models), failed batch items, job progress.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"

    # ASR (faster-whisper). The embedded Whisper base model is assembled here on first use.
    cache_dir: Path = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "qa-engine"
    whisper_model_dir: Path | None = None  # any CTranslate2 Whisper directory; default: the embedded base model
    # The ASR backend (qa_engine.asr.backend): "faster-whisper" (in this process), or another
    # implementation of its Transcriber interface named as package.module:ClassName.
    asr_backend: str = "faster-whisper"
    asr_device: str = "cpu"  # CTranslate2 device: cpu, cuda or auto
    asr_compute_type: str = "int8"  # CTranslate2 compute type: int8, int8_float16, float16, float32 ...
    # Beam 4 through the batched pipeline: lower CER than beam 5 sequential on the test calls and
    # RTF <= 0.15 on 2 threads (docs/accuracy.md, docs/benchmarks.md); greedy lost a forbidden phrase.
    asr_beam_size: int = 4
    asr_threads: int = 2  # CPU threads of each Whisper worker
    asr_hotword_prompt: bool = False  # measured: see docs/accuracy.md
    asr_vad: bool = True  # decode only the speech found by voice activity detection (Silero VAD)
    # Speed options, each measured for CER and real-time factor (bench/asr_options.py, docs/benchmarks.md).
    # Stereo: "none" decodes each channel on its own; "time" / "channel" decode both channels' speech
    # as one stream (regions in time order / all of the left channel first), roles kept per word.
    # With the batched pipeline "channel" never puts two channels in one window: each window holds
    # what "none" would decode, and all windows of a call go through Whisper as one batch.
    asr_stereo_pack: Literal["none", "time", "channel"] = "channel"
    asr_without_timestamps: bool = False  # no timestamp tokens (word timestamps still computed)
    # >0: faster-whisper's batched pipeline over independent <=30 s windows of speech, this many per
    # batch (a window that fails the no-speech, compression or log-prob checks is decoded again the
    # sequential way, fallback included); 0: the sequential decoder over the whole stream.
    asr_batch_size: int = 8
    asr_workers: int = 1  # CTranslate2 workers; >1 decodes the two stereo channels in parallel (unpacked)
    asr_turn_gap: float = 0.45  # seconds of pause between words that start a new turn
    asr_low_confidence: float = 0.6  # turns below this are marked in hits
    stereo_roles: tuple[str, str] = ("agent", "customer")  # left, right
    redact_pii: bool = True  # phone, ID and card numbers, e-mail and addresses masked before scoring and storing

    # Storage and API. The data folder holds the SQLite database (unless database_url names another)
    # and the uploaded calls (unless upload_dir does), so every command and server started from any
    # folder uses the same ones; `qa-engine --data-dir DIR` sets it for one command.
    data_dir: Path = Field(default_factory=user_data_dir)
    # default: sqlite:///<data_dir>/qa_engine.db; or postgresql+psycopg://user@host:5432/db
    database_url: str | None = None
    # Signs tokens (at least 32 bytes). Unset: a secret generated once and stored in the database
    # (table server_secrets), shared by every worker and host using that database.
    jwt_secret: SecretStr | None = None
    jwt_algorithm: str = "HS256"  # of the login and audio tokens
    access_token_minutes: int = 60  # a login token is valid this long
    report_timezone: str = "Asia/Shanghai"  # local dates for filters, summaries, daily trend
    # Throttling of failures (api/ratelimit.py), in the `limits` notation ("10/minute", "100 per hour"):
    # failed logins per username and per client address, failed API-key lookups per client address.
    # Only failures count. memory:// counts in each process; redis://host:port/db shares the counts
    # between workers and hosts (keys start with rate_limit_prefix).
    login_failures_per_user: str = "10/minute"
    login_failures_per_address: str = "30/minute"  # failed logins per client address
    api_key_failures_per_address: str = "30/minute"  # failed API keys per client address
    rate_limit_storage: str = "memory://"  # where the failures are counted: memory:// or redis://host:port/db
    rate_limit_prefix: str = "qa-engine"  # start of the counters' keys in Redis
    audio_dir: Path | None = None  # the API accepts audio-only interactions only for paths under this dir
    # Batch scoring (`qa-engine batch --executor celery`, `qa-engine worker`): Redis broker and results.
    celery_broker_url: str = "redis://127.0.0.1:6379/0"
    celery_result_backend: str = "redis://127.0.0.1:6379/0"  # where Celery workers put their outcomes
    batch_queue: str = "qa-engine-batch"  # the Celery queue of batch items
    # Routing of a Celery batch by kind of item: recordings (transcribed: GPU workers) to
    # batch_call_queue, chats and unreadable records (scoring only: CPU workers, `qa-engine worker
    # --no-asr`) to batch_chat_queue. Unset: batch_queue. `qa-engine batch --queue Q` sends every
    # item to Q; --call-queue / --chat-queue set these for one run.
    batch_call_queue: str | None = None
    batch_chat_queue: str | None = None  # chats and unreadable records (see batch_call_queue)
    # A plain progress line (done / queued / running per worker, rate, ETA) at least this often; the
    # Celery driver checks on its workers at the same pace, and a run whose driver has not renewed
    # its Redis mark for 3 of these is over: its tasks still queued are skipped (a rerun queues them).
    batch_heartbeat_s: float = Field(default=10.0, gt=0)
    # Chat items per task of the local executors (inline and --workers N): a chunk is checked and
    # prepared item by item, scored together through inspect_many (the models in large batches)
    # and stored one transaction per item. 1: one item at a time. Recordings go one per task.
    batch_chunk: int = Field(default=64, ge=1)
    # Redis hands an unacknowledged task to another worker after this long (kombu's default: 1 hour);
    # it must exceed the longest item (a 1-hour call on a CPU worker: ~20 minutes at RTF 0.3). The
    # driver hands back items of a worker that is gone much sooner (two heartbeats).
    batch_visibility_timeout_s: int = Field(default=1800, ge=60)
    # Tries of an item whose worker was lost (killed, OOM, power) before it fails with "worker lost".
    batch_max_tries: int = Field(default=3, ge=1)
    # Celery result keys (and started-states) expire after this long: a killed driver leaves nothing
    # in Redis for long. The driver reads (and deletes) each result within seconds.
    batch_result_expiry_s: int = Field(default=600, ge=60)
    # With no worker consuming the queue for this long in the middle of a run, the driver stops
    # with the partial report (exit 2), unless run with --wait-for-workers.
    batch_no_worker_s: float = Field(default=60.0, gt=0)
    # `qa-engine worker`: how long it waits for Redis at start before giving up (exit 2, one line),
    # and, roughly, how long it tries to reconnect after losing it, so a service manager restarts it.
    worker_broker_wait_s: float = Field(default=60.0, gt=0)
    upload_dir: Path | None = None  # uploaded audio is kept (and played from) here; default: data_dir / "uploads"
    max_upload_mb: int = 200  # audio file of POST /v1/interactions/audio
    # Input limits, the same on every ingest path (API, `qa-engine score`, `qa-engine batch`; README
    # "Input limits"). A request body over max_body_mb is refused (413) before it is parsed: 32 MB
    # holds a bulk request of 1000 chats (5-15 KB of JSON each) with room for word timings, and
    # parsing it takes ~5x its size in memory (measured: 59 MB of bulk JSON, +267 MB). An audio
    # upload may be max_upload_mb larger. Over the others an interaction is refused (422) naming the
    # limit: a 10-minute call has ~3,000 characters in ~150 turns, a long chat some hundreds of
    # turns; max_text_chars bounds the time one interaction takes to score (measured: ~0.5 s per
    # 200,000 characters of chat, where 50 turns of 20,000 took 3.8 s).
    max_body_mb: int = Field(default=32, ge=1)
    max_turns: int = Field(default=2000, ge=1)  # turns per interaction
    max_turn_chars: int = Field(default=5000, ge=1)  # characters per turn
    max_text_chars: int = Field(default=200_000, ge=1)  # characters of all turns together
    max_metadata_bytes: int = Field(default=16_384, ge=0)  # metadata and extra fields, as JSON
    rescore_max_interactions: int = 20000  # one rescore request runs inline; larger ranges are split
    # Interactions queued by POST /v1/interactions?wait=false and /v1/interactions/bulk: every API
    # process scores them in a background thread (false: not in this process), this many at a time.
    queue_scorer: bool = True
    queue_batch: int = Field(default=32, ge=1)  # queued interactions claimed, scored and stored together
    # Agent warning: `warning_days` consecutive working days (days with interactions) whose daily
    # average is below `warning_red_below` make an agent red; below `warning_yellow_below`, yellow.
    warning_days: int = 3
    warning_red_below: float = 60  # daily average below this on warning_days days: red
    warning_yellow_below: float = 80  # daily average below this on warning_days days: yellow
    # Alert webhooks (qa_engine/store/alerts.py): each API process sends what is due every
    # `alert_poll_seconds` (0: not in this process; `qa-engine alerts send` then does it), posting
    # with `alert_timeout_seconds`; a failed try is retried after alert_retry_seconds x 3^(tries-1)
    # (at most an hour) until `alert_max_attempts` tries.
    alert_poll_seconds: float = Field(default=2.0, ge=0)
    alert_timeout_seconds: float = Field(default=5.0, gt=0)  # of one POST to a webhook
    alert_retry_seconds: float = Field(default=10.0, gt=0)  # first wait before a retry (x3 each time, <= 1 h)
    alert_max_attempts: int = Field(default=8, ge=1)  # tries before a delivery is given up
    # An agent is ranked in their team only with at least this many interactions in the range.
    rank_min_interactions: int = Field(default=10, ge=1)
    # An agent may appeal a scoring this many days after it was scored (then 409).
    appeal_window_days: int = Field(default=7, ge=1, le=30)

    @field_validator("jwt_secret")
    @classmethod
    def _secret_long_enough(cls, value: SecretStr | str | None) -> SecretStr | str | None:
        if value is None:
            return value
        size = len((value.get_secret_value() if isinstance(value, SecretStr) else value).encode("utf-8"))
        if size < MIN_JWT_SECRET_BYTES:
            raise ValueError(
                f"QA_JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes (it has {size}); make one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`, or unset it to use the "
                "secret stored in the database"
            )
        return value

    @field_validator("login_failures_per_user", "login_failures_per_address", "api_key_failures_per_address")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        parse_limit(value)  # ValueError: couldn't parse rate limit string '...'
        return value

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()  # a relative QA_DATA_DIR means the same folder from everywhere

    @property
    def uploads_path(self) -> Path:
        return self.upload_dir or self.data_dir / "uploads"

    @property
    def embedder_path(self) -> Path:
        return self.embedder_dir or self.models_dir / "e5_small_zh"

    @property
    def scorecards_path(self) -> Path:
        return self.scorecards_dir or self.lexicons_dir / "scorecards"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
