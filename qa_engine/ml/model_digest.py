"""Content digests of model folders, so a retrained model is a new version wherever versions count
(result.versions, the batch ledger's skip check).

A folder's digest covers every file a model is served from (weights, labels, vocabularies,
tokenizers); the model card and training records (README.md, metrics.json, history.json) are
documentation and left out, so rewriting a card does not rescore a night's calls.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

DOC_FILES = frozenset({"README.md", "metrics.json", "history.json"})
CHUNK = 1 << 20


def served_files(model_dir: Path) -> list[Path]:
    """The folder's files that serving reads, by name (not the model card or training records)."""
    return sorted(p for p in Path(model_dir).rglob("*") if p.is_file() and p.name not in DOC_FILES)


def folder_digest(model_dir: Path) -> str:
    """`sha256:` and 16 hex digits over the served files' relative names and bytes."""
    return files_digest(model_dir, served_files(model_dir))


def files_digest(root: Path, files: Iterable[Path]) -> str:
    """`sha256:` and 16 hex digits over these files' names relative to `root` and their bytes, in the
    order given (also the customer cue lists'). Memoised on each file's size and modification time, so
    an engine rebuilt with the same files hashes nothing."""
    names = [str(Path(p).relative_to(root)) for p in files]  # before resolving: files may be links
    root = Path(root).resolve()
    stats = tuple((name, (root / name).stat().st_size, (root / name).stat().st_mtime_ns) for name in names)
    return _digest(root, stats)


@lru_cache(maxsize=64)
def _digest(model_dir: Path, stats: tuple[tuple[str, int, int], ...]) -> str:
    h = hashlib.sha256()
    for name, _size, _mtime in stats:
        h.update(name.encode("utf-8") + b"\0")
        with (model_dir / name).open("rb") as fh:
            while chunk := fh.read(CHUNK):
                h.update(chunk)
        h.update(b"\0")
    return f"sha256:{h.hexdigest()[:16]}"
