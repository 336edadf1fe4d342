"""Progress while a batch runs and its final report.

On a terminal: a tqdm bar with counts, rate and ETA. Otherwise (cron, a log file): a plain line
every 5 % of the items and at least every QA_BATCH_HEARTBEAT_S (10 s), also while no item finishes
(with the executor's detail: Celery's queued / running per worker), and one line per failure.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TextIO

from qa_engine.batch.worker import ItemOutcome


@dataclass
class BatchReport:
    batch_id: str
    executor: str
    workers: int  # local pool processes; celery: the workers that took part (worker_stats)
    items: int = 0  # in the run after the date filter
    processed: int = 0
    skipped: int = 0
    failed: int = 0
    flagged_red: int = 0
    flagged_yellow: int = 0
    audio_seconds: float = 0.0
    item_seconds: float = 0.0  # time the workers spent on processed and failed items
    wall_seconds: float = 0.0
    dry_run: bool = False
    run_id: str | None = None  # celery: what its tasks carry
    # Skipped when its task ran, not when planned: stored meanwhile by another run's tasks (e.g. those
    # of a killed driver still running) or through the API. Counted in `skipped` too.
    stored_meanwhile: int = 0
    handed_back: int = 0  # celery: items sent again because the worker holding them was lost
    interrupted: str | None = None  # SIGINT, SIGTERM or why the run stopped early (partial report)
    not_done: int = 0  # planned items with no outcome when the run stopped early
    # celery: per worker node, what it did: done / skipped / failed items, the seconds spent on them and
    # the queues its items came from
    worker_stats: dict[str, dict] = field(default_factory=dict)
    queues: dict[str, int] = field(default_factory=dict)  # celery: items sent per queue (routing; hand-backs too)
    failures: list[dict] = field(default_factory=list)

    def add(self, outcome: ItemOutcome, *, planned: bool = False) -> None:
        if outcome.worker:
            stats = self.worker_stats.setdefault(outcome.worker, {"done": 0, "skipped": 0, "failed": 0, "item_seconds": 0.0})
            stats[outcome.status] = stats.get(outcome.status, 0) + 1
            stats["item_seconds"] = round(stats["item_seconds"] + outcome.seconds, 3)
            if outcome.queue:
                stats.setdefault("queues", {})
                stats["queues"][outcome.queue] = stats["queues"].get(outcome.queue, 0) + 1
            self.workers = len(self.worker_stats)
        if outcome.status == "skipped" and not planned:
            self.stored_meanwhile += 1
        if outcome.status == "done":
            self.processed += 1
            self.flagged_red += outcome.flag == "red"
            self.flagged_yellow += outcome.flag == "yellow"
            self.audio_seconds += outcome.audio_seconds or 0.0
            self.item_seconds += outcome.seconds
        elif outcome.status == "skipped":
            self.skipped += 1
        else:
            self.failed += 1
            self.item_seconds += outcome.seconds
            self.failures.append({"key": outcome.key, "source": outcome.source, "reason": outcome.reason})

    @property
    def audio_hours(self) -> float:
        return self.audio_seconds / 3600

    @property
    def real_time_factor(self) -> float | None:
        """Wall time over audio time of the recordings processed (lower is faster)."""
        return self.wall_seconds / self.audio_seconds if self.audio_seconds else None

    @property
    def items_per_minute(self) -> float | None:
        done = self.processed + self.failed
        return 60 * done / self.wall_seconds if self.wall_seconds and done else None

    def to_json(self) -> dict:
        out = asdict(self)
        out.update(
            audio_hours=round(self.audio_hours, 4),
            real_time_factor=None if self.real_time_factor is None else round(self.real_time_factor, 4),
            items_per_minute=None if self.items_per_minute is None else round(self.items_per_minute, 1),
            wall_seconds=round(self.wall_seconds, 3),
            item_seconds=round(self.item_seconds, 3),
            audio_seconds=round(self.audio_seconds, 2),
        )
        return out

    def table(self) -> str:
        rtf = f"{self.real_time_factor:.3f}" if self.real_time_factor is not None else "-"
        ipm = f"{self.items_per_minute:,.1f}" if self.items_per_minute is not None else "-"
        rows = [
            (
                "batch",
                f"{self.batch_id} ({self.executor}"
                + (
                    f", {self.workers} worker{'s' if self.workers != 1 else ''}"
                    if self.executor == "local" or not self.dry_run
                    else ""
                )
                + (", dry run)" if self.dry_run else ")"),
            ),
            ("items", f"{self.items:,}"),
            ("processed" if not self.dry_run else "to process", f"{self.processed:,}"),
            (
                "skipped (already scored)",
                f"{self.skipped:,}"
                + (f" ({self.stored_meanwhile:,} stored meanwhile by another run)" if self.stored_meanwhile else ""),
            ),
            ("failed", f"{self.failed:,}"),
            ("flagged red / yellow", f"{self.flagged_red:,} / {self.flagged_yellow:,}"),
            ("audio hours", f"{self.audio_hours:.3f}"),
            ("wall time", _duration(self.wall_seconds)),
            ("items per minute", ipm),
            ("real-time factor", rtf),
        ]
        if len(self.queues) > 1:
            rows.append(("queues (items sent)", ", ".join(f"{q} {n:,}" for q, n in sorted(self.queues.items()))))
        if self.handed_back:
            rows.append(("handed back (worker lost)", f"{self.handed_back:,}"))
        for name, st in sorted(self.worker_stats.items()):
            rows.append(
                (
                    f"  {name}",
                    f"{st['done']:,} done, {st['skipped']:,} skipped, {st['failed']:,} failed, "
                    f"{st['item_seconds']:,.1f} s on items"
                    + (f" (from {', '.join(sorted(st['queues']))})" if st.get("queues") else ""),
                )
            )
        if self.interrupted:
            rows.append(("stopped early", f"{self.interrupted}; {self.not_done:,} items not done (run it again)"))
        width = max(len(k) for k, _ in rows)
        lines = [f"{k:<{width}}  {v}" for k, v in rows]
        if self.failures:
            lines.append("failures:")
            shown = self.failures[:20]
            lines += [f"  {f['key']}: {f['reason']}" for f in shown]
            if len(self.failures) > len(shown):
                lines.append(f"  ... and {len(self.failures) - len(shown)} more (see the JSON report)")
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Counts outcomes as they arrive; draws a bar on a TTY, writes log lines otherwise.

    `start()` begins the heartbeat: a line at least every `every_s` seconds even when no item
    finishes, with `detail()` appended (the executor sets it, e.g. Celery's queued / running per
    worker)."""

    def __init__(self, total: int, *, stream: TextIO | None = None, tty: bool | None = None, every_s: float = 10.0) -> None:
        self.stream = stream or sys.stderr
        self.total = total
        self.tty = self.stream.isatty() if tty is None else tty
        self.every_s = every_s
        self.counts = {"done": 0, "skipped": 0, "failed": 0}
        self.started = time.monotonic()
        self.detail: Callable[[], str] | None = None
        self._last_line = self.started
        self._last_n = 0
        self._bar = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.tty and total:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="item", file=self.stream, dynamic_ncols=True, smoothing=0.1)

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    def start(self) -> None:
        if self._thread is None and self.total:
            self._thread = threading.Thread(target=self._beat, name="batch-heartbeat", daemon=True)
            self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(min(1.0, self.every_s / 4)):
            now = time.monotonic()
            if now - self._last_line >= self.every_s:
                self._last_line = now
                if self._bar is not None:
                    if self.detail is not None:
                        self._bar.set_postfix_str(self._detail(), refresh=False)
                    self._bar.refresh()
                else:
                    self.write(self.line(now))

    def _detail(self) -> str:
        try:
            return self.detail() if self.detail is not None else ""
        except Exception as exc:  # noqa: BLE001 - a progress line must not stop the batch
            return f"({exc.__class__.__name__})"

    def update(self, outcome: ItemOutcome) -> None:
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        if outcome.status == "failed":
            self.write(f"qa-engine: batch: failed {outcome.key}: {outcome.reason}")
        if self._bar is not None:
            self._bar.set_postfix(ok=self.counts["done"], skip=self.counts["skipped"], fail=self.counts["failed"], refresh=False)
            self._bar.update(1)
            return
        now = time.monotonic()
        step = max(1, self.total // 20)
        if now - self._last_line >= self.every_s or self.n - self._last_n >= step or self.n == self.total:
            self._last_line, self._last_n = now, self.n
            self.write(self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = (now or time.monotonic()) - self.started
        rate = self.n / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.n) / rate if rate > 0 else None
        pct = 100 * self.n / self.total if self.total else 100.0
        eta = _duration(left) if left is not None else "?"
        detail = self._detail()
        return (
            f"qa-engine: batch: {self.n}/{self.total} ({pct:.0f}%) done {self.counts['done']} "
            f"skipped {self.counts['skipped']} failed {self.counts['failed']}{'; ' + detail if detail else ''}, "
            f"{rate:.2f} items/s, ETA {eta}"
        )

    def write(self, text: str) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.write(text, file=self.stream)
            else:
                print(text, file=self.stream, flush=True)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._bar is not None:
            self._bar.close()
