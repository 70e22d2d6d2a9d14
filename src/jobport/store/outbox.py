"""Run events: built from a run's row, kept in the outbox, read back by streams.

An event is recorded in the transaction that changed its run, so a stream
tailing the outbox (``job_events``) never sees a change that did not commit
and never misses one that did. Which events are kept is
:func:`jobport.lifecycle.recorded`'s rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from jobport.events import EventName, JobEvent
from jobport.lifecycle import recorded
from jobport.store.section import Section, utcnow
from jobport.store.tables import job_events


class Outbox(Section):
    """Reading the recorded events: one run's since a sequence number, or everyone's."""

    def events_since(self, run_id: str, seq: int) -> list[JobEvent]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(job_events.c.payload)
                .where(job_events.c.run_id == run_id, job_events.c.seq > seq)
                .order_by(job_events.c.seq)
            ).scalars()
            return [event_from_dict(payload) for payload in rows]

    def latest_event_id(self) -> int:
        with self._read() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.coalesce(sa.func.max(job_events.c.id), 0))
                ).scalar_one()
            )

    def outbox_after(self, event_id: int, limit: int = 500) -> list[tuple[int, JobEvent, datetime]]:
        """Events of every run recorded after ``event_id``, with when each was recorded.

        What a process tails to fan events out to its own subscribers.
        """
        with self._read() as conn:
            rows = conn.execute(
                sa.select(job_events.c.id, job_events.c.payload, job_events.c.created_at)
                .where(job_events.c.id > event_id)
                .order_by(job_events.c.id)
                .limit(limit)
            ).all()
            return [(row.id, event_from_dict(row.payload), row.created_at) for row in rows]


def event_of(name: EventName, run: Mapping[str, Any]) -> JobEvent:
    """The event ``name`` of a run, carrying its row's counters (after the change)."""
    return JobEvent(
        name=name,
        run_id=run["id"],
        type=run["type"],
        kind=run["kind"],
        status=str(run["status"]),
        total=run["total"],
        processed=run["processed"],
        failed=run["failed"],
        seq=run["seq"],
        rows_per_second=run.get("rows_per_second"),
        eta_seconds=run.get("eta_seconds"),
        error=run.get("error"),
        created=run.get("created"),
        updated=run.get("updated"),
        unchanged=run.get("unchanged"),
        dry_run=bool(run.get("dry_run")),
    )


def record_event(conn: Connection, run: RowMapping, event: JobEvent) -> None:
    """Keep the event for other processes to stream, where the run's type allows it."""
    if not recorded(broadcast=run["broadcast"], strategy=run["strategy"], event_name=event.name):
        return
    conn.execute(
        job_events.insert().values(
            run_id=event.run_id,
            seq=event.seq,
            name=event.name,
            payload=event.to_dict(),
            created_at=utcnow(),
        )
    )


def event_from_dict(payload: dict[str, Any]) -> JobEvent:
    data = dict(payload)
    name = data.pop("event")
    return JobEvent(name=name, **data)
