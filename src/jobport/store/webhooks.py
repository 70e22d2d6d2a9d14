"""Webhook subscriptions, their deliveries and the fan-out from the event outbox, by name.

Deliveries come from the one outbox every face already reads (``job_events``,
written in the transaction of the change it tells of), never from a second
source: :meth:`WebhookStore.fan_out` turns the events recorded since its
cursor into one delivery per interested subscription, and moves the cursor, in
one transaction that one process at a time holds. On PostgreSQL an event id
can become visible after a higher one (two runs committing side by side), so
the ids missing below the cursor are kept as *holes* and read again until they
appear, or until they are old enough to have been rolled back.

A delivery is sent by one process at a time: it is claimed with a lease, as a
chunk is, and every claim (and replay) bumps its ``lease_token``, which the
sender's result must still match to be recorded. Which events a subscription
wants, what a message says and when to try again are the caller's rules
(:mod:`jobport.webhooks`), handed in as functions and values.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row, RowMapping

from jobport.store.outbox import event_from_dict
from jobport.store.section import Section
from jobport.store.tables import (
    job_events,
    job_runs,
    webhook_attempts,
    webhook_deliveries,
    webhook_fanout,
    webhooks,
)
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

log = logging.getLogger(__name__)

#: The fan-out state's one row.
FANOUT_ROW = 1
#: Most holes kept (the newest); a database handing out ids far apart cannot grow it.
MAX_HOLES = 1_000


class WebhookStore(Section):
    """Every storage operation of webhooks, over the state database."""

    # -- subscriptions ----------------------------------------------------------------------

    def add_subscription(self, new: NewSubscription, *, now: datetime) -> SubscriptionRecord:
        """Keep a subscription; it is told of the events recorded from now on."""
        with self._write() as conn:
            after = _latest_event_id(conn)
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
            _ensure_fanout(conn, after, now)
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
        return None if row is None else _subscription(row)

    def list_subscriptions(self, owner: str | None = None) -> list[SubscriptionRecord]:
        """Every subscription, oldest first; only ``owner``'s when given."""
        query = sa.select(webhooks).order_by(webhooks.c.created_at, webhooks.c.id)
        if owner is not None:
            query = query.where(webhooks.c.owner == owner)
        with self._read() as conn:
            return [_subscription(row) for row in conn.execute(query).mappings()]

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

    # -- from the outbox to deliveries ------------------------------------------------------

    def fan_out(
        self, route: Route, *, now: datetime, batch: int = 500, hole_seconds: float = 600.0
    ) -> tuple[int, int]:
        """Turn up to ``batch`` events recorded since the cursor into deliveries; returns
        how many events were read and how many deliveries made.

        One process at a time (the cursor's row is locked; on PostgreSQL another
        process skips instead of waiting). An event is routed once: the cursor
        and its deliveries commit together.
        """
        if not self._fanout_behind():
            return 0, 0
        with self._write() as conn:
            state = _lock_fanout(conn, now)
            if state is None:
                return 0, 0  # another process is fanning out
            last, holes = state
            latest = _latest_event_id(conn)
            if latest < last:
                # SQLite hands out a deleted newest id again: take the outbox up from there.
                log.warning("the newest outbox events were deleted; fanning out after %d", latest)
                last, holes = latest, {}
            rows = _events_after(conn, last, holes, batch)
            subscriptions = [_subscription(r) for r in conn.execute(sa.select(webhooks)).mappings()]
            wanted: list[tuple[OutboxEvent, NewDelivery]] = []
            for event in rows:
                wanted += [(event, new) for new in route(event, subscriptions)]
            made = _insert_deliveries(conn, wanted, now)
            last, holes = _next_cursor(last, holes, [e.id for e in rows], now, hole_seconds)
            conn.execute(
                webhook_fanout.update()
                .where(webhook_fanout.c.id == FANOUT_ROW)
                .values(last_event_id=last, holes=_holes_json(holes), updated_at=now)
            )
        return len(rows), made

    def _fanout_behind(self) -> bool:
        """Whether the outbox holds events the fan-out did not see (a read: no lock)."""
        with self._read() as conn:
            state = conn.execute(
                sa.select(webhook_fanout.c.last_event_id, webhook_fanout.c.holes).where(
                    webhook_fanout.c.id == FANOUT_ROW
                )
            ).first()
            if state is None or state.holes:
                return True
            return _latest_event_id(conn) != int(state.last_event_id)

    # -- sending ----------------------------------------------------------------------------

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
            return [_delivery(row) for row in rows], int(total)

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
        return None if row is None else _delivery(row)

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
            events = _run_events(conn, run_id, seq)
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
            return len(again) + _insert_deliveries(conn, fresh, now)


# -- helpers ------------------------------------------------------------------------------------


def _latest_event_id(conn: Connection) -> int:
    return int(
        conn.execute(sa.select(sa.func.coalesce(sa.func.max(job_events.c.id), 0))).scalar_one()
    )


def _ensure_fanout(conn: Connection, last: int, now: datetime) -> None:
    """The fan-out's row, from ``last`` on, if there is none yet."""
    exists = conn.execute(
        sa.select(webhook_fanout.c.id).where(webhook_fanout.c.id == FANOUT_ROW)
    ).first()
    if exists is None:
        conn.execute(
            webhook_fanout.insert().values(
                id=FANOUT_ROW, last_event_id=last, holes=[], updated_at=now
            )
        )


def _lock_fanout(conn: Connection, now: datetime) -> tuple[int, dict[int, datetime]] | None:
    """The cursor and holes, locked for this transaction; None while another holds them."""
    query = sa.select(webhook_fanout).where(webhook_fanout.c.id == FANOUT_ROW)
    row = conn.execute(query.with_for_update(skip_locked=True)).mappings().first()
    if row is None:
        if conn.execute(query).first() is not None:
            return None
        oldest = conn.execute(sa.select(sa.func.min(webhooks.c.after_event))).scalar()
        last = int(oldest) if oldest is not None else _latest_event_id(conn)
        _ensure_fanout(conn, last, now)
        return last, {}
    holes = {int(h[0]): datetime.fromisoformat(h[1]) for h in row["holes"] or []}
    return int(row["last_event_id"]), holes


def _events_after(
    conn: Connection, last: int, holes: dict[int, datetime], batch: int
) -> list[OutboxEvent]:
    """The events after ``last`` and those of the holes that appeared, oldest first."""
    wanted = job_events.c.id > last
    if holes:
        wanted = sa.or_(wanted, job_events.c.id.in_(sorted(holes)))
    rows = conn.execute(
        sa.select(job_events.c.id, job_events.c.payload, job_events.c.created_at, job_runs.c.owner)
        .join(job_runs, job_runs.c.id == job_events.c.run_id)
        .where(wanted)
        .order_by(job_events.c.id)
        .limit(batch)
    ).all()
    return [_outbox_event(row) for row in rows]


def _run_events(conn: Connection, run_id: str, seq: int) -> list[OutboxEvent]:
    rows = conn.execute(
        sa.select(job_events.c.id, job_events.c.payload, job_events.c.created_at, job_runs.c.owner)
        .join(job_runs, job_runs.c.id == job_events.c.run_id)
        .where(job_events.c.run_id == run_id, job_events.c.seq >= seq)
        .order_by(job_events.c.seq)
    ).all()
    return [_outbox_event(row) for row in rows]


def _outbox_event(row: Row[Any, Any, Any, Any]) -> OutboxEvent:
    return OutboxEvent(row.id, event_from_dict(row.payload), row.created_at, row.owner)


def _next_cursor(
    last: int, holes: dict[int, datetime], found: Sequence[int], now: datetime, hole_seconds: float
) -> tuple[int, dict[int, datetime]]:
    """The cursor after reading ``found``: ids skipped below the new cursor become holes;
    holes that appeared, or are older than ``hole_seconds`` (rolled back), are closed."""
    seen = set(found)
    top = max([last, *found])
    kept = {i: at for i, at in holes.items() if i not in seen}
    kept |= {i: now for i in range(last + 1, top) if i not in seen}
    expired = now - timedelta(seconds=hole_seconds)
    kept = {i: at for i, at in kept.items() if at > expired}
    return top, dict(sorted(kept.items())[-MAX_HOLES:])


def _holes_json(holes: dict[int, datetime]) -> list[list[Any]]:
    return [[i, at.isoformat()] for i, at in holes.items()]


def _insert_deliveries(
    conn: Connection, wanted: Iterable[tuple[OutboxEvent, NewDelivery]], now: datetime
) -> int:
    """Insert the deliveries not made yet: one per event (run and ``seq``) and subscription."""
    wanted = list(wanted)
    if not wanted:
        return 0
    d = webhook_deliveries.c
    keys = {(event.event.run_id, event.event.seq) for event, _ in wanted}
    made = {
        (row.subscription_id, row.run_id, row.seq)
        for row in conn.execute(
            sa.select(d.subscription_id, d.run_id, d.seq).where(
                sa.tuple_(d.run_id, d.seq).in_(sorted(keys))
            )
        )
    }
    rows = []
    for event, new in wanted:
        key = (new.subscription_id, event.event.run_id, event.event.seq)
        if key in made:
            continue
        made.add(key)
        rows.append(
            {
                "subscription_id": new.subscription_id,
                "event_id": event.id,
                "run_id": event.event.run_id,
                "seq": event.event.seq,
                "event_type": new.event_type,
                "message_id": new.message_id,
                "body": new.body,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "lease_token": 0,
                "created_at": now,
            }
        )
    if rows:
        conn.execute(webhook_deliveries.insert(), rows)
    return len(rows)


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


def _subscription(row: RowMapping) -> SubscriptionRecord:
    return SubscriptionRecord(
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


def _delivery(row: RowMapping) -> DeliveryRecord:
    return DeliveryRecord(
        **{name: row[name] for name in DeliveryRecord.__dataclass_fields__},
    )


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
