"""Reading interactions from .json / .jsonl / stdin, one clear error per bad record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from pydantic import ValidationError

from qa_engine.config import Settings
from qa_engine.schema import Interaction, check_limits, unprintable


@dataclass(frozen=True, slots=True)
class RecordError:
    line: int  # 1-based line (JSON Lines) or item number (JSON array)
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err["loc"]) or "(record)"
        msg = err["msg"]
        if err["type"] == "string_too_long":
            msg = f"text too long ({len(err['input']):,} characters; limit {err['ctx']['max_length']:,})"
        elif err["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    more = len(exc.errors()) - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def parse_record(obj: object, settings: Settings) -> Interaction:
    """The interaction of a JSON record, within the input limits of `settings`; ValueError saying
    what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    iid = obj.get("interaction_id")
    # the id names the record in the message only if it can be printed
    prefix = f"interaction {iid}: " if isinstance(iid, str) and iid and not unprintable(iid) else ""
    try:
        interaction = Interaction.model_validate(obj)
        check_limits(interaction, settings)
    except ValidationError as exc:
        raise ValueError(prefix + validation_message(exc)) from None
    except ValueError as exc:  # LimitExceeded
        raise ValueError(prefix + str(exc)) from None
    return interaction


def _decode(raw: bytes, line: int) -> str:
    try:
        return raw.decode("utf-8-sig" if line == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not valid UTF-8 (byte {exc.start}: {raw[exc.start : exc.start + 1]!r})") from None


def read_interactions(stream: IO[bytes], *, settings: Settings, name: str = "-") -> Iterator[Interaction | RecordError]:
    """Yield interactions, or a RecordError for each record that cannot be read or is over the input
    limits of `settings`.

    A `.json` file holds one object or an array of them; anything else is JSON Lines. Standard
    input is sniffed: a first non-blank character `[` means a JSON array.
    """
    data = stream.read()
    if not data.strip():
        yield RecordError(0, "input is empty: no interactions to score")
        return
    as_whole = name.endswith(".json") or (name == "-" and data.lstrip()[:1] == b"[")
    if as_whole:
        try:
            text = _decode(data, 1)
            doc = json.loads(text)
        except ValueError as exc:
            if name.endswith(".json") and b"\n{" in data:
                # A JSON Lines file named .json: read it line by line instead.
                yield from _read_lines(data, settings)
                return
            yield RecordError(1, f"invalid JSON: {exc}")
            return
        items = doc if isinstance(doc, list) else [doc]
        if not items:
            yield RecordError(1, "the JSON array is empty: no interactions to score")
        for n, obj in enumerate(items, start=1):
            try:
                yield parse_record(obj, settings)
            except ValueError as exc:
                yield RecordError(n, str(exc))
        return
    yield from _read_lines(data, settings)


def _read_lines(data: bytes, settings: Settings) -> Iterator[Interaction | RecordError]:
    for n, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(_decode(raw, n))
        except json.JSONDecodeError as exc:
            yield RecordError(n, f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        except ValueError as exc:
            yield RecordError(n, str(exc))
            continue
        try:
            yield parse_record(obj, settings)
        except ValueError as exc:
            yield RecordError(n, str(exc))


def open_input(path: str) -> BinaryIO:
    if path == "-":
        import sys

        return sys.stdin.buffer
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"input not found: {path}")
    if p.is_dir():
        raise IsADirectoryError(f"input is a directory, expected a .json or .jsonl file: {path}")
    return p.open("rb")
