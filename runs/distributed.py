"""The same run on Dask: chunks of firms evaluated in parallel on workers.

The driver keeps all file I/O (it reads chunks and writes checkpoints), so workers need no
shared filesystem: a remote cluster (``--scheduler tcp://HOST:PORT``) works the same as a
local one (``--workers N``). The :class:`~runs.batch.RunJob` — policies, evaluation date,
reference tables and stacking rules, all plain picklable data — is scattered once to every
worker; each task gets one chunk (an Arrow table or raw records, cheap to serialise) and
returns its rows. Results are the same function of the same chunks as in a single
process, so the merged files are byte-identical.

At most ``2 × workers`` chunks are in flight, which bounds the driver's memory too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from matcher.errors import PolicyMatchError
from runs.batch import ChunkResult, RunJob, evaluate_chunk
from runs.sources import Payload


class DaskExecutor:
    """Evaluate chunks on a ``distributed.Client``; one numba thread per worker."""

    numba_threads = 1

    def __init__(self, client: Any, max_in_flight: int | None = None) -> None:
        self.client = client
        self.max_in_flight = max_in_flight

    def _capacity(self) -> int:
        if self.max_in_flight:
            return self.max_in_flight
        n = len(self.client.scheduler_info().get("workers", {})) or 1
        return 2 * n

    def map_chunks(
        self, job: RunJob, chunks: Iterator[tuple[int, Payload]]
    ) -> Iterator[ChunkResult]:
        from distributed import as_completed

        client = self.client
        [job_future] = client.scatter([job], broadcast=True, hash=False)
        pending = as_completed()
        it = iter(chunks)

        def submit_next() -> bool:
            item = next(it, None)
            if item is None:
                return False
            k, payload = item
            [data] = client.scatter([payload], hash=False)
            pending.add(client.submit(evaluate_chunk, k, data, job_future, pure=False,
                                      key=f"policy-match-chunk-{k}-{id(job)}"))
            return True

        for _ in range(self._capacity()):
            if not submit_next():
                break
        for future in pending:
            result = future.result()
            future.release()
            submit_next()
            yield result


@contextmanager
def dask_executor(scheduler: str | None = None, workers: int | None = None
                  ) -> Iterator[DaskExecutor]:
    """A connected executor: to ``scheduler`` (tcp://HOST:PORT) or a local cluster of ``workers``.

    The local cluster uses processes (numba kernels are not safe to launch from several
    threads of one process at once) with one thread each, and no dashboard.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - a dependency
        raise PolicyMatchError("Dask is not installed: pip install 'dask[distributed]'") from None
    if scheduler:
        try:
            client = Client(scheduler, timeout=30)
        except OSError as e:
            raise PolicyMatchError(f"cannot reach Dask scheduler {scheduler}: {e}") from None
        try:
            yield DaskExecutor(client)
        finally:
            client.close()
        return
    n = workers or 2
    if n < 1:
        raise PolicyMatchError(f"--workers must be ≥ 1, got {n}")
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=50)
    client = Client(cluster)
    try:
        yield DaskExecutor(client)
    finally:
        client.close()
        cluster.close()
