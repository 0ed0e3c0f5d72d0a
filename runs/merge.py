"""Merge the sorted chunk parts into one list sorted by policy_id then uscc, in bounded memory.

Each chunk's rows are already sorted by (policy_id, uscc). A streaming k-way merge reads a
block of each part at a time: all rows up to the smallest "last key" among the loaded
blocks can be emitted, since no part can still hold a smaller key. Memory is a block per
part, whatever the number of firms.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc
import pyarrow.parquet as pq

BLOCK_ROWS = 65_536


def sort_keys(table: pa.Table, policy_rank: dict[str, int] | None = None) -> np.ndarray:
    """Keys whose byte order is (policy_id, uscc) order.

    With the run's policy ids (``policy_rank``: id → position in sorted order) and codes of
    18 ASCII characters, a key is 20 fixed bytes — the rank big-endian, then the code — so
    comparisons are plain memcmp. Otherwise, ``policy_id \0 uscc`` as text.
    """
    uscc = table.column("uscc").combine_chunks().cast(pa.large_binary())
    n = len(uscc)
    if policy_rank is not None and (n == 0 or pc.all(pc.equal(pc.binary_length(uscc), 18))
                                    .as_py()):
        ids = pa.array(sorted(policy_rank, key=policy_rank.__getitem__), type=pa.string())
        rank = pc.index_in(table.column("policy_id").combine_chunks().cast(pa.string()),
                           value_set=ids).to_numpy(zero_copy_only=False)
        keys = np.zeros((n, 20), dtype=np.uint8)
        keys[:, 0] = rank >> 8
        keys[:, 1] = rank & 0xFF
        if n:
            offsets = np.frombuffer(uscc.buffers()[1], dtype=np.int64)[
                uscc.offset: uscc.offset + n + 1]
            data = np.frombuffer(uscc.buffers()[2], dtype=np.uint8)
            keys[:, 2:] = data[offsets[0]: offsets[-1]].reshape(n, 18)
        return keys.view("S20").reshape(n)
    sep = pa.scalar("\x00", pa.large_string())
    joined = pc.binary_join_element_wise(
        table.column("policy_id").combine_chunks().cast(pa.large_string()),
        table.column("uscc").combine_chunks().cast(pa.large_string()), sep)
    return np.asarray(joined.to_numpy(zero_copy_only=False), dtype=str)


def rank_keys(table: pa.Table, policy_rank: dict[str, int], ranks: np.ndarray) -> np.ndarray:
    """uint64 keys in (policy_id, uscc) order from the rows' ``rank`` column.

    ``rank`` is the firm's position among its chunk's sorted codes and ``ranks`` maps it to
    the firm's position among all firms of the run, so a key is two integers — the policy's
    rank in the high bits, the firm's global rank below — and no text is compared.
    """
    pid = table.column("policy_id").combine_chunks()
    if pa.types.is_dictionary(pid.type):
        codes = pid.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        names = pid.dictionary.to_pylist()
    else:
        enc = pc.dictionary_encode(pid)
        codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        names = enc.dictionary.to_pylist()
    prank = np.array([policy_rank[x] for x in names], dtype=np.uint64)
    local = table.column("rank").combine_chunks().to_numpy(zero_copy_only=False)
    firm = ranks[local].astype(np.uint64)
    return (prank[codes] << np.uint64(40)) | firm


def _batches(path: Path, block_rows: int) -> Iterator[pa.RecordBatch]:
    if path.suffix == ".arrow":  # Arrow IPC checkpoint: batches as written
        reader = pa.ipc.open_file(pa.memory_map(str(path)))
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i)
        return
    yield from pq.ParquetFile(path).iter_batches(batch_size=block_rows)


class _Part:
    def __init__(self, path: Path, drop: set[str] | None, block_rows: int,
                 policy_rank: dict[str, int] | None, ranks: np.ndarray | None = None) -> None:
        self.batches = _batches(path, block_rows)
        self.drop = drop
        self.policy_rank = policy_rank
        self.ranks = ranks
        self.table: pa.Table | None = None
        self.keys = np.empty(0, dtype=str)
        self.pos = 0
        self.fill()

    def fill(self) -> None:
        """Load the next non-empty block once the current one is used up."""
        while self.pos >= len(self.keys):
            batch = next(self.batches, None)
            if batch is None:
                self.table, self.keys, self.pos = None, np.empty(0, dtype=str), 0
                return
            table = pa.Table.from_batches([batch])
            if self.drop:
                keep = pc.invert(pc.is_in(table.column("uscc"),
                                          value_set=pa.array(sorted(self.drop))))
                table = table.filter(keep)
            if self.ranks is not None and self.policy_rank is not None:
                keys = rank_keys(table, self.policy_rank, self.ranks)
            else:
                keys = sort_keys(table, self.policy_rank)
            self.table, self.keys, self.pos = table, keys, 0

    @property
    def live(self) -> bool:
        return self.table is not None


def merge_parts(
    paths: list[Path],
    drop: dict[int, set[str]] | None = None,
    block_rows: int = BLOCK_ROWS,
    policy_ids: list[str] | None = None,
    ranks: list[np.ndarray] | None = None,
) -> Iterator[pa.Table]:
    """Yield tables of rows in global (policy_id, uscc) order.

    ``drop`` maps a part's position to firm codes whose rows it must not contribute
    (a firm repeated in a later chunk: the first occurrence wins). ``policy_ids``, the
    run's policies, allow compact fixed-width keys (at most 65,536 policies). With
    ``ranks`` (per part: the global rank of each chunk-local firm rank, for rows carrying
    a ``rank`` column) keys are plain integers (see :func:`rank_keys`).
    """
    drop = drop or {}
    rank = ({pid: i for i, pid in enumerate(sorted(policy_ids))}
            if policy_ids is not None and len(policy_ids) < 65_536 else None)
    parts = [_Part(p, drop.get(i), block_rows, rank, None if ranks is None else ranks[i])
             for i, p in enumerate(paths)]
    while True:
        live = [p for p in parts if p.live]
        if not live:
            return
        bound = min(p.keys[-1] for p in live)
        pieces: list[pa.Table] = []
        keys: list[np.ndarray] = []
        for p in live:
            end = int(np.searchsorted(p.keys, bound, side="right"))
            if end > p.pos:
                assert p.table is not None
                pieces.append(p.table.slice(p.pos, end - p.pos))
                keys.append(p.keys[p.pos:end])
                p.pos = end
                p.fill()
        if len(pieces) == 1:
            yield pieces[0]
            continue
        merged = pa.concat_tables(pieces)
        order = np.argsort(np.concatenate(keys), kind="stable")
        yield merged.take(pa.array(order))
