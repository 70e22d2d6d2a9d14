"""A local process pool: chunks of a run in parallel, nothing to install.

The parent keeps the pool healthy: a retry is re-delivered after its backoff;
a worker process that dies (a crash on poison input, an OOM kill) breaks the
pool, so the parent expires the leases its workers held, lets the sweeper
count the lost attempts, and carries on with a fresh pool.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import TYPE_CHECKING

from jobport.worker import ChunkResult, WorkerContext, run_chunk

if TYPE_CHECKING:
    from jobport.settings import Settings

log = logging.getLogger(__name__)

_worker_context: WorkerContext | None = None


def _init_worker(settings: Settings, owner_prefix: str) -> None:
    """Build this worker process's own engine: connections never cross a fork."""
    global _worker_context
    from jobport.engine import Jobport

    engine = Jobport(settings, executor="inline", recover=False)
    _worker_context = engine.worker_context(owner=f"{owner_prefix}{os.getpid()}")


def _deliver(run_id: str, no: int) -> ChunkResult:
    assert _worker_context is not None, "worker process was not initialised"
    return run_chunk(_worker_context, run_id, no)


class LocalExecutor:
    def __init__(
        self,
        settings: Settings,
        *,
        workers: int,
        on_lost_workers: Callable[[str], list[tuple[str, int]]],
    ) -> None:
        self._settings = settings
        self._workers = workers
        self._on_lost_workers = on_lost_workers
        self._lock = threading.RLock()
        self._generation = 0
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False
        self._timers: set[threading.Timer] = set()

    @property
    def owner_prefix(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}/{self._generation}/"

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._generation += 1
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=get_context("spawn"),
                initializer=_init_worker,
                initargs=(self._settings, self.owner_prefix),
            )
        return self._pool

    def submit(self, run_id: str, chunks: Sequence[int]) -> None:
        with self._lock:
            if self._closed:
                return
            pool = self._ensure_pool()
            generation = self._generation
            for no in chunks:
                try:
                    future = pool.submit(_deliver, run_id, no)
                except BrokenProcessPool:
                    self._recover(generation)
                    pool = self._ensure_pool()
                    generation = self._generation
                    future = pool.submit(_deliver, run_id, no)
                future.add_done_callback(self._done_callback(run_id, no, generation))

    def _done_callback(
        self, run_id: str, no: int, generation: int
    ) -> Callable[[Future[ChunkResult]], None]:
        def done(future: Future[ChunkResult]) -> None:
            if future.cancelled():
                return
            error = future.exception()
            if isinstance(error, BrokenProcessPool):
                # Recovery touches the pool; never do it on the pool's own thread.
                threading.Thread(target=self._recover, args=(generation,), daemon=True).start()
                return
            if error is not None:
                log.error("delivery of chunk %s of run %s failed: %r", no, run_id, error)
                return
            result = future.result()
            if result.retry_in is not None:
                self._later(result.retry_in, run_id, no)

        return done

    def _later(self, delay: float, run_id: str, no: int) -> None:
        timer = threading.Timer(max(delay, 0.0), self._fire, args=(run_id, no))
        timer.daemon = True
        with self._lock:
            if self._closed:
                return
            self._timers.add(timer)
        timer.start()

    def _fire(self, run_id: str, no: int) -> None:
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive()}
        self.submit(run_id, [no])

    def _recover(self, generation: int) -> None:
        """Replace a broken pool once and re-deliver what its dead workers held."""
        with self._lock:
            if self._closed or generation != self._generation or self._pool is None:
                return
            lost_prefix = self.owner_prefix
            broken, self._pool = self._pool, None
        broken.shutdown(wait=False, cancel_futures=True)
        log.warning("a worker process died; recovering the chunks it held")
        for run_id, no in self._on_lost_workers(lost_prefix):
            self.submit(run_id, [no])

    def close(self) -> None:
        with self._lock:
            self._closed = True
            timers, self._timers = self._timers, set()
            pool, self._pool = self._pool, None
        for timer in timers:
            timer.cancel()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
