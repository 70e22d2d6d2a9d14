"""The composition root: builds the store, files, executor and event bus from Settings."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from jobport.dispatch import Dispatcher, StartRequest, dispatcher_id, limits_from
from jobport.errors import ConfigurationError
from jobport.events import EventBus, JobEvent
from jobport.executors import Executor
from jobport.files import FileStore
from jobport.registry import JobRegistry, load_registry
from jobport.settings import ExecutorName, Settings
from jobport.store import JobStore, RunRecord, make_engine
from jobport.store.database import adopt_engine, driver_url
from jobport.store.migrations import current, upgrade
from jobport.worker import WorkerContext

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from jobport.executors.local import Recovered
    from jobport.store.jobstore import Reclaimed

log = logging.getLogger(__name__)


class Jobport:
    """One configured jobport: what every face (CLI, HTTP, Python) talks to."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        registry: JobRegistry | None = None,
        executor: ExecutorName | None = None,
        recover: bool = False,
        prepare: bool = True,
        database: Engine | None = None,
        warm: bool = True,
    ) -> None:
        """``prepare`` migrates the embedded SQLite and creates missing target tables;
        worker processes of a pool skip it, their parent has done it.

        ``database`` is an application's own SQLAlchemy engine, used instead of
        one made from ``settings.database_url``: the state tables then live
        beside the application's tables, and a chunk's rows commit with its
        bookkeeping in one transaction. Worker processes (the local pool,
        Celery) still open ``database_url``, so it must name the same database.
        The engine stays the application's: :meth:`close` does not dispose it.

        With ``warm``, a local executor starts its worker processes at once, in
        the background: they take about half a second to import jobport and
        the app, which then overlaps whatever comes before the first run (the
        rest of a server's start, an upload) instead of delaying its chunks.
        """
        self.settings = settings or Settings()
        self.registry = registry if registry is not None else load_registry(self.settings.app)
        self._owns_database = database is None
        self.database = (
            make_engine(self.settings.database_url) if database is None else adopt_engine(database)
        )
        if prepare and self.database.dialect.name == "sqlite":
            if self._owns_database:
                _ensure_sqlite_folder(self.settings.database_url)
            upgrade(self.database)
        elif prepare:
            _require_state_tables(self.database)
        if prepare:
            self._create_target_tables()
        self.store = JobStore(self.database)
        self.files = FileStore.from_settings(self.settings)
        self.bus = EventBus(self.registry.listeners)
        if self.settings.redis_url:
            from jobport.events_redis import RedisPublisher, broadcast_filter

            self.bus.subscribe(
                RedisPublisher(
                    self.settings.redis_url,
                    should_publish=broadcast_filter(self.registry.should_broadcast),
                )
            )
        self.executor_name: ExecutorName = executor or self.settings.executor
        if not self._owns_database and self.executor_name != "inline":
            _check_same_database(self.database, self.settings.database_url)
        self.executor = self._build_executor(self.executor_name)
        self.dispatcher = Dispatcher(
            registry=self.registry,
            store=self.store,
            files=self.files,
            executor=self.executor,
            database=self.database,
            max_upload_bytes=self.settings.max_upload_bytes,
            limits=limits_from(self.settings),
        )
        self._sweeper: Sweeper | None = None
        if recover:
            self._recover(starting=True)
        if self.executor_name == "local":
            # The parent of a process pool is long-lived while its runs last: it
            # takes back the chunks of lost workers and re-delivers lost deliveries.
            self.start_sweeper()
            if warm:
                self.executor.warm()

    # -- wiring -----------------------------------------------------------------------------

    def _build_executor(self, name: ExecutorName) -> Executor:
        if name == "inline":
            from jobport.executors.inline import InlineExecutor

            return InlineExecutor(self.worker_context)
        if name == "local":
            if self.settings.app is None and len(self.registry):
                raise ConfigurationError(
                    "the local executor loads job types in worker processes from the app "
                    "module: set JOBPORT_APP or --app (or use the inline executor)"
                )
            from jobport.executors.local import LocalExecutor

            return LocalExecutor(
                self.settings,
                workers=self.settings.workers or os.cpu_count() or 2,
                on_lost_workers=self._lost_workers,
                on_give_up=self._give_up,
            )
        if name == "celery":
            from jobport.executors.celery import CeleryExecutor

            return CeleryExecutor.from_settings(
                self.settings, store=self.store, registry=self.registry
            )
        raise ConfigurationError(f"the '{name}' executor is not available in this version")

    def worker_context(self, owner: str | None = None) -> WorkerContext:
        return WorkerContext(
            store=self.store,
            files=self.files,
            registry=self.registry,
            bus=self.bus,
            database=self.database,
            owner=owner or dispatcher_id(),
            lease_seconds=self.settings.lease_seconds,
            backoff_seconds=self.settings.retry_backoff_seconds,
        )

    def _create_target_tables(self) -> None:
        if not self.settings.create_tables:
            return
        tables = [t.table for t in self.registry if t.table is not None]
        for table in {id(t): t for t in tables if t is not None}.values():
            table.create(self.database, checkfirst=True)

    # -- runs -------------------------------------------------------------------------------

    def start(
        self,
        request: StartRequest,
        *,
        path: str | Path | None = None,
        stream: IO[bytes] | None = None,
    ) -> RunRecord:
        """Store the source (if any) under a key of ours, plan the run and queue it."""
        job_type = self.dispatcher.check(request)
        self.executor.warm()
        source_key = None
        if path is not None:
            source_key = self.dispatcher.store_path(path, job_type=job_type)
        elif stream is not None:
            source_key = self.dispatcher.store_upload(
                stream, request.source_name, job_type=job_type
            )
        return self.dispatcher.start(request, source_key=source_key)

    def import_file(self, type: str, path: str | Path, **request: Any) -> RunRecord:
        return self.start(
            StartRequest(type=type, source_name=Path(path).name, **request), path=path
        )

    def run(self, run_id: str) -> RunRecord:
        return self.store.get_run(run_id)

    def wait(
        self,
        run_id: str,
        *,
        poll_seconds: float = 0.2,
        timeout: float | None = None,
        on_update: Callable[[RunRecord], None] | None = None,
    ) -> RunRecord:
        """Block until the run is finished, reporting each change of its counters."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last_seq = -1
        while True:
            run = self.store.get_run(run_id)
            if on_update is not None and run.seq != last_seq:
                on_update(run)
                last_seq = run.seq
            if run.finished:
                return run
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} did not finish in {timeout} s")
            time.sleep(poll_seconds)

    def cancel(self, run_id: str) -> RunRecord:
        run, event = self.store.cancel_run(run_id)
        self._publish(event, run.strategy)
        return run

    def resume(self, run_id: str) -> RunRecord:
        """Continue a stopped or interrupted run from its unfinished chunks.

        A failed or cancelled run gets its failed and cancelled chunks back; an
        interrupted one (still ``running``, its process dead) gets the chunks that
        process held; one still going gets its pending chunks delivered again (a
        lost delivery stalls no run for long). Chunks already done are never run
        again. A completed run is refused.
        """
        self._take_over(run_id)
        chunks = self.store.reopen_chunks(run_id, only_failed=False)
        self.store.adopt_run(run_id, dispatcher_id())
        self.dispatcher.resubmit(run_id, chunks)
        return self.store.get_run(run_id)

    def retry(self, run_id: str) -> RunRecord:
        """Run the failed chunks of a run again (and those its failure kept from starting).

        Chunks already done are never run again; rows that failed validation are
        not chunks that failed: correct them in the error report and import it
        with ``retry_of``.
        """
        self._take_over(run_id)
        chunks = self.store.reopen_chunks(run_id, only_failed=True)
        self.store.adopt_run(run_id, dispatcher_id())
        self.dispatcher.resubmit(run_id, chunks)
        return self.store.get_run(run_id)

    def _take_over(self, run_id: str) -> None:
        """Before resuming a run: take back what a dead process held, and expired leases.

        A run whose dispatching process is alive is not refused: that process
        may only be waiting for it (a CLI whose chunks go to Celery workers), and
        delivering its pending chunks again is harmless (a claim takes a chunk
        once) where it is not needed, and what the run wants where it is.
        """
        run = self.store.get_run(run_id)
        dispatcher = None if run.finished else run.dispatcher
        if dispatcher and dispatcher != dispatcher_id() and _process_state(dispatcher) == "dead":
            self._reclaim({dispatcher: _died(dispatcher)})
        self.sweep_events_only()

    def _publish(self, event: JobEvent | None, strategy: str) -> None:
        if event is not None and (strategy != "none" or event.terminal):
            self.bus.publish(event)

    # -- recovery ---------------------------------------------------------------------------

    def sweep(self) -> int:
        """Take back chunks whose lease expired and deliver them again; returns how many.

        Only runs of this process's job types are swept (it must be able to
        deliver them again). With the local executor it also re-delivers the
        pending chunks of this process's runs that are not on their way (a
        delivery lost with a broken pool, say), so nothing waits forever; with
        Celery, those whose delivery the broker lost (:meth:`redeliver_lost`).
        """
        requeued, events = self.store.requeue_expired(types=[t.type for t in self.registry])
        for event in events:
            self.bus.publish(event)
        for run_id, no in requeued:
            self.dispatcher.resubmit(run_id, [no])
        pump = getattr(self.executor, "pump", None)
        if pump is not None:
            me = dispatcher_id()
            for run in self.store.active_runs():
                if run.dispatcher == me:
                    pump(run.id, self.store.pending_chunks(run.id))
        return len(requeued) + self.redeliver_lost()

    def redeliver_lost(self) -> int:
        """Send again the chunks whose delivery through a broker was lost; returns how many.

        A broker loses deliveries out of the store's sight: a worker killed
        holding one it had not started (Redis hands it out again only after
        its visibility timeout), a broker restarted without persistence. A
        pending chunk no worker claimed within ``redeliver_seconds`` is sent
        again, unless deliveries still wait in its run's queue (it may be one
        of them). Only executors that can count those (``backlog``) take part:
        the local pool re-delivers its own by ``pump``. A repeated delivery is
        harmless: the claim takes a pending chunk once.
        """
        backlog: Callable[[str], int | None] | None = getattr(self.executor, "backlog", None)
        if backlog is None:
            return 0
        after = self.settings.redeliver_seconds
        overdue = self.store.overdue_runs(after, types=[t.type for t in self.registry])
        lost = [run_id for run_id in overdue if backlog(run_id) == 0]
        chunks = self.store.take_overdue(lost, after)
        for run_id in dict.fromkeys(run_id for run_id, _ in chunks):
            numbers = [no for r, no in chunks if r == run_id]
            log.warning("chunk(s) %s of run %s were not delivered; sending again", numbers, run_id)
            self.dispatcher.resubmit(run_id, numbers)
        return len(chunks)

    def start_sweeper(self, interval: float | None = None) -> Sweeper:
        """Run :meth:`sweep` every ``interval`` seconds on a thread until :meth:`close`.

        The default interval is ``JOBPORT_SWEEP_SECONDS``, else half the lease
        (at most 10 s). Long-lived processes run one: the parent of the local
        pool does so by itself, and so should a server or a worker process.
        Starting it again returns the running one.
        """
        if self._sweeper is not None and self._sweeper.running:
            return self._sweeper
        every = interval or self.settings.sweep_seconds or min(self.settings.lease_seconds / 2, 10)
        self._sweeper = Sweeper(self.sweep, every)
        self._sweeper.start()
        return self._sweeper

    def stop_sweeper(self) -> None:
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.stop()

    def recover(self) -> list[str]:
        """Adopt the runs whose dispatching process on this host died, and deliver them.

        Called by long-lived embedded processes (server, demo) on start-up
        (``Jobport(recover=True)``), so no run stays ``running`` forever after a
        crash or a reboot. The chunks the dead process and its workers held are
        taken back at once, each counted as a failed attempt (a chunk whose input
        kills the process must not loop), and every pending chunk is delivered
        again. Runs dispatched from another host are left to that host and to the
        sweeper; runs of job types this process does not know are left alone.
        Returns the ids of the adopted runs.
        """
        return self._recover(starting=False)

    def _recover(self, *, starting: bool) -> list[str]:
        me = dispatcher_id()
        dead: dict[str, str | None] = {}
        adopted = []
        for run in self.store.active_runs():
            if run.type not in self.registry:
                continue
            if run.dispatcher is not None:
                # At start-up nothing is ours yet: a run naming our own pid was
                # dispatched by an earlier process that had it (a restarted container).
                state = "dead" if starting and run.dispatcher == me else None
                state = state or _process_state(run.dispatcher)
                if state != "dead":
                    continue
                dead[run.dispatcher] = _died(run.dispatcher)
            adopted.append(run.id)
        self._reclaim(dead)
        self.sweep_events_only()
        for run_id in adopted:
            if self.store.get_run(run_id).finished:
                continue  # a chunk the dead process held was out of attempts
            self.store.adopt_run(run_id, me)
            self.dispatcher.resubmit(run_id, self.store.pending_chunks(run_id))
        return adopted

    def _reclaim(self, owners: Mapping[str, str | None]) -> Reclaimed:
        reclaimed = self.store.lose_leases(owners)
        for event in reclaimed.events:
            self.bus.publish(event)
        return reclaimed

    def _lost_workers(
        self, owners: Mapping[str, str | None], deliveries: Collection[tuple[str, int]]
    ) -> Recovered:
        """The local pool lost its workers: take back their chunks (see LocalExecutor).

        Returns what to deliver again: the chunks taken back and the lost
        deliveries, where the run still goes on and the chunk is still pending.
        """
        from jobport.executors.local import Recovered

        reclaimed = self._reclaim(owners)
        wanted = set(deliveries) | set(reclaimed.requeued)
        redeliver = []
        for run_id in sorted({run_id for run_id, _ in wanted}):
            run = self.store.find_run(run_id)
            if run is None or run.finished:
                continue
            pending = self.store.pending_chunks(run_id)
            redeliver += [(run_id, no) for no in pending if (run_id, no) in wanted]
        return Recovered(redeliver, reclaimed.charged)

    def _give_up(self, run_ids: Sequence[str], reason: str) -> None:
        """The local pool cannot deliver these runs' chunks: fail the runs, saying why."""
        for run_id in run_ids:
            event = self.store.fail_run(run_id, reason)
            if event is not None:
                self.bus.publish(event)

    def sweep_events_only(self) -> None:
        """Take back chunks whose lease expired, without delivering them."""
        _, events = self.store.requeue_expired()
        for event in events:
            self.bus.publish(event)

    def close(self) -> None:
        self.stop_sweeper()
        self.executor.close()
        if self._owns_database:
            self.database.dispose()

    def __enter__(self) -> Jobport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Sweeper:
    """A daemon thread calling ``sweep`` every ``interval`` seconds until stopped."""

    def __init__(self, sweep: Callable[[], int], interval: float) -> None:
        self.interval = interval
        self._sweep = sweep
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="jobport-sweeper", daemon=True)

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = 30) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                requeued = self._sweep()
                if requeued:
                    log.warning("sent %d chunk(s) of lost workers or deliveries again", requeued)
            except Exception:
                log.exception("the sweeper failed; trying again in %.1f s", self.interval)


def _process_state(dispatcher: str) -> str:
    """Whether the process ``host:pid`` is "alive" or "dead"; "unknown" on another host."""
    host, _, pid = dispatcher.partition(":")
    pid = pid.split("/", 1)[0]
    if host != dispatcher_id().split(":", 1)[0] or not pid.isdigit():
        return "unknown"
    return "alive" if _alive(int(pid)) else "dead"


def _died(dispatcher: str) -> str:
    return f"the process running it ({dispatcher}) died"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _require_state_tables(database: Engine) -> None:
    """A server database is migrated on purpose, never by whoever connects first: say how."""
    if current(database) is None:
        shown = database.url.render_as_string(hide_password=True)
        raise ConfigurationError(
            f"the database {shown} has no jobport state tables yet: run `jobport db upgrade` "
            "against it first"
        )


def _check_same_database(database: Engine, url: str) -> None:
    """Workers in other processes open ``url``: it must be the given engine's database."""
    given = database.url.render_as_string(hide_password=False)
    if make_url(driver_url(url)).render_as_string(hide_password=False) != given:
        shown = database.url.render_as_string(hide_password=True)
        raise ConfigurationError(
            f"worker processes open JOBPORT_DATABASE_URL, which is not the given engine's "
            f"database ({shown}): set it to that URL, or use the inline executor"
        )


def _ensure_sqlite_folder(url: str) -> None:
    path = url.split("///", 1)[-1].split("?", 1)[0]
    if path and path != ":memory:":
        with contextlib.suppress(OSError):
            Path(path).parent.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def open_jobport(**kwargs: Any) -> Iterator[Jobport]:
    engine = Jobport(**kwargs)
    try:
        yield engine
    finally:
        engine.close()
