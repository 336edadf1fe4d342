"""The batch ledger (`batch_items`): is an item done, claim its row, record the outcome.

An item is identified by (key, content hash, versions hash). `claim` is the first write of the
transaction that stores the item's result, so that transaction holds the row: a second worker
storing the same item waits, then sees it done (PostgreSQL row lock; SQLite's single writer).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, insert, select, tuple_, update
from sqlalchemy.orm import Session

from qa_engine.store.models import BatchItemRow, ResultRow

# The ledger's table for core UPDATE ... RETURNING (no ORM session sync); declarative types it as a FromClause.
_TABLE: Table = cast(Table, BatchItemRow.__table__)

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


@dataclass(frozen=True)
class Entry:
    """An item to claim: its ledger identity, and what a new row records."""

    key: str
    content_hash: str
    versions_digest: str
    versions: dict
    source: str


@dataclass(frozen=True)
class Claim:
    id: int  # the ledger row
    before: str | None  # its status before this claim; None: the row is new
    batch_id: str  # the batch that wrote it last


def claim(session: Session, entries: list[Entry], *, batch_id: str) -> list[Claim]:
    """Each item's ledger row, written first so that this transaction holds them (one UPDATE for the
    rows that exist, one INSERT for the others), in order; the items must be distinct.

    Raises IntegrityError when another transaction inserted one of the rows meanwhile (retry: it
    exists now).
    """
    table = _TABLE
    ident = tuple_(table.c.item_key, table.c.content_hash, table.c.versions_hash)
    found = {
        (r.item_key, r.content_hash, r.versions_hash): Claim(r.id, r.status, r.batch_id)
        for r in session.execute(
            update(table)
            .where(ident.in_([(e.key, e.content_hash, e.versions_digest) for e in entries]))
            .values(attempts=table.c.attempts + 1, updated_at=table.c.updated_at)  # `finish` dates the outcome
            .returning(
                table.c.id, table.c.item_key, table.c.content_hash, table.c.versions_hash, table.c.status, table.c.batch_id
            )
        )
    }
    new = [e for e in entries if (e.key, e.content_hash, e.versions_digest) not in found]
    if new:
        ids = session.scalars(
            insert(BatchItemRow).returning(BatchItemRow.id, sort_by_parameter_order=True),
            [
                {
                    "item_key": e.key,
                    "content_hash": e.content_hash,
                    "versions_hash": e.versions_digest,
                    "versions": e.versions,
                    "ruleset_version": e.versions.get("ruleset"),
                    "source": e.source[:1000],
                    "status": "failed",
                    "reason": IN_PROGRESS,
                    "batch_id": batch_id,
                    "attempts": 1,
                }
                for e in new
            ],  # fmt: skip
        ).all()
        for e, row_id in zip(new, ids, strict=True):
            found[e.key, e.content_hash, e.versions_digest] = Claim(row_id, None, batch_id)
    return [found[e.key, e.content_hash, e.versions_digest] for e in entries]


def done(
    claim: Claim, *, interaction_id: str, result: ResultRow, batch_id: str, source: str, audio_seconds: float | None
) -> dict:
    """The outcome of a claimed row whose result is stored, for `finish`."""
    return {"id": claim.id, "status": "done", "reason": None, "interaction_id": interaction_id, "result_id": result.id,
            "flag": result.flag, "batch_id": batch_id, "source": source[:1000], "audio_seconds": audio_seconds}  # fmt: skip


def failed(claim: Claim, *, reason: str, interaction_id: str | None, batch_id: str, source: str) -> dict:
    """The outcome of a claimed row whose item failed, for `finish` (audio seconds as they were)."""
    return {"id": claim.id, "status": "failed", "reason": reason, "interaction_id": interaction_id, "result_id": None,
            "flag": None, "batch_id": batch_id, "source": source[:1000]}  # fmt: skip


def release(session: Session, claims: list[Claim]) -> None:
    """Leave claimed rows as they were (done by another worker meanwhile) while the transaction
    goes on for the others: their attempt counts back."""
    if claims:
        table = _TABLE
        session.execute(
            update(table)
            .where(table.c.id.in_([c.id for c in claims]))
            .values(attempts=table.c.attempts - 1, updated_at=table.c.updated_at)
        )


def finish(session: Session, outcomes: list[dict]) -> None:
    """Write the outcomes (`done`, `failed`) of claimed rows: one UPDATE for all of them (one per kind)."""
    for status in ("done", "failed"):
        rows = [o for o in outcomes if o["status"] == status]
        if rows:
            session.execute(update(BatchItemRow), rows)
