"""Publishing run events to Redis, so every API process can stream every run.

A worker (or any process) whose settings name ``JOBPORT_REDIS_URL`` subscribes
a :class:`RedisPublisher` to its event bus. Each event is published twice,
as ``JobEvent.to_dict()`` in JSON plus ``committed_at``:

- on ``jobport:runs:{run_id}``, for subscribers of one run;
- on ``jobport:events``, for subscribers of every run (dashboards, fan-out).

Pub/sub is fire-and-forget: a subscriber that was not listening misses the
message. The events of broadcast types are also kept in the state database
(the ``job_events`` outbox), which is what a subscriber catches up from; the
``seq`` field of the payload orders events of one run and lets a subscriber
drop duplicates.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from jobport.errors import MissingExtraError, UnknownJobType
from jobport.events import JobEvent

log = logging.getLogger(__name__)

#: Every event of every run.
EVENTS_CHANNEL = "jobport:events"
#: The events of one run: ``RUN_CHANNEL.format(run_id=...)``.
RUN_CHANNEL = "jobport:runs:{run_id}"


def run_channel(run_id: str) -> str:
    """The channel carrying the events of one run."""
    return RUN_CHANNEL.format(run_id=run_id)


def encode(event: JobEvent, committed_at: datetime | None = None) -> str:
    """The message published for ``event``: its ``to_dict()`` as compact JSON.

    One field is added, ``committed_at`` (ISO 8601, UTC: when the publisher
    saw the commit), as :mod:`jobport.http.feeds` expects; drop it before
    building a :class:`JobEvent` from the payload.
    """
    payload = event.to_dict()
    payload["committed_at"] = (committed_at or datetime.now(UTC)).isoformat()
    return json.dumps(payload, separators=(",", ":"))


class RedisPublisher:
    """An event-bus listener that publishes each event to Redis.

    ``should_publish`` filters events (the engine passes the registry's
    ``broadcast`` flag of the event's type). Redis being down costs a short
    timeout per event and a logged error, never the work that committed.
    """

    def __init__(
        self,
        url: str,
        *,
        should_publish: Callable[[JobEvent], bool] | None = None,
        timeout_seconds: float = 2.0,
        client: Any = None,
    ) -> None:
        if client is None:
            try:
                import redis
            except ImportError as exc:
                raise MissingExtraError("publishing events to Redis", "redis") from exc
            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=timeout_seconds,
                socket_timeout=timeout_seconds,
            )
        self._client = client
        self._should_publish = should_publish

    def __call__(self, event: JobEvent) -> None:
        if self._should_publish is not None and not self._should_publish(event):
            return
        message = encode(event)
        pipe = self._client.pipeline(transaction=False)
        pipe.publish(run_channel(event.run_id), message)
        pipe.publish(EVENTS_CHANNEL, message)
        pipe.execute()

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"RedisPublisher({self._client!r})"


def broadcast_filter(is_broadcast: Callable[[str], bool]) -> Callable[[JobEvent], bool]:
    """Publish only events of types whose ``broadcast`` is on (unknown types: published)."""

    def should_publish(event: JobEvent) -> bool:
        try:
            return is_broadcast(event.type)
        except UnknownJobType:
            return True

    return should_publish


__all__ = [
    "EVENTS_CHANNEL",
    "RUN_CHANNEL",
    "RedisPublisher",
    "broadcast_filter",
    "encode",
    "run_channel",
]
