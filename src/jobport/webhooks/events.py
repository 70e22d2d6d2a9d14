"""Which run events a webhook carries, under which names, and what its message says.

jobport's run events (:mod:`jobport.events`) become webhook event types in the
dotted style receivers expect; the message follows the Standard Webhooks
payload shape (``type``, ``timestamp``, ``data``). Who gets an event is one rule
(:func:`wants`): the types it asked for, the job types it asked for, and only
runs its owner may see (:meth:`jobport.principal.Principal.can_see`, the rule
every face follows).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from jobport.events import JobEvent
from jobport.lifecycle import RunStatus
from jobport.principal import Principal
from jobport.store.webhooks import NewDelivery, OutboxEvent, SubscriptionRecord

RUN_PROGRESS = "run.progress"
RUN_COMPLETED = "run.completed"
RUN_FAILED = "run.failed"
RUN_CANCELLED = "run.cancelled"

#: Every event type a subscription may ask for, and what each tells of.
EVENT_TYPES: dict[str, str] = {
    RUN_PROGRESS: "a chunk of a run committed (rows so far, speed, time left)",
    RUN_COMPLETED: "a run completed (status completed or completed_with_errors)",
    RUN_FAILED: "a run failed (a refused file, a chunk out of attempts)",
    RUN_CANCELLED: "a run was cancelled",
}
#: What a subscription gets when it names no event type: how each run ended.
DEFAULT_EVENT_TYPES: tuple[str, ...] = (RUN_COMPLETED, RUN_FAILED, RUN_CANCELLED)


def event_type(event: JobEvent) -> str:
    """The webhook event type of a run event: progress, or how the run ended (by its status,
    whichever event said it)."""
    if not event.terminal:
        return RUN_PROGRESS
    if event.status == RunStatus.CANCELLED:
        return RUN_CANCELLED
    return RUN_FAILED if event.status == RunStatus.FAILED else RUN_COMPLETED


def wants(
    subscription: SubscriptionRecord, found: OutboxEvent, *, since_added: bool = True
) -> bool:
    """Whether ``subscription`` is told of an event: one of its event types, of one of its
    job types (all when it names none), of a run its owner may see, and (``since_added``)
    recorded after it was added."""
    if since_added and found.id <= subscription.after_event:
        return False
    if event_type(found.event) not in subscription.events:
        return False
    if subscription.types and found.event.type not in subscription.types:
        return False
    return owner_of(subscription).can_see(found.run_owner)


def owner_of(subscription: SubscriptionRecord) -> Principal:
    """Whose eyes a subscription sees runs with (its owner's, as they were when it was added)."""
    return Principal(subscription.owner or "", is_admin=subscription.owner_admin)


def route(found: OutboxEvent, subscriptions: Sequence[SubscriptionRecord]) -> list[NewDelivery]:
    """The deliveries of an event recorded in the outbox: one per subscription that wants it."""
    return _deliveries(found, [s for s in subscriptions if wants(s, found)])


def replay_route(
    found: OutboxEvent, subscriptions: Sequence[SubscriptionRecord]
) -> list[NewDelivery]:
    """As :func:`route`, for a replay asked for: events from before a subscription too."""
    return _deliveries(found, [s for s in subscriptions if wants(s, found, since_added=False)])


def _deliveries(
    found: OutboxEvent, subscriptions: Sequence[SubscriptionRecord]
) -> list[NewDelivery]:
    if not subscriptions:
        return []
    kind = event_type(found.event)
    body = message_body(found.event, found.recorded_at)
    return [NewDelivery(s.id, kind, new_message_id(), body) for s in subscriptions]


def message(event: JobEvent, recorded_at: datetime) -> dict[str, Any]:
    """The message of an event: its type, when it was recorded, and the run's counters
    after it (``seq`` orders a run's messages; a receiver may drop one it has seen).

    ``data`` carries every field of the event (:class:`jobport.events.JobEvent`), its
    job type as ``job_type``: a field added to events reaches receivers too.
    """
    fields = event.to_dict()
    fields.pop("event", None)
    job_type = fields.pop("type")
    data = {"run_id": event.run_id, "seq": event.seq, "job_type": job_type, **fields}
    return {
        "type": event_type(event),
        "timestamp": recorded_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": data,
    }


def message_body(event: JobEvent, recorded_at: datetime) -> str:
    """The message as sent and signed: compact JSON, the same bytes on every attempt."""
    return json.dumps(message(event, recorded_at), separators=(",", ":"), ensure_ascii=False)


def new_message_id() -> str:
    """A ``webhook-id``: unique per message, kept by its retries and replays."""
    return f"msg_{uuid.uuid4().hex}"


__all__ = [
    "DEFAULT_EVENT_TYPES",
    "EVENT_TYPES",
    "RUN_CANCELLED",
    "RUN_COMPLETED",
    "RUN_FAILED",
    "RUN_PROGRESS",
    "event_type",
    "message",
    "message_body",
    "new_message_id",
    "owner_of",
    "replay_route",
    "route",
    "wants",
]
