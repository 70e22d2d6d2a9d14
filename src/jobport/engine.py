"""The composition root: builds the store, files, bus, executor, dispatcher and supervisor.

:class:`Jobport` is what an application, the CLI and the server hold: it
builds each part from :class:`~jobport.settings.Settings` and wires them
together, and nothing more. What happens to a run lives elsewhere: planning
and queueing in :mod:`jobport.dispatch`, a chunk's work in
:mod:`jobport.worker`, recovery and the user's cancel/resume/retry in
:mod:`jobport.recovery`. Its methods for those are one-line delegations, kept
for the Python API. A worker process builds only its own parts
(:mod:`jobport.wiring`), never an engine.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from jobport.dispatch import StartRequest, dispatcher_id
from jobport.errors import ConfigurationError
from jobport.executors import Executor
from jobport.recovery import Supervisor, Sweeper
from jobport.registry import JobRegistry, load_registry
from jobport.settings import ExecutorName, Settings, default_pool_size
from jobport.store import RunRecord, make_engine
from jobport.store.database import adopt_engine, driver_url
from jobport.store.migrations import current, upgrade_if_behind
from jobport.wiring import Parts
from jobport.worker import WorkerContext

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


#: Most a caller told its run is over waits for the deliveries of the run still in hand.
SETTLE_SECONDS = 10.0


class Jobport:
    """One configured jobport: what every face (CLI, HTTP, Python) talks to."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        registry: JobRegistry | None = None,
        executor: ExecutorName | None = None,
        recover: bool = False,
        supervise: bool | None = None,
        prepare: bool = True,
        database: Engine | None = None,
        warm: bool = True,
        one_chunk_here: bool = False,
    ) -> None:
        """``prepare`` migrates the embedded SQLite and creates missing target tables.

        ``database`` is an application's own SQLAlchemy engine, used instead of
        one made from ``settings.database_url``: the state tables then live
        beside the application's tables, and a chunk's rows commit with its
        bookkeeping in one transaction. Worker processes (the local pool,
        Celery) still open ``database_url``, so it must name the same database.
        The engine stays the application's: :meth:`close` does not dispose it.

        ``recover`` adopts at once the runs a dead process of this host left
        behind (:meth:`Supervisor.recover`). ``supervise`` starts the supervisor's
        sweeper thread (:meth:`start_sweeper`); by default only the local
        executor's does, as the parent of its pool. A long-lived server asks for
        it whatever the executor.

        With ``warm``, a local executor starts its worker processes at once, in
        the background: they take about half a second to import jobport and
        the app, which then overlaps whatever comes before the first run (the
        rest of a server's start, an upload) instead of delaying its chunks.
        Without it, the pool starts when a run first has chunks for it.

        With ``one_chunk_here``, a run that plans to one chunk runs in the thread
        that waits for it (:meth:`wait`; the CLI waits for its run anyway): a
        small file starts no worker process. A run of more chunks goes to the
        pool, and the waiting thread runs chunks too until a worker answers.
        """
        self.settings = settings or Settings()
        registry = registry if registry is not None else load_registry(self.settings.app)
        self._owns_database = database is None
        self.database = (
            make_engine(self.settings.database_url) if database is None else adopt_engine(database)
        )
        if prepare:
            self._prepare(registry)
        parts = Parts.build(self.settings, registry, database=self.database)
        self.parts = parts
        self.registry, self.store, self.files, self.bus = (
            parts.registry,
            parts.store,
            parts.files,
            parts.bus,
        )
        self.executor_name: ExecutorName = executor or self.settings.executor
        if not self._owns_database and self.executor_name != "inline":
            _check_same_database(self.database, self.settings.database_url)
        self.executor = self._build_executor(self.executor_name)
        self.dispatcher = parts.dispatcher(self.executor)
        if one_chunk_here and self.executor_name != "inline":
            from jobport.executors.inline import InlineExecutor

            self.dispatcher.here = InlineExecutor(self.worker_context)
        self.supervisor = Supervisor(
            dispatcher=self.dispatcher, bus=self.bus, settings=self.settings
        )
        if recover:
            self.supervisor.recover(starting=True)
        if supervise or (supervise is None and self.executor_name == "local"):
            # The parent of a process pool is long-lived while its runs last: it
            # takes back the chunks of lost workers and re-delivers lost deliveries.
            self.start_sweeper()
        if warm and self.executor_name == "local":
            self.executor.warm()

    # -- wiring -----------------------------------------------------------------------------

    def _prepare(self, registry: JobRegistry) -> None:
        """Migrate the embedded SQLite (a server database is migrated on purpose) and
        create the job types' missing target tables."""
        if self.database.dialect.name == "sqlite":
            if self._owns_database:
                _ensure_sqlite_folder(self.settings.database_url)
            upgrade_if_behind(self.database)
        else:
            _require_state_tables(self.database)
        if self.settings.create_tables:
            tables = [t.table for t in registry if t.table is not None]
            for table in {id(t): t for t in tables if t is not None}.values():
                table.create(self.database, checkfirst=True)

    def _build_executor(self, name: ExecutorName) -> Executor:
        """The executor ``name``; imported only when chosen (Celery's is an extra)."""
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

            # The supervisor is built after the dispatcher over this executor: reached late.
            return LocalExecutor(
                self.settings,
                workers=self.settings.workers or default_pool_size(),
                on_lost_workers=lambda owners, lost: self.supervisor.lost_workers(owners, lost),
                on_give_up=lambda run_ids, reason: self.supervisor.give_up(run_ids, reason),
            )
        if name == "celery":
            from jobport.executors.celery import CeleryExecutor

            return CeleryExecutor.from_settings(
                self.settings, store=self.store, registry=self.registry
            )
        raise ConfigurationError(f"the '{name}' executor is not available in this version")

    def worker_context(self, owner: str | None = None) -> WorkerContext:
        """What a chunk delivered in this process needs (the inline executor's, tests')."""
        return self.parts.worker_context(owner or dispatcher_id())

    # -- runs (delegations, for the Python API) ---------------------------------------------

    def start(
        self,
        request: StartRequest,
        *,
        path: str | Path | None = None,
        stream: IO[bytes] | None = None,
    ) -> RunRecord:
        """Store the source (if any) under a key of ours, plan the run and queue it."""
        job_type = self.dispatcher.check(request)
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
        """Block until the run is finished, reporting each change of its counters.

        With ``one_chunk_here``, a helper thread first runs the chunks no worker
        takes yet (see :meth:`Dispatcher.work_here`). Not this thread: a Ctrl-C or
        SIGTERM raises here, and must meet this loop, never a transaction that a
        chunk holds open (left half-done, it would keep SQLite locked).
        """
        here = threading.Thread(
            target=self.dispatcher.work_here, args=(run_id,), name="jobport-here", daemon=True
        )
        here.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        last_seq = -1
        while True:
            run = self.store.get_run(run_id)
            if on_update is not None and run.seq != last_seq:
                on_update(run)
                last_seq = run.seq
            if run.finished:
                here.join()
                self.executor.settle(run_id, SETTLE_SECONDS)
                return run
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} did not finish in {timeout} s")
            if here.is_alive():
                here.join(poll_seconds)  # wakes as soon as the chunks run here are done
            else:
                self.executor.wait_for_delivery(poll_seconds)

    def cancel(self, run_id: str) -> RunRecord:
        return self.supervisor.cancel(run_id)

    def resume(self, run_id: str) -> RunRecord:
        """See :meth:`Supervisor.resume`."""
        return self.supervisor.resume(run_id)

    def retry(self, run_id: str) -> RunRecord:
        """See :meth:`Supervisor.retry`."""
        return self.supervisor.retry(run_id)

    def start_sweeper(self, interval: float | None = None) -> Sweeper:
        """Start the supervisor's one sweeper thread (see :meth:`Supervisor.start`)."""
        return self.supervisor.start(interval)

    def stop_sweeper(self) -> None:
        self.supervisor.stop()

    def close(self) -> None:
        self.stop_sweeper()
        self.executor.close()
        if self._owns_database:
            self.database.dispose()

    def __enter__(self) -> Jobport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


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
