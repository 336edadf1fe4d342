"""`qa-engine batch SOURCE` and `qa-engine worker` (mounted by qa_engine.cli)."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"qa-engine: error: {' '.join(str(message).split())}", err=True)
    sys.exit(code)


def _day(value: str | None, tz: str) -> date | None:
    if value is None:
        return None
    today = datetime.now(ZoneInfo(tz)).date()
    words = {"today": today, "yesterday": today - timedelta(days=1)}
    if value.lower() in words:
        return words[value.lower()]
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD, today or yesterday)") from None


@click.command("batch")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--since", help="only items of this local date or later (YYYY-MM-DD, today, yesterday)")
@click.option("--until", help="only items of this local date or earlier")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1), help="worker processes (local executor)")
@click.option("--executor", type=click.Choice(["local", "celery"]), default="local", show_default=True)
@click.option("--queue", default=None, help="Celery: send every item to this queue (default: routed by kind, below)")
@click.option(
    "--call-queue", default=None, help="Celery: queue for recordings (default: QA_BATCH_CALL_QUEUE, else QA_BATCH_QUEUE)"
)
@click.option("--chat-queue", default=None, help="Celery: queue for chats (default: QA_BATCH_CHAT_QUEUE, else QA_BATCH_QUEUE)")
@click.option("--dry-run", is_flag=True, help="plan only: count what would be scored and skipped; store nothing")
@click.option("--rescore", is_flag=True, help="score again items already scored with the same content and versions")
@click.option("--batch-id", default=None, help="name the run (resume an interrupted --rescore run with its id)")
@click.option("--known-agents", is_flag=True, help="fail items whose agent_id is missing or not in the agents table")
@click.option("--database-url", default=None, help="default: QA_DATABASE_URL")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="also write the JSON report here",
)
@click.option("--migrate/--no-migrate", default=True, show_default=True, help="apply database migrations first")
@click.option(
    "--wait-for-workers",
    is_flag=True,
    help="celery: when no worker consumes the queue, wait (a line every QA_BATCH_HEARTBEAT_S) instead of exiting 2",
)
def batch(
    source: Path,
    since: str | None,
    until: str | None,
    workers: int,
    executor: str,
    queue: str | None,
    call_queue: str | None,
    chat_queue: str | None,
    dry_run: bool,
    rescore: bool,
    batch_id: str | None,
    known_agents: bool,
    database_url: str | None,
    report_path: Path | None,
    migrate: bool,
    wait_for_workers: bool,
) -> None:
    """Transcribe, score and store every item of SOURCE: a folder of recordings and chat files, a
    chat .json/.jsonl file, or a manifest (.csv, or .jsonl with a `path` field).

    Items already scored with the same content, ruleset and model versions are skipped, so a run
    killed at any point is finished by running it again. Prints a readable report on stderr and
    the JSON report on stdout; exits 1 when any item failed, 2 when it cannot run (no worker on the
    Celery queue included), 130 on Ctrl-C and 143 on SIGTERM (both with the partial report)."""
    import signal

    from qa_engine.batch.plan import ExecutorUnavailable
    from qa_engine.batch.runner import BatchConfig, Terminated, run_batch
    from qa_engine.batch.sources import SourceError
    from qa_engine.config import get_settings
    from qa_engine.rulepack import RulePackError
    from qa_engine.store.db import database_url as configured_url
    from qa_engine.text.lexicon import LexiconError

    settings = get_settings()
    config = BatchConfig(
        source=source,
        database_url=database_url or configured_url(settings),
        executor=executor,
        workers=workers,
        since=_day(since, settings.report_timezone),
        until=_day(until, settings.report_timezone),
        dry_run=dry_run,
        rescore=rescore,
        known_agents=known_agents,
        batch_id=batch_id,
        queue=queue,
        call_queue=call_queue,
        chat_queue=chat_queue,
        migrate=migrate,
        wait_for_workers=wait_for_workers,
    )
    if config.since and config.until and config.since > config.until:
        _fail(f"--since {config.since} is after --until {config.until}")

    def _terminate(_signum, _frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, _terminate)

    def _write(report) -> str:
        payload = json.dumps(report.to_json(), ensure_ascii=False, indent=2)
        if report_path:
            report_path.write_text(payload + "\n", encoding="utf-8")
        click.echo(report.table(), err=True)
        click.echo(payload)
        return payload

    try:
        report = run_batch(config, settings)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (Terminated)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if (done := getattr(exc, "report", None)) is not None:
            _write(done)
        how = "stopped (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        _fail(f"{how}; run the same command again to finish (scored items are kept)", 143 if isinstance(exc, Terminated) else 130)
    except SourceError as exc:
        _fail(str(exc))
    except ExecutorUnavailable as exc:
        if (done := getattr(exc, "report", None)) is not None:
            _write(done)
        _fail(str(exc))
    except (RulePackError, LexiconError) as exc:
        _fail(f"cannot load rules: {exc}")
    except Exception as exc:  # noqa: BLE001 - database or broker down: one line, not a traceback
        if exc.__class__.__module__.split(".")[0] in ("sqlalchemy", "kombu", "redis", "celery", "alembic"):
            _fail(f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        raise
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _write(report)
    if report.failed:
        click.echo(f"qa-engine: batch: {report.failed} item{'s' if report.failed != 1 else ''} failed", err=True)
        sys.exit(1)


@click.command("worker")
@click.option("-Q", "--queue", default=None, help="queue to consume (default: QA_BATCH_QUEUE)")
@click.option(
    "-c",
    "--concurrency",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="worker processes; each loads the models once",
)
@click.option(
    "--asr/--no-asr",
    default=True,
    show_default=True,
    help="load Whisper when a process starts (--no-asr: on the first recording)",
)
@click.option("-n", "--hostname", default=None, help="worker name, e.g. gpu1@%h")
@click.option("-l", "--loglevel", default="info", show_default=True)
def worker(queue: str | None, concurrency: int, asr: bool, hostname: str | None, loglevel: str) -> None:
    """Run a Celery worker for `qa-engine batch --executor celery` (Redis: QA_CELERY_BROKER_URL).

    Each of the -c processes gets cores / c ASR and ONNX threads unless QA_ASR_THREADS /
    QA_ONNX_THREADS are set. Redis unreachable for QA_WORKER_BROKER_WAIT_S at start: one line, exit 2
    (a service manager restarts it)."""
    import time

    from qa_engine.batch import celery_app
    from qa_engine.batch.plan import ExecutorUnavailable
    from qa_engine.config import get_settings

    wait = get_settings().worker_broker_wait_s
    deadline = time.monotonic() + wait
    while True:
        try:
            celery_app.check_connection()
            break
        except ExecutorUnavailable as exc:
            if time.monotonic() >= deadline:
                _fail(f"{exc}; gave up after {wait:g} s (QA_WORKER_BROKER_WAIT_S)")
            click.echo(f"qa-engine: worker: {exc}; trying again until {wait:g} s have passed", err=True)
            time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))

    celery_app.PRELOAD_ASR = asr
    celery_app.PROCESSES = concurrency
    argv = [
        "worker",
        "-Q",
        queue or celery_app.app.conf.task_default_queue,
        "-c",
        str(concurrency),
        "-P",
        "prefork",
        "-l",
        loglevel,
        "--without-gossip",
        "--without-mingle",
    ]
    if hostname:
        argv += ["-n", hostname]
    celery_app.app.worker_main(argv)
