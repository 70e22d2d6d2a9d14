"""Webhook subscriptions: add, list, pause, resume, remove; the deliveries log; replays.

A non-admin manages their own subscriptions, which are told only of their own
runs; another user's subscription answers 404 with the very body a missing one
gets (the rules are :mod:`jobport.webhooks.service`'s). The signing secret is
in the answer that creates a subscription, and in no other.
"""

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from jobport.api.context import MAX_OFFSET, Caller, Service
from jobport.http.problems import responses
from jobport.store.webhooks import (
    DELIVERY_STATUSES,
    PENDING,
    AttemptRecord,
    DeliveryRecord,
    SubscriptionRecord,
)
from jobport.webhooks.events import DEFAULT_EVENT_TYPES, EVENT_TYPES
from jobport.webhooks.service import WebhookService, webhooks_of

router = APIRouter(tags=["webhooks"])


def webhook_service(service: Service) -> WebhookService:
    return webhooks_of(service)


#: The webhooks' use cases (:mod:`jobport.webhooks.service`) over the router's engine.
Hooks = Annotated[WebhookService, Depends(webhook_service)]

EVENTS_TEXT = ", ".join(f"`{name}`" for name in EVENT_TYPES)


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        max_length=2000,
        description="Where to post: an http(s) URL of a public address.",
        examples=["https://example.com/hooks/jobport"],
    )
    events: list[Annotated[str, Field(max_length=50)]] = Field(
        default_factory=list,
        max_length=len(EVENT_TYPES),
        description=f"Any of {EVENTS_TEXT}; default: {', '.join(DEFAULT_EVENT_TYPES)}.",
    )
    types: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=list,
        max_length=500,
        description="Only runs of these job types; default: every type.",
    )


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    types: list[str]
    owner: str | None
    status: Literal["active", "paused"]
    paused_at: datetime | None
    paused_reason: str | None
    failing_since: datetime | None = Field(
        description="The first failed attempt since the last one that succeeded."
    )
    created_at: datetime

    @classmethod
    def of(cls, record: SubscriptionRecord) -> "WebhookOut":
        return cls(**_subscription_fields(record))


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="Signs every delivery (Standard Webhooks `webhook-signature`). "
        "Shown in this answer only: keep it where the receiver can read it."
    )


class PauseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500)


class AttemptOut(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None
    response_ms: float | None
    response_body: str | None = Field(description="The start of the answer (at most 1 KiB).")
    error: str | None


class DeliveryOut(BaseModel):
    id: int
    run_id: str
    seq: int
    event_type: str
    message_id: str = Field(description="The `webhook-id` header: the same on every attempt.")
    status: str = Field(description=", ".join(DELIVERY_STATUSES))
    attempts: int
    next_attempt_at: datetime | None = Field(description="While pending.")
    created_at: datetime
    finished_at: datetime | None
    last_attempt_at: datetime | None
    status_code: int | None
    response_ms: float | None
    response_body: str | None
    error: str | None

    @classmethod
    def of(cls, record: DeliveryRecord) -> "DeliveryOut":
        return cls(**_delivery_fields(record))


class DeliveryDetailOut(DeliveryOut):
    message: dict[str, Any] = Field(description="The message as sent (and signed).")
    attempt_log: list[AttemptOut]


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    total: int
    limit: int
    offset: int


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(max_length=36)
    since_seq: int = Field(default=0, ge=0, description="From this event of the run on.")


class Replayed(BaseModel):
    replayed: int = Field(description="How many messages are sent again.")


@router.post(
    "/webhooks",
    status_code=201,
    summary="Subscribe a URL to run events",
    description=(
        "Returns the subscription with its signing `secret`, shown this once. Messages are "
        "posted at least once, in order per run (`data.seq`), signed per Standard Webhooks."
    ),
    responses=responses(401, 422),
)
def add_webhook(body: WebhookIn, caller: Caller, hooks: Hooks) -> WebhookCreated:
    record = hooks.add(caller, body.url, events=body.events, types=body.types)
    return WebhookCreated(**_subscription_fields(record), secret=record.secret)


@router.get(
    "/webhooks",
    summary="Webhook subscriptions",
    description="An admin's lists everyone's; anyone else's their own.",
    responses=responses(401),
)
def list_webhooks(caller: Caller, hooks: Hooks) -> list[WebhookOut]:
    return [WebhookOut.of(record) for record in hooks.subscriptions(caller)]


@router.get("/webhooks/{webhook_id}", summary="One subscription", responses=responses(401, 404))
def get_webhook(webhook_id: str, caller: Caller, hooks: Hooks) -> WebhookOut:
    return WebhookOut.of(hooks.subscription(caller, webhook_id))


@router.post(
    "/webhooks/{webhook_id}/pause",
    summary="Stop sending (messages wait until resumed)",
    responses=responses(401, 404, 422),
)
def pause_webhook(
    webhook_id: str, caller: Caller, hooks: Hooks, body: PauseIn | None = None
) -> WebhookOut:
    reason = body.reason if body is not None else None
    return WebhookOut.of(hooks.pause(caller, webhook_id, reason))


@router.post(
    "/webhooks/{webhook_id}/resume",
    summary="Send again, what waited first",
    responses=responses(401, 404),
)
def resume_webhook(webhook_id: str, caller: Caller, hooks: Hooks) -> WebhookOut:
    return WebhookOut.of(hooks.resume(caller, webhook_id))


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=204,
    summary="Remove a subscription and its deliveries log",
    responses=responses(401, 404),
)
def remove_webhook(webhook_id: str, caller: Caller, hooks: Hooks) -> Response:
    hooks.remove(caller, webhook_id)
    return Response(status_code=204)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    summary="The deliveries log, newest first",
    responses=responses(401, 404, 422),
)
def list_deliveries(
    webhook_id: str,
    caller: Caller,
    hooks: Hooks,
    status: Annotated[str | None, Query(description=", ".join(DELIVERY_STATUSES))] = None,
    run_id: Annotated[str | None, Query(max_length=36)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> DeliveryPage:
    items, total = hooks.deliveries(
        caller, webhook_id, status=status, run_id=run_id, limit=limit, offset=offset
    )
    return DeliveryPage(
        items=[DeliveryOut.of(item) for item in items], total=total, limit=limit, offset=offset
    )


@router.get(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}",
    summary="One delivery, its message and every attempt",
    responses=responses(401, 404),
)
def get_delivery(
    webhook_id: str, delivery_id: int, caller: Caller, hooks: Hooks
) -> DeliveryDetailOut:
    found = hooks.delivery(caller, webhook_id, delivery_id)
    return DeliveryDetailOut(
        **_delivery_fields(found.delivery),
        message=json.loads(found.delivery.body),
        attempt_log=[AttemptOut(**_attempt_fields(a)) for a in found.attempts],
    )


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/replay",
    status_code=202,
    summary="Send one delivery again, from its first attempt",
    responses=responses(401, 404),
)
def replay_delivery(webhook_id: str, delivery_id: int, caller: Caller, hooks: Hooks) -> DeliveryOut:
    return DeliveryOut.of(hooks.replay(caller, webhook_id, delivery_id))


@router.post(
    "/webhooks/{webhook_id}/replay",
    status_code=202,
    summary="Send a run's events again from a seq on",
    description="Events from before the subscription was added are sent too.",
    responses=responses(401, 404, 422),
)
def replay_run(webhook_id: str, body: ReplayIn, caller: Caller, hooks: Hooks) -> Replayed:
    count = hooks.replay_since(caller, webhook_id, body.run_id, body.since_seq)
    return Replayed(replayed=count)


def _subscription_fields(record: SubscriptionRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "url": record.url,
        "events": list(record.events),
        "types": list(record.types),
        "owner": record.owner,
        "status": "paused" if record.paused else "active",
        "paused_at": record.paused_at,
        "paused_reason": record.paused_reason,
        "failing_since": record.failing_since,
        "created_at": record.created_at,
    }


def _delivery_fields(record: DeliveryRecord) -> dict[str, Any]:
    fields = {name: getattr(record, name) for name in DeliveryOut.model_fields}
    if record.status != PENDING:
        fields["next_attempt_at"] = None
    return fields


def _attempt_fields(record: AttemptRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in AttemptOut.model_fields}
