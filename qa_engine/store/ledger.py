"""The batch ledger (`batch_items`): is an item done, claim its row, record the outcome.

An item is identified by (key, content hash, versions hash). `claim` is the first write of the
transaction that stores the item's result, so that transaction holds the row: a second worker
storing the same item waits, then sees it done (PostgreSQL row lock; SQLite's single writer).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from qa_engine.store.models import BatchItemRow, ResultRow

IN_PROGRESS = "in progress"  # placeholder reason; never committed (the same transaction sets the outcome)


def versions_hash(versions: dict) -> str:
    """SHA-256 of the ruleset and model versions a result was (or would be) produced with."""
    canonical = json.dumps(versions, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _item(key: str, content_hash: str, versions_digest: str):
    return (
        BatchItemRow.item_key == key,
        BatchItemRow.content_hash == content_hash,
        BatchItemRow.versions_hash == versions_digest,
    )


def is_done(
    session: Session,
    key: str,
    content_hash: str,
    versions_digest: str,
    *,
    interaction_id: str | None,
    rescore: bool = False,
    batch_id: str | None = None,
) -> bool:
    """Already scored with this content and these versions: by a batch (the ledger) or by any
    other way in (the interaction's current result). With `rescore`, only a row done by this very
    batch counts, so an interrupted rescore run resumes instead of starting over."""
    row = session.scalar(select(BatchItemRow).where(*_item(key, content_hash, versions_digest)))
    if row is not None and row.status == "done" and (not rescore or row.batch_id == batch_id):
        return True
    if rescore or interaction_id is None:
        return False
    current = session.execute(
        select(ResultRow.content_hash, ResultRow.versions).where(
            ResultRow.interaction_id == interaction_id, ResultRow.is_current.is_(True)
        )
    ).first()
    return current is not None and current[0] == content_hash and versions_hash(current[1]) == versions_digest


def done_items(
    session: Session, keys: Iterable[str], *, batch_id: str | None = None, chunk: int = 500
) -> set[tuple[str, str, str]]:
    """(key, content hash, versions hash) of the done ledger rows among `keys` (planning a run);
    with `batch_id`, only those that batch did (resuming a rescore)."""
    keys = list(dict.fromkeys(keys))
    out: set[tuple[str, str, str]] = set()
    for i in range(0, len(keys), chunk):
        stmt = select(BatchItemRow.item_key, BatchItemRow.content_hash, BatchItemRow.versions_hash).where(
            BatchItemRow.item_key.in_(keys[i : i + chunk]), BatchItemRow.status == "done"
        )
        if batch_id is not None:
            stmt = stmt.where(BatchItemRow.batch_id == batch_id)
        rows = session.execute(stmt)
        out.update((k, c, v) for k, c, v in rows)
    return out


def current_digests(session: Session, interaction_ids: Iterable[str], chunk: int = 500) -> dict[str, tuple[str, str]]:
    """interaction_id -> (content hash, versions hash) of its current result (planning a run)."""
    ids = list(dict.fromkeys(interaction_ids))
    out: dict[str, tuple[str, str]] = {}
    for i in range(0, len(ids), chunk):
        rows = session.execute(
            select(ResultRow.interaction_id, ResultRow.content_hash, ResultRow.versions).where(
                ResultRow.interaction_id.in_(ids[i : i + chunk]), ResultRow.is_current.is_(True)
            )
        )
        out.update((iid, (digest, versions_hash(versions))) for iid, digest, versions in rows)
    return out


def claim(
    session: Session,
    *,
    key: str,
    content_hash: str,
    versions_digest: str,
    versions: dict,
    source: str,
    batch_id: str,
) -> tuple[BatchItemRow, str | None]:
    """The item's ledger row, written first so this transaction holds it; and its status before.

    Raises IntegrityError when another transaction inserted the row meanwhile (retry: it exists now).
    """
    where = _item(key, content_hash, versions_digest)
    bumped = session.execute(
        update(BatchItemRow).where(*where).values(attempts=BatchItemRow.attempts + 1),
        execution_options={"synchronize_session": False},
    ).rowcount  # type: ignore[attr-defined]  # DML: session.execute returns a CursorResult
    if bumped:
        row = session.scalar(select(BatchItemRow).where(*where).execution_options(populate_existing=True))
        assert row is not None  # bumped: it exists
        return row, row.status
    row = BatchItemRow(
        item_key=key,
        content_hash=content_hash,
        versions_hash=versions_digest,
        versions=versions,
        ruleset_version=versions.get("ruleset"),
        source=source[:1000],
        status="failed",
        reason=IN_PROGRESS,
        batch_id=batch_id,
        attempts=1,
    )
    session.add(row)
    session.flush()
    return row, None


def mark_done(
    row: BatchItemRow, *, interaction_id: str, result: ResultRow, batch_id: str, source: str, audio_seconds: float | None
) -> None:
    row.status, row.reason = "done", None
    row.interaction_id = interaction_id
    row.result_id, row.flag = result.id, result.flag
    row.batch_id, row.source = batch_id, source[:1000]
    row.audio_seconds = audio_seconds


def mark_failed(row: BatchItemRow, *, reason: str, interaction_id: str | None, batch_id: str, source: str) -> None:
    row.status, row.reason = "failed", reason
    row.interaction_id = interaction_id
    row.result_id, row.flag = None, None
    row.batch_id, row.source = batch_id, source[:1000]
