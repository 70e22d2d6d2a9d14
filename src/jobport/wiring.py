"""Building the parts every jobport process needs from Settings: database, store, files, bus.

Two kinds of process use them. One that starts runs (a CLI, a server, an
application embedding jobport) gets them from :class:`jobport.engine.Jobport`,
which adds an executor, a dispatcher and the supervisor. A worker process of
the local pool or of Celery needs only what a chunk needs
(:meth:`Parts.worker_context`): it must not plan, dispatch or supervise, and
building a whole engine there would also start what an engine starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from jobport import metrics
from jobport.dispatch import Dispatcher, limits_from
from jobport.events import EventBus
from jobport.files import FileStore
from jobport.registry import JobRegistry, load_registry
from jobport.store import JobStore, make_engine
from jobport.worker import WorkerContext

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from jobport.executors import Executor
    from jobport.settings import Settings


@dataclass(frozen=True)
class Parts:
    """The state database, the store over it, file storage, job types and event bus."""

    settings: Settings
    registry: JobRegistry
    database: Engine
    store: JobStore
    files: FileStore
    bus: EventBus

    @classmethod
    def build(
        cls,
        settings: Settings,
        registry: JobRegistry | None = None,
        *,
        database: Engine | None = None,
    ) -> Parts:
        """The parts for ``settings``; ``registry`` and ``database`` when the caller has them.

        Without ``registry`` the job types are loaded from ``settings.app``;
        without ``database`` an engine is opened on ``settings.database_url``.
        """
        registry = registry if registry is not None else load_registry(settings.app)
        database = database if database is not None else make_engine(settings.database_url)
        return cls(
            settings=settings,
            registry=registry,
            database=database,
            store=JobStore(database),
            files=FileStore.from_settings(settings),
            bus=event_bus(settings, registry),
        )

    def worker_context(self, owner: str) -> WorkerContext:
        """What :func:`jobport.worker.run_chunk` needs, its leases held in ``owner``'s name."""
        return WorkerContext(
            store=self.store,
            files=self.files,
            registry=self.registry,
            bus=self.bus,
            database=self.database,
            owner=owner,
            lease_seconds=self.settings.lease_seconds,
            backoff_seconds=self.settings.retry_backoff_seconds,
            max_stored_failures=self.settings.max_stored_failures,
        )

    def dispatcher(self, executor: Executor) -> Dispatcher:
        """A dispatcher delivering through ``executor``, under the settings' limits."""
        return Dispatcher(
            registry=self.registry,
            store=self.store,
            files=self.files,
            executor=executor,
            database=self.database,
            max_upload_bytes=self.settings.max_upload_bytes,
            limits=limits_from(self.settings),
        )


def event_bus(settings: Settings, registry: JobRegistry) -> EventBus:
    """The app's listeners, and Redis pub/sub when ``redis_url`` is set (other processes)."""
    bus = EventBus(registry.listeners)
    bus.subscribe(metrics.observe_event)  # runs ended, for /metrics (a no-op unless counting)
    if settings.redis_url:
        from jobport.events_redis import RedisPublisher, broadcast_filter

        bus.subscribe(
            RedisPublisher(
                settings.redis_url, should_publish=broadcast_filter(registry.should_broadcast)
            )
        )
    return bus
