"""Chunk deliveries through Celery, on Redis or RabbitMQ, to ``jobport worker`` processes.

A delivery is only "run chunk n of run r": one task, ``jobport.run_chunk``,
calls the generic :func:`jobport.worker.run_chunk` with the parts a pool
process builds for itself (:class:`jobport.wiring.Parts`). The broker is not
trusted for exactly-once: tasks are acknowledged late and rejected when
their worker process is lost (so a delivery is repeated rather than lost),
and the store's leases and fencing tokens make a repeated delivery harmless.
A delivery that found its chunk still leased by a worker that has since died
ends at once; the supervisor's sweeper thread (:mod:`jobport.recovery`) in
the main process of every worker puts such chunks back when their lease runs
out and sends them again. A delivery the broker lost (reserved by a killed
worker, or gone with a broker restarted without persistence) leaves its
chunk pending: the sweeper sends it again once nobody claimed it for
``JOBPORT_REDELIVER_SECONDS`` while nothing waits in its queue.

Routing: a run's chunks go to one queue, chosen by (first match)
``JOBPORT_TYPE_QUEUES[type]``, the job type's own ``queue``,
``JOBPORT_KIND_QUEUES[kind]``, then ``JOBPORT_CELERY_QUEUE``.

The Celery app is built by :func:`create_app` from a :class:`Settings`; no
module-level app exists except the lazy one ``celery -A`` needs
(:mod:`jobport.executors.celery_app`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from jobport.dispatch import dispatcher_id
from jobport.errors import ConfigurationError, MissingExtraError
from jobport.executors.base import ExecutorBase
from jobport.recovery import Supervisor, Sweeper, sweep_interval
from jobport.wiring import Parts

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from jobport.registry import JobRegistry
    from jobport.settings import Settings
    from jobport.store import JobStore
    from jobport.worker import WorkerContext

log = logging.getLogger(__name__)

TASK_NAME = "jobport.run_chunk"
#: Longest wait before re-delivering a chunk whose delivery hit an infrastructure error.
MAX_INFRA_BACKOFF_SECONDS = 60.0


def _celery() -> Any:
    try:
        import celery  # type: ignore[import-untyped]
    except ImportError as exc:
        raise MissingExtraError("the celery executor", "celery") from exc
    return celery


# -- routing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRouter:
    """Which Celery queue the chunks of a job type go to."""

    settings: Settings
    registry: JobRegistry

    def queue_for(self, type: str, kind: str) -> str:
        if type in self.settings.type_queues:
            return self.settings.type_queues[type]
        if type in self.registry:
            own = self.registry.get(type).queue
            if own:
                return own
        return self.settings.kind_queues.get(kind) or self.settings.celery_queue

    def queues(self) -> list[str]:
        """Every queue this app routes to, the default first: what a worker consumes."""
        names = [self.settings.celery_queue]
        names += [t.queue for t in self.registry if t.queue]
        names += list(self.settings.type_queues.values())
        names += list(self.settings.kind_queues.values())
        return list(dict.fromkeys(names))


# -- the app ----------------------------------------------------------------------------------


def create_app(settings: Settings, *, registry: JobRegistry | None = None) -> Any:
    """A Celery app for ``settings``: the chunk task, the sweeper, late acks.

    ``registry`` is the app's job types when the caller already loaded them
    (they are loaded from ``settings.app`` otherwise, in each worker process).
    """
    celery = _celery()
    if not settings.broker_url:
        raise ConfigurationError(
            "the celery executor needs a broker: set JOBPORT_BROKER_URL "
            "(redis://host:6379/0 or amqp://user:password@host:5672//)"
        )
    app = celery.Celery("jobport", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=settings.celery_queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_track_started=False,
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        # Redis only: a delivery not acknowledged within this is handed out again.
        broker_transport_options={"visibility_timeout": settings.celery_visibility_timeout},
    )
    runtime = WorkerRuntime(settings, registry)
    app.jobport_runtime = runtime

    @app.task(  # type: ignore[untyped-decorator]
        name=TASK_NAME,
        shared=False,  # this app's task only: never added to apps created later
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        ignore_result=True,
        max_retries=None,
    )
    def run_chunk_task(task: Any, run_id: str, no: int) -> None:
        runtime.deliver(task, run_id, no)

    app.steps["worker"].add(_sweeper_step(runtime))

    def warm_up(**_: Any) -> None:
        """Build a new pool process's engine before its first chunk arrives."""
        if celery.current_app._get_current_object() is not app:
            return  # a pool process of another app
        try:
            runtime.context()
        except Exception:
            log.exception("could not set up the worker process; its first chunk will retry")

    # Held by the app, connected weakly: the receiver goes away with the app.
    app.jobport_warm_up = warm_up
    celery.signals.worker_process_init.connect(warm_up)
    return app


class WorkerRuntime:
    """What a worker process needs, built on first use in that process (never across a fork).

    A pool process gets the parts a chunk needs (:meth:`context`); the main
    process gets the supervisor its sweeper thread runs (:meth:`sweep`).
    """

    def __init__(self, settings: Settings, registry: JobRegistry | None = None) -> None:
        self.settings = settings
        self._registry = registry
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._context: WorkerContext | None = None
        self._supervisor: Supervisor | None = None
        self._supervisor_database: Engine | None = None

    def context(self) -> WorkerContext:
        with self._lock:
            if self._context is None or self._pid != os.getpid():
                parts = Parts.build(self.settings, self._registry)
                self._context = parts.worker_context(owner=f"{dispatcher_id()}/celery")
                self._pid = os.getpid()
                log.info("worker process %s ready (%d job types)", self._pid, len(parts.registry))
            return self._context

    def router(self) -> QueueRouter:
        return QueueRouter(self.settings, self.context().registry)

    def deliver(self, task: Any, run_id: str, no: int) -> None:
        """Run one delivery; ask the broker to deliver again when the chunk says so."""
        from jobport.worker import run_chunk

        try:
            ctx = self.context()
            result = run_chunk(ctx, run_id, no)
        except Exception as exc:
            # The store or storage is unreachable: nothing was committed, try again later.
            delay = min(2.0**task.request.retries, MAX_INFRA_BACKOFF_SECONDS)
            log.error(
                "delivery of chunk %s of run %s failed (%r); again in %.0fs", no, run_id, exc, delay
            )
            raise task.retry(exc=exc, countdown=delay) from exc
        if result.retry_in is not None:
            queue = self._queue_of(task, run_id)
            task.apply_async((run_id, no), countdown=max(result.retry_in, 0.0), queue=queue)

    def _queue_of(self, task: Any, run_id: str) -> str:
        info = getattr(task.request, "delivery_info", None) or {}
        queue = info.get("routing_key")
        if isinstance(queue, str) and queue:
            return queue
        run = self.context().store.get_run(run_id)
        return self.router().queue_for(run.type, run.kind)

    # -- the supervisor ---------------------------------------------------------------------

    @property
    def sweep_seconds(self) -> float:
        return sweep_interval(self.settings)

    def sweep(self) -> int:
        """One sweep of the supervisor, built on first use (the store may be down at start).

        It puts back chunks whose worker was lost (lease expired) and sends
        again those whose delivery was lost (never claimed), through an executor
        of its own.
        """
        with self._lock:
            if self._supervisor is None:
                self._supervisor = self._build_supervisor()
            supervisor = self._supervisor
        return supervisor.sweep()

    def close_supervisor(self) -> None:
        with self._lock:
            supervisor, self._supervisor = self._supervisor, None
            database, self._supervisor_database = self._supervisor_database, None
        if supervisor is not None:
            supervisor.dispatcher.executor.close()
        if database is not None:
            database.dispose()

    def _build_supervisor(self) -> Supervisor:
        parts = Parts.build(self.settings, self._registry)
        self._supervisor_database = parts.database
        # Pool processes forked later must not share this process's connections.
        os.register_at_fork(after_in_child=lambda: parts.database.dispose(close=False))
        executor = CeleryExecutor.from_settings(
            self.settings, store=parts.store, registry=parts.registry
        )
        return Supervisor(
            dispatcher=parts.dispatcher(executor), bus=parts.bus, settings=self.settings
        )


def _sweeper_step(runtime: WorkerRuntime) -> type:
    step: Any = _celery().bootsteps.StartStopStep

    class SweeperStep(step):  # type: ignore[misc]
        """Runs the supervisor's sweeper thread in the worker's main process while it runs."""

        label = "jobport sweeper"
        requires: ClassVar[frozenset[str]] = frozenset({"celery.worker.components:Pool"})

        def __init__(self, parent: Any, **kwargs: Any) -> None:
            super().__init__(parent, **kwargs)
            self._sweeper: Sweeper | None = None

        def start(self, parent: Any) -> None:
            self._sweeper = Sweeper(runtime.sweep, runtime.sweep_seconds)
            self._sweeper.start()

        def stop(self, parent: Any) -> None:
            if self._sweeper is not None:
                self._sweeper.stop(timeout=10)
            runtime.close_supervisor()

    SweeperStep.__name__ = "Sweeper"
    return SweeperStep


# -- the executor -----------------------------------------------------------------------------


class CeleryExecutor(ExecutorBase):
    """Sends one ``jobport.run_chunk`` task per chunk to the run's queue."""

    counts_backlog = True

    def __init__(self, app: Any, *, route: Callable[[str], str]) -> None:
        self.app = app
        self._route = route

    @classmethod
    def from_settings(
        cls, settings: Settings, *, store: JobStore, registry: JobRegistry
    ) -> CeleryExecutor:
        router = QueueRouter(settings, registry)

        def route(run_id: str) -> str:
            run = store.get_run(run_id)
            return router.queue_for(run.type, run.kind)

        return cls(create_app(settings, registry=registry), route=route)

    def submit(self, run_id: str, chunks: Sequence[int]) -> None:
        if not chunks:
            return
        queue = self._route(run_id)
        # A connection of this call, closed at its end (pooled ones are only dropped at
        # close, leaving their sockets to the garbage collector).
        with self.app.connection_for_write() as connection:
            for no in chunks:
                self.app.send_task(TASK_NAME, args=(run_id, no), queue=queue, connection=connection)

    def backlog(self, run_id: str) -> int | None:
        """Deliveries waiting in the run's queue for a worker; None when the broker cannot say.

        Deliveries a worker holds (started, or waiting for their countdown) are
        not counted, nor are those a killed worker had reserved: so when a chunk
        stays unclaimed while nothing waits, its delivery was lost (see
        :meth:`jobport.recovery.Supervisor.redeliver_lost`).
        """
        queue = self._route(run_id)
        try:
            with self.app.connection_for_read() as connection:
                try:
                    declared = connection.default_channel.queue_declare(queue=queue, passive=True)
                except connection.channel_errors:
                    return 0  # no such queue (Redis drops an empty one): nothing waits
                return int(declared.message_count)
        except Exception as exc:
            log.warning("could not count the deliveries waiting in queue %s: %r", queue, exc)
            return None

    def close(self) -> None:
        self.app.close()


__all__ = ["TASK_NAME", "CeleryExecutor", "QueueRouter", "WorkerRuntime", "create_app"]
