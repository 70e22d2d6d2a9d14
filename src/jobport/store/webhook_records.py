"""The plain values the webhooks' storage hands out and takes in (:mod:`jobport.store.webhooks`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from jobport.events import JobEvent

if TYPE_CHECKING:
    from sqlalchemy.engine import RowMapping

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
#: Every delivery status, in the order a delivery passes through them.
DELIVERY_STATUSES: tuple[str, ...] = (PENDING, SUCCEEDED, FAILED)


@dataclass(frozen=True)
class SubscriptionRecord:
    """A webhook subscription; ``secret`` signs its deliveries and is never shown again."""

    id: str
    url: str
    events: tuple[str, ...]
    types: tuple[str, ...]
    owner: str | None
    owner_admin: bool
    after_event: int
    created_at: datetime
    paused_at: datetime | None
    paused_reason: str | None
    failing_since: datetime | None
    secret: str = field(repr=False)

    @classmethod
    def from_row(cls, row: RowMapping) -> SubscriptionRecord:
        return cls(
            id=row["id"],
            url=row["url"],
            events=tuple(row["events"] or ()),
            types=tuple(row["types"] or ()),
            owner=row["owner"],
            owner_admin=bool(row["owner_admin"]),
            after_event=int(row["after_event"]),
            created_at=row["created_at"],
            paused_at=row["paused_at"],
            paused_reason=row["paused_reason"],
            failing_since=row["failing_since"],
            secret=row["secret"],
        )

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


@dataclass(frozen=True)
class NewSubscription:
    id: str
    url: str
    secret: str
    events: tuple[str, ...]
    types: tuple[str, ...]
    owner: str | None
    owner_admin: bool


@dataclass(frozen=True)
class DeliveryRecord:
    """One message for one subscription, and how its last attempt went."""

    id: int
    subscription_id: str
    event_id: int
    run_id: str
    seq: int
    event_type: str
    message_id: str
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    finished_at: datetime | None
    last_attempt_at: datetime | None
    status_code: int | None
    response_ms: float | None
    response_body: str | None
    error: str | None
    body: str

    @classmethod
    def from_row(cls, row: RowMapping) -> DeliveryRecord:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class AttemptRecord:
    attempt: int
    at: datetime
    status_code: int | None
    response_ms: float | None
    response_body: str | None
    error: str | None


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt got: the receiver's status code and answer, or why it got none."""

    status_code: int | None
    response_ms: float | None
    response_body: str | None
    error: str | None

    @property
    def ok(self) -> bool:
        """A 2xx answer; anything else (a redirect too: none is followed) is a failure."""
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class DeliveryClaim:
    """A delivery leased to one sender: what to send, where, and its fencing token."""

    id: int
    token: int
    subscription_id: str
    url: str
    secret: str = field(repr=False)
    message_id: str = ""
    body: str = ""
    #: Attempts made before this one.
    attempts: int = 0
    run_id: str = ""
    seq: int = 0


@dataclass(frozen=True)
class OutboxEvent:
    """An event as the outbox recorded it, with the owner of its run (who may see it)."""

    id: int
    event: JobEvent
    recorded_at: datetime
    run_owner: str | None


@dataclass(frozen=True)
class NewDelivery:
    subscription_id: str
    event_type: str
    message_id: str
    body: str


@dataclass(frozen=True)
class Recorded:
    """What recording an attempt did: whether it counted (the claim was still held), and
    since when its subscription has been failing (None: its last attempt succeeded)."""

    counted: bool
    failing_since: datetime | None


#: Which subscriptions get an event, and the message each gets.
Route = Callable[[OutboxEvent, Sequence[SubscriptionRecord]], list[NewDelivery]]
