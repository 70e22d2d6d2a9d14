"""The webhooks' use cases, for every face: subscriptions, the deliveries log, replays.

The CLI, the API and the dashboard reach these through :func:`webhooks_of` the
:class:`jobport.service.JobService` they hold, saying who asks. This module is
part of the application layer, beside ``service.py``. The rules live here once:

- a subscription belongs to the principal who added it; admins see and manage
  every subscription, anyone else their own, and another user's answers
  :class:`WebhookNotFound` exactly as a missing one does (ids cannot be probed);
- a subscription is told only of the runs its owner may see
  (:func:`jobport.webhooks.events.wants`);
- a URL must pass :func:`jobport.webhooks.addresses.check_url`;
- the signing secret is made here (``whsec_`` and 32 random bytes in base64, as
  the Standard Webhooks specification asks) and handed out once, on creation.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jobport.errors import InputError, JobportError, RunNotFound, listed, shown
from jobport.principal import Principal
from jobport.store.section import utcnow
from jobport.store.webhooks import (
    DELIVERY_STATUSES,
    AttemptRecord,
    DeliveryRecord,
    NewSubscription,
    SubscriptionRecord,
    WebhookStore,
)
from jobport.webhooks.addresses import check_url
from jobport.webhooks.deliverer import Clock
from jobport.webhooks.events import DEFAULT_EVENT_TYPES, EVENT_TYPES, replay_route

if TYPE_CHECKING:
    from jobport.engine import Jobport
    from jobport.registry import JobRegistry
    from jobport.service import JobService
    from jobport.settings import Settings
    from jobport.store import JobStore

#: Most subscriptions one owner may have (each event is matched against all of them).
MAX_SUBSCRIPTIONS_PER_OWNER = 100
#: The longest reason a pause keeps.
MAX_REASON_CHARS = 500


class WebhookNotFound(JobportError):
    status_code = 404
    title = "Webhook not found"

    def __init__(self, given: str) -> None:
        super().__init__(f"no webhook subscription '{shown(given)}'")


class DeliveryNotFound(JobportError):
    status_code = 404
    title = "Delivery not found"

    def __init__(self, subscription_id: str, delivery_id: int) -> None:
        super().__init__(f"no delivery {delivery_id} of webhook subscription {subscription_id}")


@dataclass(frozen=True)
class DeliveryDetail:
    delivery: DeliveryRecord
    attempts: list[AttemptRecord]


def new_secret() -> str:
    """A signing secret as Standard Webhooks writes one: ``whsec_`` + base64 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


class WebhookService:
    """Subscriptions and deliveries, with who may see and change which."""

    def __init__(
        self,
        *,
        store: WebhookStore,
        runs: JobStore,
        registry: JobRegistry,
        settings: Settings,
        clock: Clock = utcnow,
    ) -> None:
        self.store = store
        self.runs = runs
        self.registry = registry
        self.settings = settings
        self.clock = clock

    @classmethod
    def of(cls, engine: Jobport) -> WebhookService:
        return cls(
            store=WebhookStore(engine.store.engine),
            runs=engine.store,
            registry=engine.registry,
            settings=engine.settings,
        )

    # -- subscriptions ----------------------------------------------------------------------

    def add(
        self, who: Principal, url: str, *, events: Sequence[str] = (), types: Sequence[str] = ()
    ) -> SubscriptionRecord:
        """Subscribe ``url`` to ``events`` (default: how runs end) of runs of ``types`` (default:
        every type) that ``who`` may see. The record carries the secret: show it this once."""
        url = check_url(url, allow_private=self.settings.webhooks_allow_private)
        chosen_events = self._event_types(events)
        chosen_types = self._job_types(types)
        if len(self.store.list_subscriptions(who.owner or "")) >= MAX_SUBSCRIPTIONS_PER_OWNER:
            raise InputError(
                f"you have {MAX_SUBSCRIPTIONS_PER_OWNER} webhook subscriptions already: "
                "remove one first"
            )
        new = NewSubscription(
            id=str(uuid.uuid4()),
            url=url,
            secret=new_secret(),
            events=chosen_events,
            types=chosen_types,
            owner=who.owner,
            owner_admin=who.is_admin,
        )
        return self.store.add_subscription(new, now=self.clock())

    def _event_types(self, events: Sequence[str]) -> tuple[str, ...]:
        chosen = tuple(dict.fromkeys(e.strip() for e in events if e.strip()))
        unknown = [e for e in chosen if e not in EVENT_TYPES]
        if unknown:
            raise InputError(
                f"unknown event type(s) {listed(unknown)}; use one or more of: "
                f"{', '.join(EVENT_TYPES)}"
            )
        return chosen or DEFAULT_EVENT_TYPES

    def _job_types(self, types: Sequence[str]) -> tuple[str, ...]:
        chosen = tuple(dict.fromkeys(t.strip() for t in types if t.strip()))
        unknown = [t for t in chosen if t not in self.registry]
        if unknown:
            known = listed(sorted(t.type for t in self.registry), most=50) or "none registered"
            raise InputError(f"unknown job type(s) {listed(unknown)}; known types: {known}")
        return chosen

    def subscriptions(self, who: Principal) -> list[SubscriptionRecord]:
        """Every subscription for an admin; anyone else's own, oldest first."""
        return self.store.list_subscriptions(None if who.is_admin else who.owner or "")

    def subscription(self, who: Principal, given: str) -> SubscriptionRecord:
        """The subscription ``given`` names (its id, or a unique start of it), if ``who``
        may see it; otherwise the very error a missing one gives."""
        found = self.store.find_subscription(given)
        if found is not None:
            if who.can_see(found.owner):
                return found
            raise WebhookNotFound(given)
        matches = [s for s in self.subscriptions(who) if given and s.id.startswith(given)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise InputError(f"'{shown(given)}' starts the ids of several subscriptions")
        raise WebhookNotFound(given)

    def pause(self, who: Principal, given: str, reason: str | None = None) -> SubscriptionRecord:
        """Stop sending (messages keep being recorded, and wait for :meth:`resume`)."""
        found = self.subscription(who, given)
        by = f"paused by {who.name or 'the operator'}"
        text = f"{by}: {reason.strip()}" if reason and reason.strip() else by
        self.store.pause_subscription(found.id, text[:MAX_REASON_CHARS], now=self.clock())
        return self.subscription(who, found.id)

    def resume(self, who: Principal, given: str) -> SubscriptionRecord:
        """Send again, what waited first (in each run's order)."""
        found = self.subscription(who, given)
        self.store.resume_subscription(found.id, now=self.clock())
        return self.subscription(who, found.id)

    def remove(self, who: Principal, given: str) -> SubscriptionRecord:
        """Delete a subscription with its deliveries log."""
        found = self.subscription(who, given)
        self.store.remove_subscription(found.id)
        return found

    # -- the deliveries log -----------------------------------------------------------------

    def deliveries(
        self,
        who: Principal,
        given: str,
        *,
        status: str | None = None,
        run_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[DeliveryRecord], int]:
        """A subscription's deliveries, newest first, and how many match."""
        found = self.subscription(who, given)
        if status is not None and status not in DELIVERY_STATUSES:
            raise InputError(
                f"unknown delivery status '{shown(status)}'; use one of: "
                f"{', '.join(DELIVERY_STATUSES)}"
            )
        return self.store.list_deliveries(
            found.id, status=status, run_id=run_id, limit=limit, offset=offset
        )

    def delivery(self, who: Principal, given: str, delivery_id: int) -> DeliveryDetail:
        """One delivery and each of its attempts."""
        found = self.subscription(who, given)
        delivery = self.store.find_delivery(found.id, delivery_id)
        if delivery is None:
            raise DeliveryNotFound(found.id, delivery_id)
        return DeliveryDetail(delivery, self.store.delivery_attempts(delivery.id))

    def replay(self, who: Principal, given: str, delivery_id: int) -> DeliveryRecord:
        """Send one delivery again, from its first attempt (same ``webhook-id``)."""
        found = self.subscription(who, given)
        if not self.store.replay_delivery(found.id, delivery_id, now=self.clock()):
            raise DeliveryNotFound(found.id, delivery_id)
        return self.delivery(who, found.id, delivery_id).delivery

    def replay_since(self, who: Principal, given: str, run_id: str, seq: int = 0) -> int:
        """Send again every event of a run from ``seq`` on that the subscription wants
        (those recorded before it was added too); returns how many messages."""
        found = self.subscription(who, given)
        run = self.runs.find_run(run_id)
        if run is None or not who.can_see(run.owner):
            raise RunNotFound(run_id)
        return self.store.replay_since(found, run.id, seq, replay_route, now=self.clock())


def webhooks_of(jobs: JobService) -> WebhookService:
    """The webhooks' use cases over the engine a face's :class:`JobService` serves."""
    return WebhookService.of(jobs.engine)


__all__ = [
    "DeliveryDetail",
    "DeliveryNotFound",
    "WebhookNotFound",
    "WebhookService",
    "new_secret",
    "webhooks_of",
]
