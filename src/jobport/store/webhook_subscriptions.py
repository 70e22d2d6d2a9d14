"""Webhook subscriptions: added, read, listed, paused, resumed and removed."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from jobport.store.section import Section
from jobport.store.tables import webhook_deliveries, webhooks
from jobport.store.webhook_fanout import ensure_fanout, latest_event_id
from jobport.store.webhook_records import PENDING, NewSubscription, SubscriptionRecord


class WebhookSubscriptions(Section):
    """Who is told of which events, and whether they are told now."""

    def add_subscription(self, new: NewSubscription, *, now: datetime) -> SubscriptionRecord:
        """Keep a subscription; it is told of the events recorded from now on."""
        with self._write() as conn:
            after = latest_event_id(conn)
            conn.execute(
                webhooks.insert().values(
                    id=new.id,
                    url=new.url,
                    secret=new.secret,
                    events=list(new.events),
                    types=list(new.types),
                    owner=new.owner,
                    owner_admin=new.owner_admin,
                    after_event=after,
                    created_at=now,
                )
            )
            ensure_fanout(conn, after, now)
        found = self.find_subscription(new.id)
        assert found is not None
        return found

    def find_subscription(self, subscription_id: str) -> SubscriptionRecord | None:
        with self._read() as conn:
            row = (
                conn.execute(sa.select(webhooks).where(webhooks.c.id == subscription_id))
                .mappings()
                .first()
            )
        return None if row is None else SubscriptionRecord.from_row(row)

    def list_subscriptions(self, owner: str | None = None) -> list[SubscriptionRecord]:
        """Every subscription, oldest first; only ``owner``'s when given."""
        query = sa.select(webhooks).order_by(webhooks.c.created_at, webhooks.c.id)
        if owner is not None:
            query = query.where(webhooks.c.owner == owner)
        with self._read() as conn:
            return [SubscriptionRecord.from_row(row) for row in conn.execute(query).mappings()]

    def any_subscription(self) -> bool:
        """Whether there is anyone to deliver to (what an idle delivery loop asks)."""
        with self._read() as conn:
            return conn.execute(sa.select(webhooks.c.id).limit(1)).first() is not None

    def pause_subscription(self, subscription_id: str, reason: str, *, now: datetime) -> bool:
        """Pause it, saying why; False when it was paused already (the first reason stays)."""
        with self._write() as conn:
            result = conn.execute(
                webhooks.update()
                .where(webhooks.c.id == subscription_id, webhooks.c.paused_at.is_(None))
                .values(paused_at=now, paused_reason=reason)
            )
            return bool(result.rowcount == 1)

    def resume_subscription(self, subscription_id: str, *, now: datetime) -> None:
        """Send again: what waited while it was paused goes now, its failures forgotten."""
        with self._write() as conn:
            conn.execute(
                webhooks.update()
                .where(webhooks.c.id == subscription_id)
                .values(paused_at=None, paused_reason=None, failing_since=None)
            )
            conn.execute(
                webhook_deliveries.update()
                .where(
                    webhook_deliveries.c.subscription_id == subscription_id,
                    webhook_deliveries.c.status == PENDING,
                )
                .values(next_attempt_at=now)
            )

    def remove_subscription(self, subscription_id: str) -> None:
        """Delete it with its deliveries and their attempts."""
        with self._write() as conn:
            conn.execute(webhooks.delete().where(webhooks.c.id == subscription_id))
