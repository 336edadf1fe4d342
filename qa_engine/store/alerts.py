"""Alerts: a signed JSON POST to a team's webhooks when a result with a critical (一票否决) hit or a
red flag is stored.

Delivery goes through an outbox: `queue_alerts` writes one `AlertDelivery` row per webhook in the
same transaction as the result (every write path stores results through
`repository.add_current_run`, which calls it), so a result is never stored without its alert, nor
an alert sent for a result that was rolled back. `AlertSender` (a thread in each API process, and
`qa-engine alerts send` for hosts without the API) posts what is due, retrying with backoff until
the receiver answers 2xx or the tries run out.

Signature (as Stripe and GitHub do it): `X-QA-Signature: sha256=<hex>` is HMAC-SHA256 with the
webhook's secret over `<X-QA-Timestamp>.<body>`; the receiver recomputes it and refuses an old
timestamp, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from qa_engine.config import Settings
from qa_engine.schema import Result
from qa_engine.store.db import Database
from qa_engine.store.models import AlertDelivery, AlertWebhook, ResultRow
from qa_engine.store.types import utcnow

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-QA-Signature"
TIMESTAMP_HEADER = "X-QA-Timestamp"
MAX_ERROR_CHARS = 500


def events_of(result: Result) -> list[str]:
    """The alert events a result raises, in ALERT_EVENTS order."""
    events = []
    if any(hit.severity == "critical" for hit in result.hits):
        events.append("critical_hit")
    if result.flag == "red":
        events.append("red_result")
    return events


def _payload(row, res: ResultRow, result: Result, events: list[str]) -> dict:
    return {
        "events": events,
        "interaction_id": row.id,
        "channel": row.channel,
        "agent_id": row.agent_id,
        "team_id": row.team_id,
        "occurred_at": row.occurred_at.isoformat(),
        "result_id": res.id,
        "score": result.score,
        "flag": result.flag,
        # rule and explanation only: the turn text stays on the server (the link opens it)
        "critical_hits": [
            {"rule_id": hit.rule_id, "dimension": hit.dimension, "turn": hit.turn, "explanation": hit.explanation}
            for hit in result.hits
            if hit.severity == "critical"
        ],
        "link": f"/ui/#/i/{row.id}",
    }


def queue_alerts(session: Session, stored: list[tuple[Any, ResultRow, Result]]) -> int:
    """Write the deliveries that newly stored current runs call for; returns how many. Each of
    `stored` is (interaction: its `InteractionRow` or anything with its id, channel, agent_id,
    team_id and occurred_at; the stored run; its result), each a distinct interaction. A webhook
    hears of an interaction once per event: a re-send or rescore that raises the same events again
    is not announced again. Two queries for all of them, and only when some raise an event."""
    raising = [(row, res, result, events) for row, res, result in stored if (events := events_of(result))]
    if not raising:
        return 0
    hooks = session.scalars(select(AlertWebhook).where(AlertWebhook.active.is_(True)).order_by(AlertWebhook.id)).all()
    if not hooks:
        return 0
    announced: dict[tuple[int, str], set[str]] = {}
    for webhook_id, interaction_id, earlier in session.execute(
        select(AlertDelivery.webhook_id, AlertDelivery.interaction_id, AlertDelivery.events).where(
            AlertDelivery.interaction_id.in_([row.id for row, *_ in raising]),
            AlertDelivery.webhook_id.in_([hook.id for hook in hooks]),
        )
    ):
        announced.setdefault((webhook_id, interaction_id), set()).update(earlier)
    queued = 0
    for row, res, result, events in raising:
        for hook in hooks:
            if hook.team_id is not None and hook.team_id != row.team_id:
                continue
            earlier = announced.get((hook.id, row.id), set())
            new = [event for event in events if event in hook.events and event not in earlier]
            if new:
                session.add(
                    AlertDelivery(
                        webhook_id=hook.id,
                        interaction_id=row.id,
                        result_id=res.id,
                        events=new,
                        payload=_payload(row, res, result, new),
                    )
                )
                queued += 1
    return queued


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@dataclass(frozen=True)
class SendPolicy:
    """How deliveries are tried: `timeout` seconds per POST; after a failed try the next waits
    `retry_seconds * 3 ** (tries - 1)` (at most an hour); after `max_attempts` tries it has failed."""

    max_attempts: int = 8
    retry_seconds: float = 10.0
    timeout: float = 5.0
    lease_seconds: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SendPolicy:
        return cls(
            max_attempts=settings.alert_max_attempts,
            retry_seconds=settings.alert_retry_seconds,
            timeout=settings.alert_timeout_seconds,
        )

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.retry_seconds * 3 ** (attempts - 1), 3600.0))


def post(url: str, secret: str, delivery_id: int, events: list[str], payload: dict, timeout: float) -> int:
    """POST one alert; returns the receiver's HTTP status (raises OSError when it cannot be reached)."""
    body = json.dumps({"delivery_id": delivery_id, **payload}, ensure_ascii=False).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "qa-engine-alerts",
            "X-QA-Event": ",".join(events),
            "X-QA-Delivery": str(delivery_id),
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) only: checked on create)
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _claim(db: Database, policy: SendPolicy, limit: int) -> list[int]:
    """Lease what is due (so two senders never post the same delivery at once); returns the ids."""
    now = utcnow()
    with db.session() as session:
        due = session.scalars(
            select(AlertDelivery.id)
            .where(
                AlertDelivery.status == "pending",
                AlertDelivery.next_attempt_at <= now,
                or_(AlertDelivery.claimed_until.is_(None), AlertDelivery.claimed_until < now),
            )
            .order_by(AlertDelivery.next_attempt_at, AlertDelivery.id)
            .limit(limit)
        ).all()
        claimed = []
        until = now + timedelta(seconds=policy.lease_seconds)
        for delivery_id in due:
            taken = session.execute(
                update(AlertDelivery)
                .where(
                    AlertDelivery.id == delivery_id,
                    AlertDelivery.status == "pending",
                    or_(AlertDelivery.claimed_until.is_(None), AlertDelivery.claimed_until < now),
                )
                .values(claimed_until=until)
            ).rowcount  # type: ignore[attr-defined]  # DML: session.execute returns a CursorResult
            if taken:
                claimed.append(delivery_id)
        session.commit()
        return claimed


def _attempt(db: Database, delivery_id: int, policy: SendPolicy) -> str:
    with db.session() as session:
        delivery = session.get_one(AlertDelivery, delivery_id)
        hook = session.get_one(AlertWebhook, delivery.webhook_id)
        hook_id, url, secret = hook.id, hook.url, hook.secret
        events, payload = list(delivery.events), dict(delivery.payload)
    status: int | None = None
    try:
        status = post(url, secret, delivery_id, events, payload, policy.timeout)
        error = None if 200 <= status < 300 else f"HTTP {status}"
    except (OSError, ValueError) as exc:  # unreachable, refused, timed out, bad URL
        error = f"{type(exc).__name__}: {exc}"
    with db.session() as session:
        delivery = session.get_one(AlertDelivery, delivery_id)
        delivery.attempts += 1
        delivery.last_status = status
        delivery.claimed_until = None
        if error is None:
            delivery.status, delivery.delivered_at, delivery.last_error = "delivered", utcnow(), None
        else:
            delivery.last_error = error[:MAX_ERROR_CHARS]
            if delivery.attempts >= policy.max_attempts:
                delivery.status = "failed"
                log.warning("alert delivery %s to webhook %s failed for good: %s", delivery_id, hook_id, error)
            else:
                delivery.next_attempt_at = utcnow() + policy.backoff(delivery.attempts)
        session.commit()
        return delivery.status


def send_due(db: Database, policy: SendPolicy, limit: int = 100) -> dict[str, int]:
    """Try every delivery that is due once; returns the count of each outcome."""
    counts = {"delivered": 0, "pending": 0, "failed": 0}
    for delivery_id in _claim(db, policy, limit):
        counts[_attempt(db, delivery_id, policy)] += 1
    return counts


class AlertSender:
    """A daemon thread that sends what is due every `poll_seconds` until stopped."""

    def __init__(self, db: Database, policy: SendPolicy, poll_seconds: float):
        self.db, self.policy, self.poll_seconds = db, policy, poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> AlertSender:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="qa-alert-sender", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                send_due(self.db, self.policy)
            except Exception:  # a database hiccup must not end the sender; the next poll tries again
                log.exception("alert sender: sending failed, trying again in %s s", self.poll_seconds)
            self._stop.wait(self.poll_seconds)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.policy.timeout + 5)
