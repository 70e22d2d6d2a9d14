"""Webhook subscriptions, their deliveries and the fan-out from the event outbox, by name.

Deliveries come from the one outbox every face already reads (``job_events``,
written in the transaction of the change it tells of), never from a second
source: the fan-out (:mod:`~jobport.store.webhook_fanout`) turns the events
recorded since its cursor into one delivery per interested subscription
(:mod:`~jobport.store.webhook_subscriptions`), and the deliveries are claimed,
sent, logged and replayed (:mod:`~jobport.store.webhook_deliveries`).
:class:`WebhookStore` composes the three, so callers hold one object.

Which events a subscription wants, what a message says and when to try again
are the caller's rules (:mod:`jobport.webhooks`), handed in as functions and
values.
"""

from __future__ import annotations

from jobport.store.webhook_deliveries import WebhookDeliveries
from jobport.store.webhook_fanout import WebhookFanOut
from jobport.store.webhook_records import (
    DELIVERY_STATUSES,
    FAILED,
    PENDING,
    SUCCEEDED,
    AttemptRecord,
    AttemptResult,
    DeliveryClaim,
    DeliveryRecord,
    NewDelivery,
    NewSubscription,
    OutboxEvent,
    Recorded,
    Route,
    SubscriptionRecord,
)
from jobport.store.webhook_subscriptions import WebhookSubscriptions


class WebhookStore(WebhookSubscriptions, WebhookFanOut, WebhookDeliveries):
    """Every storage operation of webhooks, over the state database."""


__all__ = [
    "DELIVERY_STATUSES",
    "FAILED",
    "PENDING",
    "SUCCEEDED",
    "AttemptRecord",
    "AttemptResult",
    "DeliveryClaim",
    "DeliveryRecord",
    "NewDelivery",
    "NewSubscription",
    "OutboxEvent",
    "Recorded",
    "Route",
    "SubscriptionRecord",
    "WebhookStore",
]
