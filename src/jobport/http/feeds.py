"""How run events reach the subscribers of one API process.

Chunks commit in worker processes (a local pool, Celery workers on other
machines), so the API process learns of events from outside. An
:class:`EventFeed` brings them in with ONE background task per process and
fans them out to in-process subscribers through asyncio queues: the number
of WebSocket/SSE clients never multiplies the load on the database or on
Redis.

Two sources:

- :class:`OutboxFeed` (the embedded default, nothing to install) tails the
  store's ``job_events`` outbox, which each chunk commit writes in the same
  transaction as its rows, so an event exists exactly when its data does.
  It polls only while someone is subscribed; otherwise it just keeps its
  cursor current once a second.
- :class:`RedisFeed` (``JOBPORT_REDIS_URL``) subscribes to the Redis pub/sub
  channel every engine with that setting publishes its events to
  (:class:`jobport.events_redis.RedisPublisher`, on each process's bus).

Both also take events published on this process's own :class:`EventBus`
(runs executed inline, cancellations), which is the only way events of
``broadcast=False`` types are seen: the store does not record them.

Delivery to a subscriber is at-most-once and may reorder across runs; the
per-run ``seq`` lets :mod:`jobport.http.live` drop duplicates and fill gaps
from the store, so what a client sees is exactly the run's event sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from jobport.errors import MissingExtraError
from jobport.events import JobEvent
from jobport.store import JobStore
from jobport.store.jobstore import event_from_dict

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The Redis channel carrying every run's events (``jobport.events_redis.EVENTS_CHANNEL``).
REDIS_CHANNEL = "jobport:events"
#: Events a slow subscriber may have queued before it is marked as lagging.
QUEUE_SIZE = 1_000


@dataclass(frozen=True)
class FeedEvent:
    """An event as it reached this process; ``committed_at`` when the source knows it."""

    event: JobEvent
    committed_at: datetime | None = None


class Subscription:
    """One subscriber's queue for one run.

    A subscriber that does not keep up is not allowed to grow memory: once
    its queue is full, further events are dropped and ``lagging`` is set; the
    reader then catches up from the store (events carry ``seq``).
    """

    def __init__(self, feed: EventFeed, run_id: str, maxsize: int = QUEUE_SIZE) -> None:
        self.feed = feed
        self.run_id = run_id
        self.queue: asyncio.Queue[FeedEvent] = asyncio.Queue(maxsize)
        self.lagging = False

    def offer(self, item: FeedEvent) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.lagging = True

    async def next(self, timeout: float) -> FeedEvent | None:
        """The next event, or None after ``timeout`` seconds without one."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    def close(self) -> None:
        self.feed.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class EventFeed(ABC):
    """Fan-out of run events to in-process subscribers; subclasses bring the events in.

    The background task starts lazily on the first subscription, in the
    running event loop (so an app mounted anywhere needs no start-up hook),
    and is restarted if that loop changed. :meth:`aclose` stops it.
    """

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._ready: asyncio.Event | None = None
        #: Subscriptions ever made: lets a source notice one arrived while it was busy.
        self._subscribed_total = 0

    # -- subscribers ------------------------------------------------------------------------

    def subscribe(self, run_id: str) -> Subscription:
        """Start receiving ``run_id``'s events (call from the event loop)."""
        self._ensure_running()
        subscription = Subscription(self, run_id)
        self._subscribers.setdefault(run_id, set()).add(subscription)
        self._subscribed_total += 1
        if self._wakeup is not None:
            self._wakeup.set()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.run_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.run_id]

    async def wait_ready(self, timeout: float = 5.0) -> bool:
        """Wait until the source receives events (its cursor set, its channel subscribed).

        A reader subscribes, waits for this, and only then reads the run's
        snapshot: every event committed after the snapshot then reaches it.
        False if the source is not ready in time (the reader then relies on
        its catch-up from the store).
        """
        self._ensure_running()
        assert self._ready is not None
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def _set_ready(self) -> None:
        if self._ready is not None:
            self._ready.set()

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    def deliver(self, item: FeedEvent) -> None:
        """Hand an event to the subscribers of its run (on the event loop)."""
        for subscription in list(self._subscribers.get(item.event.run_id, ())):
            subscription.offer(item)

    def bus_listener(self, event: JobEvent) -> None:
        """An :class:`EventBus` listener: events published in this process, from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed() or event.run_id not in self._subscribers:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self.deliver, FeedEvent(event))

    # -- the background task ----------------------------------------------------------------

    def _ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is not None and self._loop is loop and not self._task.done():
            return
        self._loop = loop
        self._wakeup = asyncio.Event()
        self._ready = asyncio.Event()
        self._task = loop.create_task(self._supervise(), name=f"jobport-{type(self).__name__}")

    async def _supervise(self) -> None:
        """Run the source; if it fails (database or Redis away), log and start it again."""
        delay = 0.5
        while True:
            try:
                await self._run()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed; restarting in %.1f s", type(self).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    @abstractmethod
    async def _run(self) -> None:
        """Bring events in and call :meth:`deliver` for each, until cancelled."""

    async def _idle(self, seconds: float) -> None:
        """Sleep, but wake up at once when a first subscriber arrives."""
        assert self._wakeup is not None
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await task
        await self._close_source()

    async def _close_source(self) -> None:
        return None


class OutboxFeed(EventFeed):
    """Tails the store's ``job_events`` outbox: no service beside the database.

    While anyone is subscribed it reads new events every ``interval`` seconds
    (one indexed range read, whatever the number of clients); while nobody is,
    it only moves its cursor to the newest event every ``idle_interval``
    seconds, so a new subscriber never gets a backlog. Store calls run on one
    dedicated thread, so a busy request thread pool never delays events.
    """

    def __init__(
        self,
        store: JobStore,
        *,
        interval: float = 0.05,
        idle_interval: float = 1.0,
        batch: int = 500,
    ) -> None:
        super().__init__()
        self.store = store
        self.interval = interval
        self.idle_interval = idle_interval
        self.batch = batch
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="jobport-outbox")

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, function, *args)

    async def _run(self) -> None:
        cursor = await self._call(self.store.latest_event_id)
        self._set_ready()
        while True:
            if not self._subscribers:
                await self._idle(self.idle_interval)
                if not self._subscribers:
                    before = self._subscribed_total
                    latest = await self._call(self.store.latest_event_id)
                    # Someone subscribed during the read: keep the older cursor, so
                    # nothing committed after their snapshot is skipped.
                    if self._subscribed_total == before:
                        cursor = latest
                continue
            rows = await self._call(self.store.outbox_after, cursor, self.batch)
            for event_id, event, created_at in rows:
                cursor = event_id
                self.deliver(FeedEvent(event, created_at))
            if len(rows) < self.batch:
                await asyncio.sleep(self.interval)

    async def _close_source(self) -> None:
        self._thread.shutdown(wait=False)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="jobport-outbox")


class RedisFeed(EventFeed):
    """Subscribes to the Redis channel the engines' ``RedisPublisher`` listeners publish to.

    One pub/sub connection per process. Redis pub/sub does not keep
    messages for absent subscribers; a message lost while the connection is
    down is recovered by the readers from the store (see :mod:`jobport.http.live`).
    """

    def __init__(self, url: str, *, channel: str = REDIS_CHANNEL) -> None:
        super().__init__()
        try:
            import redis.asyncio  # noqa: F401
        except ImportError:
            raise MissingExtraError("Redis pub/sub events", "redis") from None
        self.url = url
        self.channel = channel

    async def _run(self) -> None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self.url)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            async for message in pubsub.listen():
                if message.get("type") == "subscribe":
                    self._set_ready()  # the server confirmed: publishes from now on reach us
                if message.get("type") != "message":
                    continue
                item = decode_message(message["data"])
                if item is not None:
                    self.deliver(item)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            with contextlib.suppress(Exception):
                await client.aclose()


def decode_message(data: bytes | str) -> FeedEvent | None:
    try:
        payload = json.loads(data)
        stamp = payload.pop("committed_at", None)
        committed_at = datetime.fromisoformat(stamp) if stamp else None
        return FeedEvent(event_from_dict(payload), committed_at)
    except (ValueError, TypeError, KeyError):
        log.warning("ignoring a malformed event message on the Redis channel")
        return None


def feed_for(store: JobStore, redis_url: str | None) -> EventFeed:
    """The feed of the configured deployment: Redis when given, else the outbox."""
    if redis_url:
        return RedisFeed(redis_url)
    return OutboxFeed(store)
