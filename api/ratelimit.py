"""Per-key token buckets: a steady rate with room for short bursts.

Two implementations with one ``allow(key)``:

* :class:`TokenBuckets` — in the process; enough for one worker (and the tests' app).
* :class:`SharedTokenBuckets` — a small table in a memory-mapped file that every worker
  process of one server maps, so ``policy-match serve --workers N`` limits a key to the
  configured rate in total, not N times it. No network service: the file lives in
  ``/dev/shm`` (memory) when there is one, ``serve`` creates it before the workers start
  and removes it when they stop (:func:`create_table`). A request costs a hash, an
  ``flock`` pair and a few bytes read and written — microseconds.

The clock is ``time.monotonic`` (CLOCK_MONOTONIC), which is the same for every process of
the machine, so workers agree on how many tokens have refilled.
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import struct
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

MAGIC = b"PMRL0001"
HEADER = struct.Struct("<8sI4x")  # magic, number of slots
KEY_BYTES = 16
SLOT = struct.Struct(f"<{KEY_BYTES}sdd")  # key id (NUL-padded), tokens, last update
FREE = bytes(KEY_BYTES)
DEFAULT_SLOTS = 4096
PROBES = 64  # slots looked at for one key before the table counts as full there


class TokenBuckets:
    """``allow(key)`` spends one token; tokens refill at ``per_minute / 60`` a second."""

    def __init__(self, per_minute: int, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> tuple[bool, float]:
        """(allowed?, seconds until the next token if not)."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            allowed, tokens, wait = _spend(tokens, last, now, self.rate, self.burst)
            self._buckets[key] = (tokens, now)
            return allowed, wait


def _spend(tokens: float, last: float, now: float, rate: float,
           burst: float) -> tuple[bool, float, float]:
    """One request against a bucket: (allowed?, tokens left, seconds to wait if not)."""
    tokens = min(burst, tokens + max(0.0, now - last) * rate)
    if tokens >= 1.0:
        return True, tokens - 1.0, 0.0
    return False, tokens, (1.0 - tokens) / rate


def _slot_name(key: str) -> bytes:
    """The key as stored in a slot: its id NUL-padded, or a digest of a longer one."""
    raw = key.encode("utf-8")
    if 0 < len(raw) <= KEY_BYTES and not raw.endswith(b"\0"):
        return raw.ljust(KEY_BYTES, b"\0")
    return hashlib.blake2b(raw, digest_size=KEY_BYTES).digest()


def create_table(slots: int = DEFAULT_SLOTS, directory: str | None = None) -> Path:
    """A new, empty shared table file (for :class:`SharedTokenBuckets`); the caller
    removes it when the server stops."""
    where = directory or ("/dev/shm" if os.path.isdir("/dev/shm") else None)
    fd, name = tempfile.mkstemp(prefix="policy-match-rate-", suffix=".bin", dir=where)
    with os.fdopen(fd, "wb") as f:
        f.write(HEADER.pack(MAGIC, slots))
        f.write(bytes(SLOT.size * slots))
    return Path(name)


class SharedTokenBuckets:
    """Token buckets kept in a file mapped by every worker process (see the module doc).

    Keys are placed by a CRC32 of their id with linear probing. A slot whose bucket would
    be full by now holds no information (a new bucket starts full), so when the probed
    slots are all taken such a slot is reused; if none is, the key falls back to an
    in-process bucket (more than ``PROBES`` keys busy at once in one place of a table of
    thousands — not expected, and then the limit is per process as before).
    """

    def __init__(self, path: str | os.PathLike[str], per_minute: int, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self.path = Path(path)
        self._file = open(self.path, "r+b")  # noqa: SIM115 (kept open: the mapping's lock)
        self._map = mmap.mmap(self._file.fileno(), 0)
        magic, self.slots = HEADER.unpack_from(self._map, 0)
        if magic != MAGIC or len(self._map) != HEADER.size + SLOT.size * self.slots:
            raise ValueError(f"{self.path} is not a policy-match rate table")
        self._fallback = TokenBuckets(per_minute, burst, clock)
        self._lock = threading.Lock()  # threads of this process; flock for the others

    def allow(self, key: str) -> tuple[bool, float]:
        """(allowed?, seconds until the next token if not)."""
        name = _slot_name(key)
        start = zlib.crc32(name) % self.slots
        with self._lock:
            fcntl.flock(self._file, fcntl.LOCK_EX)
            try:
                now = self.clock()
                offset = self._find(name, start, now)
                if offset is None:
                    return self._fallback.allow(key)
                stored, tokens, last = SLOT.unpack_from(self._map, offset)
                if stored != name:  # a free or reclaimed slot: a full bucket
                    tokens, last = self.burst, now
                allowed, tokens, wait = _spend(tokens, last, now, self.rate, self.burst)
                SLOT.pack_into(self._map, offset, name, tokens, now)
                return allowed, wait
            finally:
                fcntl.flock(self._file, fcntl.LOCK_UN)

    def _find(self, name: bytes, start: int, now: float) -> int | None:
        """Offset of the key's slot, else of a free or reclaimable one, else None."""
        reclaim = None
        for i in range(min(PROBES, self.slots)):
            offset = HEADER.size + SLOT.size * ((start + i) % self.slots)
            stored, tokens, last = SLOT.unpack_from(self._map, offset)
            if stored == name or stored == FREE:
                return offset
            if reclaim is None and tokens + (now - last) * self.rate >= self.burst:
                reclaim = offset
        return reclaim

    def close(self) -> None:
        self._map.close()
        self._file.close()
