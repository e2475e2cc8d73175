"""Where many simulations run: local worker processes or a Dask cluster.

One implementation serves ``sim-run`` and ``sim-sweep``. Work is handed out
in *batches* (lists of runs) so that the cost of scheduling a task, pickling
its arguments and collecting its result is paid once per batch rather than
once per run. :meth:`Executor.map_unordered` yields each batch's result as
soon as it completes, so callers can write results batch by batch and lose
nothing already computed when they are interrupted.

Backends
--------
``local``
    A :class:`concurrent.futures.ProcessPoolExecutor` with ``workers``
    processes (0: all cores); with one worker the batches run in this process.
``dask``
    A :class:`distributed.Client` connected to ``address``: an existing
    scheduler such as ``tcp://10.0.0.5:8786`` (e.g. one started by
    dask-jobqueue on a SLURM cluster) or a scheduler file (``*.json``, written
    by ``dask scheduler --scheduler-file``); without an address, a new
    ``LocalCluster`` with ``workers`` single-threaded workers, whose dashboard
    (bokeh) listens on 127.0.0.1 only unless another address is asked for.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Protocol, TypeVar

import tqdm.std as tqdm_std

# Forking is only safe from a single-threaded process (Python 3.12 warns otherwise), so progress
# bars run without tqdm's monitor thread (it only tunes how often a bar redraws).
tqdm_std.tqdm.monitor_interval = 0

T = TypeVar("T")
R = TypeVar("R")

EXECUTORS = ("local", "dask")
#: Where a LocalCluster's dashboard listens: this machine only, any free port (``host:port``; empty: no
#: dashboard). Another interface only when asked (``dask.dashboard=0.0.0.0:8787``): the dashboard has no login.
DASHBOARD = "127.0.0.1:0"
#: Batches per execution slot when the batch size is chosen automatically:
#: enough to balance load and report progress, few enough to keep overhead low.
BATCHES_PER_SLOT = 8
#: Upper bound on an automatic batch size (results are saved per batch).
MAX_AUTO_BATCH = 100


def resolve_workers(workers: int) -> int:
    """Number of worker processes: ``workers``, or all cores when it is 0 (or negative)."""
    return (os.cpu_count() or 1) if workers <= 0 else int(workers)


def auto_batch_size(n_items: int, slots: int, per_slot: int = BATCHES_PER_SLOT,
                    max_size: int = MAX_AUTO_BATCH) -> int:
    """Runs per batch so that each execution slot gets about ``per_slot`` batches."""
    if n_items <= 0:
        return 1
    return max(1, min(max_size, math.ceil(n_items / (max(1, slots) * per_slot))))


def batched(items: Sequence[T], size: int) -> list[list[T]]:
    """Consecutive chunks of ``items`` of at most ``size`` elements (order kept)."""
    size = max(1, int(size))
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


class Executor(Protocol):
    """What the sweep and ``run_many`` need from a backend."""

    #: Number of batches that can run at the same time.
    slots: int
    #: Short description for messages and provenance.
    description: str

    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        """Yield ``(index, fn(items[index]))`` in completion order."""

    def close(self) -> None:
        """Release workers and connections."""


class _ContextMixin:
    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()  # type: ignore[attr-defined]


def _mp_context() -> multiprocessing.context.BaseContext:
    """``fork`` where available: workers inherit imported modules and composed configs, so they
    start in milliseconds (importing mesa switches the default to ``spawn``, which re-imports
    everything in each worker); elsewhere the platform default.
    """
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


class LocalExecutor(_ContextMixin):
    """Worker processes on this machine (``workers=1``: run in this process)."""

    def __init__(self, workers: int = 0) -> None:
        self.slots = resolve_workers(workers)
        self.description = f"local, {self.slots} process{'es' if self.slots > 1 else ''}"
        self._pool: ProcessPoolExecutor | None = None

    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        """Run ``fn`` over ``items``; pending work is cancelled if the caller stops early."""
        if self.slots == 1 or len(items) <= 1:
            for i, item in enumerate(items):
                yield i, fn(item)
            return
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=min(self.slots, len(items)), mp_context=_mp_context())
        index = {self._pool.submit(fn, item): i for i, item in enumerate(items)}
        pending = set(index)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield index[fut], fut.result()
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        """Shut the pool down without waiting for cancelled work."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


class DaskExecutor(_ContextMixin):
    """A Dask distributed cluster: an existing scheduler at ``address``, or a LocalCluster."""

    def __init__(self, address: str | None = None, workers: int = 0, processes: bool = True,
                 dashboard: str | None = DASHBOARD) -> None:
        from distributed import Client, LocalCluster

        self._cluster = None
        if address and address.endswith(".json"):  # a scheduler file, as written by `dask scheduler --scheduler-file`
            self.client = Client(scheduler_file=address, timeout="60s")
            where = self.client.scheduler.address
        elif address:
            self.client = Client(address, timeout="60s")
            where = address
        else:
            n = resolve_workers(workers)
            self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=processes,
                                         dashboard_address=dashboard or None)
            self.client = Client(self._cluster)
            where = f"LocalCluster, {n} worker{'s' if n > 1 else ''}"
        self.slots = max(1, sum(self.client.nthreads().values()))
        self.dashboard = self._local_dashboard(dashboard) if self._cluster is not None else self.client.dashboard_link
        self.description = f"dask ({where}), {self.slots} thread{'s' if self.slots > 1 else ''}"

    def _local_dashboard(self, dashboard: str | None) -> str | None:
        """Address of the LocalCluster's dashboard as bound (Dask's own link names the machine's address)."""
        server = getattr(self._cluster.scheduler, "http_server", None)
        if not dashboard or server is None or "dashboard" not in self._cluster.scheduler.services:
            return None
        host = dashboard.rsplit(":", 1)[0] or "127.0.0.1"
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{server.port}/status"

    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        """Submit every item as a task; yield results as tasks finish (lost workers are retried by Dask)."""
        from distributed import as_completed

        futures = self.client.map(fn, list(items), pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        remaining = set(futures)
        try:
            for fut in as_completed(futures):
                result = fut.result()
                remaining.discard(fut)
                yield index[fut.key], result
                fut.release()
        finally:
            if remaining:
                self.client.cancel(list(remaining))

    def close(self) -> None:
        """Close the client (and the LocalCluster this executor started)."""
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(kind: str = "local", workers: int = 0, address: str | None = None,
                  processes: bool = True, dashboard: str | None = DASHBOARD) -> LocalExecutor | DaskExecutor:
    """Build the executor named ``kind`` (one of :data:`EXECUTORS`)."""
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "dask":
        return DaskExecutor(address, workers, processes, dashboard)
    raise ValueError(f"unknown executor {kind!r}; allowed: {', '.join(EXECUTORS)}")
