"""What a batch reads: a folder, a chat file or a manifest, turned into `BatchItem`s.

SOURCE is one of
- a folder: recordings (wav, mp3, m4a, ogg, opus, flac) and chat files (.json, .jsonl), searched
  recursively; a recording's interaction_id is its path below the folder without the suffix;
- a chat file (.json / .jsonl) of contract interactions; an interaction with `audio_path` and no
  turns is a recording (the path relative to the file);
- a manifest, CSV (header row) or JSON Lines whose first record has a `path` field: one row per
  interaction with `path` (a recording or a chat .json file, relative to the manifest) and optional
  `interaction_id`, `agent_id`, `team_id`, `started_at`, `channels` (stereo order, left-right:
  `agent-customer` or `customer-agent`); other columns go into the interaction's metadata.

Anything unreadable becomes an item with `error` set, so it is recorded as a failure with its
reason and the batch goes on.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from qa_engine.config import Settings
from qa_engine.io import RecordError, read_interactions, validation_message
from qa_engine.schema import Interaction, check_limits, unprintable
from qa_engine.store.repository import content_hash as interaction_hash
from qa_engine.store.repository import recording_hash

AUDIO_SUFFIXES = frozenset({".wav", ".mp3", ".m4a", ".ogg", ".opus", ".flac"})
CHAT_SUFFIXES = frozenset({".json", ".jsonl"})
MANIFEST_FIELDS = ("path", "interaction_id", "agent_id", "team_id", "started_at", "channels")
CHANNEL_ORDERS = {"agent-customer": ("agent", "customer"), "customer-agent": ("customer", "agent")}
_CHUNK = 1 << 20


class SourceError(ValueError):
    """SOURCE as a whole cannot be read (not found, a manifest without a path column)."""


@dataclass
class BatchItem:
    """One unit of batch work; plain JSON fields, so it travels to Celery workers as it is."""

    key: str  # ledger key: the interaction_id, or for an unreadable record where it was
    source: str  # file, and line or row, it came from
    record: dict | None = None  # the interaction (contract fields)
    channel_roles: list[str] | None = None
    error: str | None = None  # unreadable: why
    day: str | None = None  # local date (ISO) for --since/--until: started_at, else the file's mtime
    content_hash: str | None = None  # filled when planning; the worker computes it again

    @property
    def is_audio(self) -> bool:
        return self.record is not None and not self.record.get("turns") and bool(self.record.get("audio_path"))

    @property
    def interaction_id(self) -> str | None:
        return self.record.get("interaction_id") if self.record else None

    def to_task(self) -> dict:
        return asdict(self)

    @classmethod
    def from_task(cls, data: dict) -> BatchItem:
        return cls(**data)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def _canonical_sha256(payload: object) -> str:
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def item_content_hash(item: BatchItem, interaction: Interaction | None = None) -> str:
    """What makes an item the same item: a chat, its content exactly as the API hashes it; a
    recording, its fields and the audio bytes (not the path: moving a file does not rescore it).
    Raises OSError when the recording cannot be read."""
    if item.error is not None:
        return _canonical_sha256({"source": item.source, "error": item.error})
    interaction = interaction or Interaction.model_validate(item.record)
    if not item.is_audio:
        return interaction_hash(interaction)
    assert interaction.audio_path is not None  # a recording item
    return recording_hash(interaction, file_sha256(Path(interaction.audio_path)), item.channel_roles)


def _local_day(value: datetime | None, path: Path | None, tz: ZoneInfo) -> str | None:
    if value is not None:
        aware = value if value.tzinfo is not None else value.replace(tzinfo=tz)
        return aware.astimezone(tz).date().isoformat()
    if path is not None:
        try:
            return datetime.fromtimestamp(path.stat().st_mtime, tz).date().isoformat()
        except OSError:
            return None
    return None


def _printable(text: str) -> str:
    """`text` with unprintable characters escaped (`\\n`, `\\udcff`): a key or a label that is
    stored, logged and reported, made from a file name that may hold anything but `/` and NUL."""
    if unprintable(text) is None:
        return text
    return "".join(ascii(ch)[1:-1] if unprintable(ch) else ch for ch in text)


def _error(key: str, source: str, reason: str, day: str | None = None) -> BatchItem:
    return BatchItem(key=_printable(key), source=_printable(source), error=_printable(reason), day=day)


def _from_interaction(
    interaction: Interaction, source: str, base_dir: Path, file: Path, tz: ZoneInfo, roles: list[str] | None = None
) -> BatchItem:
    record = interaction.model_dump(mode="json", exclude_none=True)
    if not interaction.turns and interaction.audio_path:
        audio = Path(interaction.audio_path)
        record["audio_path"] = str(audio if audio.is_absolute() else (base_dir / audio).resolve())
    day_path = Path(record["audio_path"]) if not interaction.turns and interaction.audio_path else file
    return BatchItem(
        key=interaction.interaction_id,
        source=source,
        record=record,
        channel_roles=roles,
        day=_local_day(interaction.started_at, day_path, tz),
    )


def _chat_file(path: Path, label: str, tz: ZoneInfo, settings: Settings, overrides: dict | None = None) -> Iterator[BatchItem]:
    """Each interaction of a .json / .jsonl file; a bad record is an error item keyed `file:line`."""
    day = _local_day(None, path, tz)
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield _error(label, label, f"cannot read: {exc.strerror or exc}", day)
        return
    for entry in read_interactions(io.BytesIO(data), name=path.name, settings=settings):
        if isinstance(entry, RecordError):
            where = f"{label}:{entry.line}" if entry.line else label
            yield _error(where, where, entry.reason, day)
            continue
        if overrides:
            try:
                entry = Interaction.model_validate({**entry.model_dump(exclude_none=True), **overrides})
                check_limits(entry, settings)
            except ValidationError as exc:
                yield _error(f"{label}:{entry.interaction_id}", label, validation_message(exc), day)
                continue
            except ValueError as exc:  # LimitExceeded
                yield _error(f"{label}:{entry.interaction_id}", label, str(exc), day)
                continue
        yield _from_interaction(entry, f"{label}:{entry.interaction_id}", path.parent, path, tz)


def _recording(
    path: Path,
    interaction_id: str,
    label: str,
    tz: ZoneInfo,
    settings: Settings,
    fields: dict | None = None,
    roles: list[str] | None = None,
) -> BatchItem:
    record = {"interaction_id": interaction_id, "channel": "call", "audio_path": str(path.resolve()), **(fields or {})}
    try:
        interaction = Interaction.model_validate(record)
        check_limits(interaction, settings)
    except ValidationError as exc:
        return _error(interaction_id, label, validation_message(exc), _local_day(None, path, tz))
    except ValueError as exc:  # LimitExceeded
        return _error(interaction_id, label, str(exc), _local_day(None, path, tz))
    return _from_interaction(interaction, label, path.parent, path, tz, roles)


def _folder(root: Path, tz: ZoneInfo, settings: Settings) -> Iterator[BatchItem]:
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        suffix = path.suffix.lower()
        if suffix in AUDIO_SUFFIXES:
            yield _recording(path, rel.with_suffix("").as_posix(), _printable(rel.as_posix()), tz, settings)
        elif suffix in CHAT_SUFFIXES:
            yield from _chat_file(path, _printable(rel.as_posix()), tz, settings)


def _manifest_rows(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    """(row number, fields, error) per manifest row; a CSV without a `path` column is a SourceError."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if "path" not in (reader.fieldnames or []):
                raise SourceError(f"{path}: manifest has no 'path' column (columns: {', '.join(reader.fieldnames or [])})")
            for n, row in enumerate(reader, start=2):
                yield n, {k.strip(): (v or "").strip() for k, v in row.items() if k}, None
        return
    for n, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except ValueError as exc:
            yield n, None, f"invalid JSON: {exc}"
            continue
        if not isinstance(row, dict):
            yield n, None, f"expected a JSON object, got {type(row).__name__}"
            continue
        yield n, {k: ("" if v is None else v) for k, v in row.items()}, None


def _manifest(path: Path, tz: ZoneInfo, settings: Settings) -> Iterator[BatchItem]:
    base = path.parent
    for n, row, error in _manifest_rows(path):
        where = f"{path.name}:{n}"
        if error is not None:
            yield _error(where, where, error)
            continue
        assert row is not None  # a row without an error
        if not row.get("path"):
            yield _error(where, where, "manifest row has no path")
            continue
        target = Path(str(row["path"]))
        target = target if target.is_absolute() else base / target
        fields = {k: row[k] for k in ("agent_id", "team_id", "started_at") if row.get(k) not in (None, "")}
        extra = {k: v for k, v in row.items() if k not in MANIFEST_FIELDS and k != "channel" and v not in (None, "")}
        if extra:
            fields["metadata"] = extra
        roles = None
        if row.get("channels"):
            roles = CHANNEL_ORDERS.get(str(row["channels"]).strip().lower())
            if roles is None:
                yield _error(
                    row.get("interaction_id") or where,
                    where,
                    f"channels must be one of {', '.join(CHANNEL_ORDERS)}, got {row['channels']!r}",
                )
                continue
        if target.suffix.lower() in CHAT_SUFFIXES:
            overrides = dict(fields)
            if row.get("interaction_id"):
                overrides["interaction_id"] = str(row["interaction_id"])
            yield from _chat_file(target, f"{where}:{target.name}", tz, settings, overrides)
            continue
        iid = str(row.get("interaction_id") or target.stem)
        if not target.is_file():
            yield _error(iid, where, f"{target}: file not found")
            continue
        yield _recording(target, iid, f"{where}:{target.name}", tz, settings, fields, list(roles) if roles else None)


def _is_manifest(path: Path) -> bool:
    if path.suffix.lower() == ".csv":
        return True
    if path.suffix.lower() != ".jsonl":
        return False
    with path.open("rb") as fh:
        for raw in fh:
            if raw.strip():
                try:
                    first = json.loads(raw)
                except ValueError:
                    return False
                return isinstance(first, dict) and "path" in first and "turns" not in first
    return False


def read_source(source: Path, settings: Settings) -> Iterator[BatchItem]:
    """The items of SOURCE in a stable order, local dates in the report time zone and each record
    within the input limits of `settings`; raises SourceError when SOURCE itself is unusable."""
    tz = ZoneInfo(settings.report_timezone)
    if not source.exists():
        raise SourceError(f"source not found: {source}")
    if source.is_dir():
        yield from _folder(source, tz, settings)
    elif _is_manifest(source):
        yield from _manifest(source, tz, settings)
    elif source.suffix.lower() in CHAT_SUFFIXES:
        yield from _chat_file(source, source.name, tz, settings)
    elif source.suffix.lower() in AUDIO_SUFFIXES:
        yield _recording(source, source.stem, source.name, tz, settings)
    else:
        raise SourceError(
            f"cannot read {source}: expected a folder, a .json/.jsonl chat file, a .csv/.jsonl manifest or a recording"
        )


def in_window(item: BatchItem, since: date | None, until: date | None) -> bool:
    """Inside the inclusive local-date window. An item without a date (an unreadable manifest row)
    is always kept, so that it is reported rather than silently left out."""
    if (since is None and until is None) or item.day is None:
        return True
    day = date.fromisoformat(item.day)
    return (since is None or day >= since) and (until is None or day <= until)


__all__ = ["BatchItem", "SourceError", "in_window", "item_content_hash", "read_source"]
