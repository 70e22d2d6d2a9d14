"""From the outbox to webhook deliveries: the fan-out's cursor, its holes, new deliveries.

:meth:`WebhookFanOut.fan_out` turns the events recorded since its cursor into
one delivery per interested subscription, and moves the cursor, in one
transaction that one process at a time holds. On PostgreSQL an event id can
become visible after a higher one (two runs committing side by side), so the
ids missing below the cursor are kept as *holes* and read again until they
appear, or until they are old enough to have been rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from jobport.store.outbox import event_from_dict
from jobport.store.section import Section
from jobport.store.tables import job_events, job_runs, webhook_deliveries, webhook_fanout, webhooks
from jobport.store.webhook_records import (
    PENDING,
    NewDelivery,
    OutboxEvent,
    Route,
    SubscriptionRecord,
)

log = logging.getLogger(__name__)

#: The fan-out state's one row.
FANOUT_ROW = 1
#: Most holes kept (the newest); a database handing out ids far apart cannot grow it.
MAX_HOLES = 1_000


class WebhookFanOut(Section):
    """Routing the outbox's events to subscriptions, one process at a time."""

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
            latest = latest_event_id(conn)
            if latest < last:
                # SQLite hands out a deleted newest id again: take the outbox up from there.
                log.warning("the newest outbox events were deleted; fanning out after %d", latest)
                last, holes = latest, {}
            rows = _events_after(conn, last, holes, batch)
            subscriptions = [
                SubscriptionRecord.from_row(r) for r in conn.execute(sa.select(webhooks)).mappings()
            ]
            wanted: list[tuple[OutboxEvent, NewDelivery]] = []
            for event in rows:
                wanted += [(event, new) for new in route(event, subscriptions)]
            made = insert_deliveries(conn, wanted, now)
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
            return latest_event_id(conn) != int(state.last_event_id)


def latest_event_id(conn: Connection) -> int:
    return int(
        conn.execute(sa.select(sa.func.coalesce(sa.func.max(job_events.c.id), 0))).scalar_one()
    )


def ensure_fanout(conn: Connection, last: int, now: datetime) -> None:
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
        last = int(oldest) if oldest is not None else latest_event_id(conn)
        ensure_fanout(conn, last, now)
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


def run_events(conn: Connection, run_id: str, seq: int) -> list[OutboxEvent]:
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


def insert_deliveries(
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
