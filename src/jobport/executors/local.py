"""A local process pool: chunks of a run in parallel, nothing to install.

The parent schedules the deliveries itself and hands the pool at most one
delivery per worker (plus one queued), lowest chunk first. So a chunk due
again (after a backoff, or given back to wait for its turn) goes before the
rest of its run instead of queueing behind it, and an in-order run never
has every worker waiting on a chunk that no worker holds.

A worker process that dies (poison input that crashes the interpreter, an
OOM kill) breaks a ``ProcessPoolExecutor``: it stops every other worker and
fails every delivery. The parent then waits until the broken pool is gone,
takes back the chunks its workers held -- counting a failed attempt only
for a worker that died on its own (a chunk that keeps killing its worker
fails its run after ``max_attempts``); a worker the pool stopped only loses
its place -- and delivers them again on a fresh pool. A pool that keeps
dying before any chunk is done (an app module that fails to import in a new
process, an unreachable database) fails the runs it was given instead of
being restarted forever.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import BaseContext
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from jobport.executors.base import ExecutorBase, GiveUp, LostWorkers
from jobport.executors.forkserver import block_interrupts, worker_context
from jobport.logs import follow_environment
from jobport.wiring import Parts
from jobport.worker import ChunkResult, WorkerContext, run_chunk

if TYPE_CHECKING:
    from jobport.settings import Settings

log = logging.getLogger(__name__)

#: Pools in a row that may die before finishing any chunk before their runs are failed.
MAX_FRUITLESS_POOLS = 3
#: Deliveries of one chunk in a row that may fail outside the chunk (the store
#: unreachable, say) before its run is failed; they are retried with a growing delay.
MAX_DELIVERY_ERRORS = 8
MAX_DELIVERY_BACKOFF_SECONDS = 30.0


_worker_context: WorkerContext | None = None


def _init_worker(settings: Settings, owner_prefix: str, environment: dict[str, str]) -> None:
    """Build this worker process's own parts: connections never cross a fork.

    A worker only runs chunks: it gets the store, files, job types and event
    bus (:class:`jobport.wiring.Parts`), never an engine that could dispatch
    or supervise; its parent does both.

    The forkserver was started once, with the environment of that moment; a
    worker takes the environment its pool's creator has now, as a spawned
    process would. What the worker inherited from the forkserver (jobport and
    its libraries, imported) is frozen: the collector never scans those
    objects again, nor copies their shared pages by touching them.

    Ctrl-C in a terminal reaches the whole process group: a worker ignores it
    and leaves the decision to its parent, which ends the pool (an interrupted
    worker would only fail its delivery, to be made again, and keep its lease).
    """
    global _worker_context
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.freeze()
    os.environ.clear()
    os.environ.update(environment)
    follow_environment()
    parts = Parts.build(settings)
    _worker_context = parts.worker_context(owner=f"{owner_prefix}{os.getpid()}")


def _worker_context_factory(settings: Settings) -> BaseContext:
    """Worker processes forked from a server that has jobport and the app imported."""
    return worker_context(settings, _database_modules(settings))


def _database_modules(settings: Settings) -> list[str]:
    """The SQLAlchemy dialect and driver of the database: every worker connects at once."""
    try:
        dialect = make_url(settings.database_url).get_dialect()
        return [dialect.__module__, dialect.import_dbapi().__name__]
    except Exception:  # an unknown dialect or missing driver: the worker will say so
        return []


def _ready(hold_seconds: float = 0.0) -> int:
    """A no-op delivery naming its worker: makes the pool start one (see ``warm``).

    Held a moment, it keeps its worker busy, so the next one goes to another.
    """
    if hold_seconds:
        time.sleep(hold_seconds)
    return os.getpid()


def _start_workers(pool: ProcessPoolExecutor, count: int, answered: threading.Event) -> None:
    """Make the pool start ``count`` workers; ``answered`` is set when the first one is up."""
    block_interrupts()
    try:
        for _ in range(count):
            pool.submit(_ready).add_done_callback(lambda _: answered.set())
    except (RuntimeError, OSError, EOFError):
        # The executor closed, or its pool broke or could not start (a Ctrl-C reaches the
        # forkserver too while it imports): nothing to warm; a delivery meets the same
        # failure and recovers the pool.
        pass


def _deliver(run_id: str, no: int) -> ChunkResult:
    assert _worker_context is not None, "worker process was not initialised"
    return run_chunk(_worker_context, run_id, no)


def describe_death(exitcode: int) -> str:
    """Why a worker process ended, in words, from its exit code."""
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"its worker process was killed by {name} while running it"
    return f"its worker process died while running it (exit code {exitcode})"


def _no_give_up(run_ids: Sequence[str], reason: str) -> None:
    log.error("runs %s cannot go on: %s", ", ".join(run_ids), reason)


class LocalExecutor(ExecutorBase):
    """Chunks in worker processes of this machine; the supervisor knows what it delivers."""

    tracks_deliveries = True

    def __init__(
        self,
        settings: Settings,
        *,
        workers: int,
        on_lost_workers: LostWorkers,
        on_give_up: GiveUp = _no_give_up,
    ) -> None:
        self._settings = settings
        self._workers = max(workers, 1)
        self._limit = self._workers + 1
        self._on_lost_workers = on_lost_workers
        self._on_give_up = on_give_up
        self._cond = threading.Condition(threading.RLock())
        self._closed = False
        self._thread: threading.Thread | None = None
        self._helpers: list[threading.Thread] = []
        # Deliveries not yet handed to the pool: waiting for their time, or ready.
        self._waiting: list[tuple[float, int, str, int]] = []  # (due, seq, run, chunk)
        self._ready: list[tuple[int, int, int, str]] = []  # (run order, chunk, seq, run)
        self._queued: set[tuple[str, int]] = set()
        # Waiting deliveries that gave their turn to an earlier chunk of their run.
        self._yielded: set[tuple[str, int]] = set()
        self._seq = itertools.count()
        self._run_order: dict[str, int] = {}
        self._in_flight: dict[Future[ChunkResult], tuple[str, int, int]] = {}
        self._errors: dict[tuple[str, int], int] = {}
        self._ended = 0  # deliveries ended, for wait_for_delivery
        # Pools by generation; the current one receives new deliveries.
        self._generation = 0
        self._pool: ProcessPoolExecutor | None = None
        self._pools: dict[int, ProcessPoolExecutor] = {}
        self._completed: dict[int, int] = {}
        self._lost: dict[int, set[tuple[str, int]]] = {}
        self._recovering: set[int] = set()  # every generation whose recovery started
        self._recovering_now: set[int] = set()  # those not finished yet
        self._fruitless = 0
        #: Set once a worker process has answered (a warm-up ping or a delivery).
        self._answered = threading.Event()

    # -- what the dispatcher and the supervisor call ------------------------------------------

    @property
    def size(self) -> int:
        """How many worker processes a pool of this executor has."""
        return self._workers

    @property
    def owner_prefix(self) -> str:
        """Lease owner prefix of the current pool's workers."""
        return self._owner_prefix(self._generation)

    def submit(self, run_id: str, chunks: Sequence[int]) -> None:
        with self._cond:
            if self._closed:
                return
            for no in chunks:
                self._enqueue(run_id, no, 0.0)
            self._start()
            self._cond.notify_all()

    def pump(self, run_id: str, chunks: Sequence[int]) -> int:
        """Deliver those of ``chunks`` this executor is not already delivering.

        The supervisor's sweep calls it with the pending chunks of the runs this
        process dispatches, so a delivery lost on the way is made again.
        """
        with self._cond:
            if self._closed:
                return 0
            busy = self._queued | {(r, n) for r, n, _ in self._in_flight.values()}
            missing = [no for no in chunks if (run_id, no) not in busy]
            for no in missing:
                self._enqueue(run_id, no, 0.0)
            if missing:
                self._start()
                self._cond.notify_all()
            return len(missing)

    def serving(self) -> bool:
        """Whether a worker process has started and answered: until then, a caller
        that waits for its run may run chunks itself (see ``Dispatcher.deliver``)."""
        return self._answered.is_set()

    def outstanding(self) -> int:
        """Deliveries queued or in a worker's hands."""
        with self._cond:
            return len(self._queued) + len(self._in_flight)

    def wait_for_delivery(self, timeout: float) -> None:
        """Block until a delivery ends: the caller waiting for its run looks at once,
        instead of at its next poll (its last chunk's commit finishes the run)."""
        with self._cond:
            ended = self._ended
            self._cond.wait_for(lambda: self._ended != ended or self._closed, timeout)

    def settle(self, run_id: str, timeout: float) -> None:
        """Block until no delivery of the run is in a worker's hands.

        The chunk that finishes a run commits, then its worker records the
        attempt's metrics and stops its heartbeat: a caller told the run is over
        looks at those next, and must find them.
        """
        with self._cond:
            self._cond.wait_for(
                lambda: (
                    self._closed or all(run != run_id for run, _, _ in self._in_flight.values())
                ),
                timeout,
            )

    def warm(self) -> None:
        """Start the worker processes in the background, while the caller plans the file.

        Spawned workers import jobport and open their parts in about a second,
        and starting the first one blocks until the forkserver has done its
        imports: on a helper thread, that second overlaps the planning instead
        of preceding it.
        """
        with self._cond:
            if self._closed:
                return
            pool = self._current_pool()
            helper = threading.Thread(
                target=_start_workers,
                args=(pool, self._workers, self._answered),
                name="jobport-warm",
                daemon=True,
            )
            self._helpers = [h for h in self._helpers if h.is_alive()]
            self._helpers.append(helper)  # joined on close
        helper.start()

    def wait_ready(self, timeout: float = 60.0) -> set[int]:
        """Block until every worker process has started and opened its parts.

        Returns the process ids of those that answered in time. Nothing in the
        pool needs it: it is for callers that must not count the workers' start,
        such as a readiness check or a benchmark of a running server.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._closed:
                return set()
            pool = self._current_pool()
        seen: set[int] = set()
        while len(seen) < self._workers and time.monotonic() < deadline:
            try:
                futures = [pool.submit(_ready, 0.05) for _ in range(self._workers)]
            except (BrokenProcessPool, RuntimeError):
                break
            done, _ = wait_futures(futures, timeout=max(deadline - time.monotonic(), 0.0))
            seen.update(f.result() for f in done if f.exception() is None)
        return seen

    def close(self) -> None:
        with self._cond:
            self._closed = True
            pools = list(self._pools.values())
            self._pools.clear()
            self._pool = None
            thread, self._thread = self._thread, None
            helpers, self._helpers = self._helpers, []
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)
        for helper in helpers:
            if helper is not threading.current_thread():
                helper.join(timeout=30)

    def terminate(self) -> None:
        """Close at once: end the worker processes instead of waiting for their chunks.

        For a process told to stop (Ctrl-C, SIGTERM), which must not wait for
        a long chunk. Nothing is lost: a chunk commits in one transaction, so a
        worker ended before its commit leaves nothing written; the chunks its
        workers held stay leased to them until the caller gives them back.
        """
        with self._cond:
            self._closed = True  # the ended workers are not a broken pool to recover
            processes = [
                process
                for pool in self._pools.values()
                for process in list((getattr(pool, "_processes", None) or {}).values())
            ]
        for process in processes:
            process.terminate()
        self.close()

    # -- scheduling ---------------------------------------------------------------------------

    def _owner_prefix(self, generation: int) -> str:
        return f"{socket.gethostname()}:{os.getpid()}/{generation}/"

    def _enqueue(self, run_id: str, no: int, delay: float) -> None:
        """Queue one delivery (the lock is held). A chunk already queued is not queued twice."""
        if self._closed or (run_id, no) in self._queued:
            return
        self._queued.add((run_id, no))
        seq = next(self._seq)
        if delay > 0:
            heapq.heappush(self._waiting, (time.monotonic() + delay, seq, run_id, no))
        else:
            order = self._run_order.setdefault(run_id, len(self._run_order))
            heapq.heappush(self._ready, (order, no, seq, run_id))

    def _wake_yielded(self, run_id: str) -> None:
        """A chunk of ``run_id`` ended: those that gave it their turn go again now.

        Their hand-back timers grow while an earlier chunk backs off after a
        failure; without this, once it commits, each later chunk would still
        wait out its own timer, one after another (the lock is held).
        """
        woken = [
            entry
            for entry in self._waiting
            if entry[2] == run_id and (run_id, entry[3]) in self._yielded
        ]
        if not woken:
            return
        self._waiting = [entry for entry in self._waiting if entry not in woken]
        heapq.heapify(self._waiting)
        order = self._run_order.setdefault(run_id, len(self._run_order))
        for _, seq, _, no in woken:
            self._yielded.discard((run_id, no))
            heapq.heappush(self._ready, (order, no, seq, run_id))

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._schedule, name="jobport-local-executor", daemon=True
            )
            self._thread.start()

    def _schedule(self) -> None:
        """Hand ready deliveries to the pool, lowest run and chunk first, a few at a time."""
        block_interrupts()
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                while self._waiting and self._waiting[0][0] <= now:
                    _, seq, run_id, no = heapq.heappop(self._waiting)
                    self._yielded.discard((run_id, no))
                    order = self._run_order.setdefault(run_id, len(self._run_order))
                    heapq.heappush(self._ready, (order, no, seq, run_id))
                # While a broken pool is being recovered, hand nothing to a new one:
                # the recovery decides what is still worth delivering.
                while (
                    self._ready and len(self._in_flight) < self._limit and not self._recovering_now
                ):
                    order, no, seq, run_id = heapq.heappop(self._ready)
                    if not self._hand_over(run_id, no):
                        heapq.heappush(self._ready, (order, no, seq, run_id))
                        break
                    self._queued.discard((run_id, no))
                timeout = max(self._waiting[0][0] - now, 0.0) if self._waiting else None
                self._cond.wait(timeout)

    def _hand_over(self, run_id: str, no: int) -> bool:
        pool = self._current_pool()
        generation = self._generation
        try:
            future = pool.submit(_deliver, run_id, no)
        except (BrokenProcessPool, RuntimeError, OSError, EOFError):
            # The pool broke (or is being shut down) since it was last used, or its
            # forkserver died while starting (a Ctrl-C reaches it too while it imports).
            if not self._closed:
                self._start_recovery(generation)
            return False
        self._in_flight[future] = (run_id, no, generation)
        future.add_done_callback(self._done)
        return True

    def _current_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._generation += 1
            generation = self._generation
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=_worker_context_factory(self._settings),
                initializer=_init_worker,
                initargs=(self._settings, self._owner_prefix(generation), dict(os.environ)),
            )
            self._pools[generation] = self._pool
            self._completed[generation] = 0
        return self._pool

    def _done(self, future: Future[ChunkResult]) -> None:
        """A delivery ended (called on the pool's thread: record, never touch the pool)."""
        self._answered.set()
        with self._cond:
            self._ended += 1
            info = self._in_flight.pop(future, None)
            if info is None or future.cancelled() or self._closed:
                self._cond.notify_all()
                return
            run_id, no, generation = info
            error = future.exception()
            if isinstance(error, BrokenProcessPool):
                self._lost.setdefault(generation, set()).add((run_id, no))
                self._start_recovery(generation)
            elif error is not None:
                self._delivery_failed(run_id, no, error)
            else:
                self._completed[generation] = self._completed.get(generation, 0) + 1
                self._errors.pop((run_id, no), None)
                result = future.result()
                if result.retry_in is not None:
                    self._enqueue(run_id, no, result.retry_in)
                    if result.yielded:
                        self._yielded.add((run_id, no))
                else:
                    self._wake_yielded(run_id)
            self._cond.notify_all()

    def _delivery_failed(self, run_id: str, no: int, error: BaseException) -> None:
        """The delivery itself failed (not the chunk): try again later, within reason."""
        count = self._errors.get((run_id, no), 0) + 1
        self._errors[(run_id, no)] = count
        if count >= MAX_DELIVERY_ERRORS:
            self._errors.pop((run_id, no), None)
            reason = f"chunk {no} could not be delivered {count} times in a row: {error!r}"
            self._in_helper(self._on_give_up, [run_id], reason)
            return
        delay = min(2.0 ** (count - 1), MAX_DELIVERY_BACKOFF_SECONDS)
        log.error(
            "delivery of chunk %s of run %s failed (%r); again in %.0f s", no, run_id, error, delay
        )
        self._enqueue(run_id, no, delay)

    def _in_helper(self, target: Callable[..., Any], *args: Any) -> None:
        """Run ``target`` on a thread of its own (it may block; the lock is held here)."""
        helper = threading.Thread(target=target, args=args, daemon=True)
        self._helpers = [h for h in self._helpers if h.is_alive()]
        self._helpers.append(helper)
        helper.start()

    # -- a broken pool ------------------------------------------------------------------------

    def _start_recovery(self, generation: int) -> None:
        """Once per broken pool: retire it and recover its chunks on a helper thread."""
        if generation in self._recovering:
            return
        self._recovering.add(generation)
        self._recovering_now.add(generation)
        pool = self._pools.pop(generation, None)
        if pool is not None and self._pool is pool:
            self._pool = None
        # The pool's processes, before it forgets them; they are still being stopped.
        processes = dict(getattr(pool, "_processes", None) or {})
        self._in_helper(self._recover, generation, pool, processes)

    def _recover(
        self, generation: int, pool: ProcessPoolExecutor | None, processes: dict[int, Any]
    ) -> None:
        if pool is not None:
            # Waits until every worker of the broken pool has exited: none can commit
            # after this, and each one's exit code says whether it died or was stopped.
            pool.shutdown(wait=True, cancel_futures=True)
        prefix = self._owner_prefix(generation)
        owners: dict[str, str | None] = {prefix: "its worker process was lost"}
        deaths = []
        for pid, process in processes.items():
            code = process.exitcode
            if code is None or code == -signal.SIGTERM:
                owners[f"{prefix}{pid}"] = None  # stopped by the pool: not its chunk's fault
            else:
                owners[f"{prefix}{pid}"] = describe_death(code)
                deaths.append(f"process {pid}: exit code {code}")
        log.warning(
            "a worker process died (%s); taking back the chunks of its pool",
            "; ".join(deaths) or "no exit code",
        )
        with self._cond:
            # The lost deliveries, and those queued meanwhile: the supervisor keeps the
            # ones whose run goes on (the dead worker's chunk may have ended it).
            lost = self._lost.pop(generation, set())
            lost |= {(run_id, no) for _, no, _, run_id in self._ready}
            self._queued -= lost
            self._ready = []
        recovered = None
        try:
            recovered = self._on_lost_workers(owners, lost)
        except Exception:
            log.exception("could not take back the chunks of the dead workers; the sweeper will")
        give_up: tuple[list[str], str] | None = None
        with self._cond:
            if recovered is not None:
                lost = set(recovered.redeliver)
            fruitful = self._completed.pop(generation, 0) > 0 or (
                recovered is not None and recovered.charged > 0
            )
            self._fruitless = 0 if fruitful else self._fruitless + 1
            if self._fruitless >= MAX_FRUITLESS_POOLS and lost:
                self._fruitless = 0
                reason = (
                    f"the worker processes died {MAX_FRUITLESS_POOLS} times in a row before "
                    f"finishing any chunk ({'; '.join(deaths) or 'no exit code'}): check that "
                    "the app module imports and the database is reachable from a new process"
                )
                give_up = (sorted({run_id for run_id, _ in lost}), reason)
            else:
                for run_id, no in sorted(lost):
                    self._enqueue(run_id, no, 0.0)
            self._recovering_now.discard(generation)
            self._cond.notify_all()
        if give_up is not None:
            self._on_give_up(*give_up)
