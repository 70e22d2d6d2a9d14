"""Sending webhook deliveries, their log and their replays.

A delivery is sent by one process at a time: it is claimed with a lease, as a
chunk is, and every claim (and replay) bumps its ``lease_token``, which the
sender's result must still match to be recorded.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from jobport.store.section import Section
from jobport.store.tables import webhook_attempts, webhook_deliveries, webhooks
from jobport.store.webhook_fanout import insert_deliveries, run_events
from jobport.store.webhook_records import (
    FAILED,
    PENDING,
    SUCCEEDED,
    AttemptRecord,
    AttemptResult,
    DeliveryClaim,
    DeliveryRecord,
    Recorded,
    Route,
    SubscriptionRecord,
)


class WebhookDeliveries(Section):
    """Claiming and recording attempts, reading the deliveries log, replaying."""

    def claim_deliveries(
        self, owner: str, *, limit: int, lease_seconds: float, now: datetime
    ) -> list[DeliveryClaim]:
        """Lease up to ``limit`` due deliveries to ``owner``, each the first one pending of
        its run for its subscription (so a run's messages go in order), of subscriptions
        not paused."""
        with self._read() as conn:
            ids = list(conn.execute(_due(now, limit)).scalars())
        if not ids:
            return []
        claimed: list[RowMapping] = []
        with self._write() as conn:
            for delivery_id in ids:
                row = (
                    conn.execute(
                        webhook_deliveries.update()
                        .where(webhook_deliveries.c.id == delivery_id, *_claimable(now))
                        .values(
                            lease_owner=owner,
                            lease_expires_at=now + timedelta(seconds=lease_seconds),
                            lease_token=webhook_deliveries.c.lease_token + 1,
                        )
                        .returning(webhook_deliveries)
                    )
                    .mappings()
                    .first()
                )
                if row is not None:
                    claimed.append(row)
            targets = _targets(conn, {row["subscription_id"] for row in claimed})
        return [
            DeliveryClaim(
                id=row["id"],
                token=row["lease_token"],
                subscription_id=row["subscription_id"],
                url=targets[row["subscription_id"]][0],
                secret=targets[row["subscription_id"]][1],
                message_id=row["message_id"],
                body=row["body"],
                attempts=row["attempts"],
                run_id=row["run_id"],
                seq=row["seq"],
            )
            for row in claimed
        ]

    def record_attempt(
        self,
        claim: DeliveryClaim,
        result: AttemptResult,
        *,
        now: datetime,
        retry_at: datetime | None,
    ) -> Recorded:
        """Record an attempt of a claimed delivery: done, to retry at ``retry_at``, or failed
        for good (no ``retry_at``), unless the claim was taken away meanwhile (its lease ran
        out, it was replayed): then nothing is recorded."""
        status = SUCCEEDED if result.ok else PENDING if retry_at is not None else FAILED
        outcome = {
            "status_code": result.status_code,
            "response_ms": result.response_ms,
            "response_body": result.response_body,
            "error": result.error,
        }
        with self._write() as conn:
            updated = conn.execute(
                webhook_deliveries.update()
                .where(
                    webhook_deliveries.c.id == claim.id,
                    webhook_deliveries.c.lease_token == claim.token,
                    webhook_deliveries.c.status == PENDING,
                )
                .values(
                    status=status,
                    attempts=webhook_deliveries.c.attempts + 1,
                    next_attempt_at=retry_at or now,
                    lease_owner=None,
                    lease_expires_at=None,
                    finished_at=None if status == PENDING else now,
                    last_attempt_at=now,
                    **outcome,
                )
                .returning(webhook_deliveries.c.attempts)
            ).first()
            if updated is None:
                return Recorded(False, None)
            conn.execute(
                webhook_attempts.insert().values(
                    delivery_id=claim.id, attempt=updated.attempts, at=now, **outcome
                )
            )
            failing = None if result.ok else sa.func.coalesce(webhooks.c.failing_since, now)
            conn.execute(
                webhooks.update()
                .where(webhooks.c.id == claim.subscription_id)
                .values(failing_since=failing)
            )
            since: datetime | None = conn.execute(
                sa.select(webhooks.c.failing_since).where(webhooks.c.id == claim.subscription_id)
            ).scalar()
        return Recorded(True, since)

    # -- the deliveries log -----------------------------------------------------------------

    def list_deliveries(
        self,
        subscription_id: str,
        *,
        status: str | None = None,
        run_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[DeliveryRecord], int]:
        """A subscription's deliveries, newest first, and how many there are."""
        where = [webhook_deliveries.c.subscription_id == subscription_id]
        if status is not None:
            where.append(webhook_deliveries.c.status == status)
        if run_id is not None:
            where.append(webhook_deliveries.c.run_id == run_id)
        with self._read() as conn:
            total = conn.execute(
                sa.select(sa.func.count()).select_from(webhook_deliveries).where(*where)
            ).scalar_one()
            rows = conn.execute(
                sa.select(webhook_deliveries)
                .where(*where)
                .order_by(webhook_deliveries.c.id.desc())
                .limit(limit)
                .offset(offset)
            ).mappings()
            return [DeliveryRecord.from_row(row) for row in rows], int(total)

    def find_delivery(self, subscription_id: str, delivery_id: int) -> DeliveryRecord | None:
        with self._read() as conn:
            row = (
                conn.execute(
                    sa.select(webhook_deliveries).where(
                        webhook_deliveries.c.id == delivery_id,
                        webhook_deliveries.c.subscription_id == subscription_id,
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else DeliveryRecord.from_row(row)

    def delivery_attempts(self, delivery_id: int) -> list[AttemptRecord]:
        """Every attempt of a delivery, first first."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(webhook_attempts)
                .where(webhook_attempts.c.delivery_id == delivery_id)
                .order_by(webhook_attempts.c.id)
            ).mappings()
            return [
                AttemptRecord(
                    attempt=row["attempt"],
                    at=row["at"],
                    status_code=row["status_code"],
                    response_ms=row["response_ms"],
                    response_body=row["response_body"],
                    error=row["error"],
                )
                for row in rows
            ]

    # -- replays ----------------------------------------------------------------------------

    def replay_delivery(self, subscription_id: str, delivery_id: int, *, now: datetime) -> bool:
        """Send a delivery again from its first attempt, whatever became of it."""
        with self._write() as conn:
            result = conn.execute(
                webhook_deliveries.update()
                .where(
                    webhook_deliveries.c.id == delivery_id,
                    webhook_deliveries.c.subscription_id == subscription_id,
                )
                .values(**_replayed(now))
            )
            return bool(result.rowcount == 1)

    def replay_since(
        self,
        subscription: SubscriptionRecord,
        run_id: str,
        seq: int,
        route: Route,
        *,
        now: datetime,
    ) -> int:
        """Send again every event of ``run_id`` from ``seq`` on that ``route`` gives the
        subscription: its deliveries from their first attempt, and the events it never had
        (recorded before it was added) as new deliveries. Returns how many."""
        with self._write() as conn:
            events = run_events(conn, run_id, seq)
            existing = dict(
                conn.execute(
                    sa.select(webhook_deliveries.c.event_id, webhook_deliveries.c.id).where(
                        webhook_deliveries.c.subscription_id == subscription.id,
                        webhook_deliveries.c.run_id == run_id,
                    )
                ).all()
            )
            again = [existing[e.id] for e in events if e.id in existing]
            if again:
                conn.execute(
                    webhook_deliveries.update()
                    .where(webhook_deliveries.c.id.in_(again))
                    .values(**_replayed(now))
                )
            fresh = [
                (event, new)
                for event in events
                if event.id not in existing
                for new in route(event, [subscription])
            ]
            return len(again) + insert_deliveries(conn, fresh, now)


def _claimable(now: datetime) -> tuple[sa.ColumnElement[bool], ...]:
    d = webhook_deliveries.c
    return (
        d.status == PENDING,
        d.next_attempt_at <= now,
        sa.or_(d.lease_expires_at.is_(None), d.lease_expires_at < now),
    )


def _due(now: datetime, limit: int) -> sa.Select[tuple[int]]:
    """Ids of the deliveries to send now: due, not leased, their subscription not paused,
    and no earlier message of their run for their subscription still to send."""
    d = webhook_deliveries
    earlier = webhook_deliveries.alias("earlier")
    waits = sa.exists().where(
        earlier.c.subscription_id == d.c.subscription_id,
        earlier.c.run_id == d.c.run_id,
        earlier.c.status == PENDING,
        earlier.c.seq < d.c.seq,
    )
    return (
        sa.select(d.c.id)
        .join(webhooks, webhooks.c.id == d.c.subscription_id)
        .where(*_claimable(now), webhooks.c.paused_at.is_(None), ~waits)
        .order_by(d.c.next_attempt_at, d.c.id)
        .limit(limit)
    )


def _targets(conn: Connection, ids: set[str]) -> dict[str, tuple[str, str]]:
    if not ids:
        return {}
    rows = conn.execute(
        sa.select(webhooks.c.id, webhooks.c.url, webhooks.c.secret).where(webhooks.c.id.in_(ids))
    ).all()
    return {row.id: (row.url, row.secret) for row in rows}


def _replayed(now: datetime) -> dict[str, Any]:
    """A delivery sent again from its first attempt; a sender still holding it is fenced off."""
    return {
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "finished_at": None,
        "lease_owner": None,
        "lease_expires_at": None,
        "lease_token": webhook_deliveries.c.lease_token + 1,
    }
