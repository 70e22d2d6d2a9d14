"""The composition root: builds the store, files, executor and event bus from Settings."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from jobport.dispatch import Dispatcher, StartRequest, dispatcher_id, limits_from
from jobport.errors import ConfigurationError
from jobport.events import EventBus, JobEvent
from jobport.executors import Executor
from jobport.files import FileStore
from jobport.registry import JobRegistry, load_registry
from jobport.settings import ExecutorName, Settings
from jobport.store import JobStore, RunRecord, make_engine
from jobport.store.migrations import upgrade
from jobport.worker import WorkerContext

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
    ) -> None:
        self.settings = settings or Settings()
        self.registry = registry if registry is not None else load_registry(self.settings.app)
        self.database = make_engine(self.settings.database_url)
        if self.database.dialect.name == "sqlite":
            _ensure_sqlite_folder(self.settings.database_url)
            upgrade(self.database)
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
        if recover:
            self.recover()

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
        """Continue a stopped or interrupted run from its unfinished chunks."""
        self.sweep_events_only()
        chunks = self.store.reopen_chunks(run_id, only_failed=False)
        self.store.adopt_run(run_id, dispatcher_id())
        self.dispatcher.resubmit(run_id, chunks)
        return self.store.get_run(run_id)

    def retry(self, run_id: str) -> RunRecord:
        """Run the failed chunks of a run again (and any never started)."""
        chunks = self.store.reopen_chunks(run_id, only_failed=True)
        self.store.adopt_run(run_id, dispatcher_id())
        self.dispatcher.resubmit(run_id, chunks)
        return self.store.get_run(run_id)

    def _publish(self, event: JobEvent | None, strategy: str) -> None:
        if event is not None and (strategy != "none" or event.terminal):
            self.bus.publish(event)

    # -- recovery ---------------------------------------------------------------------------

    def sweep(self) -> int:
        """Put back chunks whose lease expired and re-deliver them; returns how many."""
        requeued, events = self.store.requeue_expired()
        for event in events:
            self.bus.publish(event)
        for run_id, no in requeued:
            self.dispatcher.resubmit(run_id, [no])
        return len(requeued)

    def recover(self) -> list[str]:
        """Adopt runs whose dispatching process on this host died, and re-deliver them.

        Called by long-lived embedded processes (server, demo) on start-up, so
        no run stays ``running`` forever after a crash or a reboot.
        """
        host = dispatcher_id().split(":", 1)[0]
        adopted = []
        for run in self.store.active_runs():
            owner_host, _, pid = (run.dispatcher or "").partition(":")
            if owner_host == host and pid.isdigit() and _alive(int(pid)):
                continue
            if owner_host == host:
                self.store.expire_leases_of(f"{owner_host}:{pid}/")
            adopted.append(run.id)
        self.store.requeue_expired()
        for run_id in adopted:
            self.store.adopt_run(run_id, dispatcher_id())
            self.dispatcher.resubmit(run_id, self.store.pending_chunks(run_id))
        return adopted

    def _lost_workers(self, owner_prefix: str) -> list[tuple[str, int]]:
        self.store.expire_leases_of(owner_prefix)
        self.sweep_events_only()
        me = dispatcher_id()
        return [
            (run.id, no)
            for run in self.store.active_runs()
            if run.dispatcher == me
            for no in self.store.pending_chunks(run.id)
        ]

    def sweep_events_only(self) -> None:
        _, events = self.store.requeue_expired()
        for event in events:
            self.bus.publish(event)

    def close(self) -> None:
        self.executor.close()
        self.database.dispose()

    def __enter__(self) -> Jobport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
