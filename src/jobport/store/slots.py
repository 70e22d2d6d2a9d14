"""The rows behind ``JobType.max_active``: the slots runs hold, and the starts waiting for one.

A run of a limited type takes one numbered slot of its type
(``jobport_active_slots``: primary key (type, slot)) in the transaction that
reads the slots held, just before the run is recorded. Two starts racing for
the last slot insert the same key: one commits, the other's insert fails on
the key (PostgreSQL makes it wait for the first to commit; SQLite's writers
take turns), and it looks again and finds the type busy. No lock is held
between transactions, and no process has to free a slot: a slot is free once
its run has finished, or when its run was never recorded (the start died
between the two transactions) after :data:`UNRECORDED_GRACE`.

A start that waits for a slot is a row of ``jobport_waiting_starts`` under the
id its run will have. Which types are limited, and what a busy type answers,
are :mod:`jobport.schedules.gate`'s rules; this module keeps the rows.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from jobport.lifecycle import ACTIVE_STATUSES
from jobport.store.section import Section
from jobport.store.tables import active_slots, job_runs, waiting_starts

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

#: A slot whose run was never recorded is free after this (its start died before it).
UNRECORDED_GRACE = timedelta(minutes=2)
#: How often a start looks again after losing a race for a slot.
ATTEMPTS = 3


@dataclass(frozen=True)
class Waiting:
    """A start that waits for a slot of its type, under the id its run will have."""

    run_id: str
    type: str
    request: dict[str, Any]
    source_key: str | None
    owner: str | None
    created_at: datetime


class Slots(Section):
    """The slots of the limited types, and the starts waiting for one."""

    # -- slots ------------------------------------------------------------------------------

    def slot_holders(self, type: str, now: datetime) -> list[str]:
        """The runs holding a slot of ``type`` at ``now`` (oldest slot first)."""
        with self._read() as conn:
            return [row.run_id for row in _held(conn, type, now)]

    def take_slot(self, type: str, limit: int, run_id: str, now: datetime) -> int | list[str]:
        """Take a free slot of ``type`` (one of ``limit``) for ``run_id``, or the slot it
        holds already: its number. When every slot is held by another run: those runs.

        A start that loses the race for a slot to another looks again, up to
        :data:`ATTEMPTS` times, then answers with the slots' holders.
        """
        for _ in range(ATTEMPTS):
            try:
                return self._take_slot(type, limit, run_id, now)
            except IntegrityError:
                continue  # a racing start took the slot we chose: look again
        return self.slot_holders(type, now)

    def _take_slot(self, type: str, limit: int, run_id: str, now: datetime) -> int | list[str]:
        with self._write() as conn:
            mine = conn.execute(
                sa.select(active_slots.c.slot).where(active_slots.c.run_id == run_id)
            ).scalar()
            if mine is not None:
                return int(mine)
            rows = _slots(conn, type)
            ended = [row.run_id for row in rows if _ended(row, now)]
            if ended:
                # By run, not by slot number: a racing start may have freed the same slot
                # and taken it for its own run since our read (PostgreSQL reads each
                # statement anew); that slot is not ours to free.
                conn.execute(active_slots.delete().where(active_slots.c.run_id.in_(ended)))
            held = {row.slot: row.run_id for row in rows if row.run_id not in ended}
            if len(held) >= limit:
                return list(held.values())
            slot = min(set(range(limit)) - held.keys())
            conn.execute(
                active_slots.insert().values(type=type, slot=slot, run_id=run_id, claimed_at=now)
            )
            return slot

    def release_slot(self, run_id: str) -> None:
        """Give back the slot of a run that was never recorded (its start failed)."""
        with self._write() as conn:
            recorded = sa.exists().where(job_runs.c.id == run_id)
            conn.execute(active_slots.delete().where(active_slots.c.run_id == run_id, ~recorded))

    # -- waiting starts ---------------------------------------------------------------------

    def add_waiting(self, waiting: Waiting) -> None:
        """Record a start that waits for a slot (its request as JSON)."""
        with self._write() as conn:
            conn.execute(
                waiting_starts.insert().values(
                    run_id=waiting.run_id,
                    type=waiting.type,
                    request=waiting.request,
                    source_key=waiting.source_key,
                    owner=waiting.owner,
                    created_at=waiting.created_at,
                )
            )

    def waiting_start(self, run_id: str) -> Waiting | None:
        with self._read() as conn:
            row = conn.execute(
                sa.select(waiting_starts).where(waiting_starts.c.run_id == run_id)
            ).first()
        return None if row is None else _waiting(row)

    def waiting_starts(self, types: Collection[str], *, limit: int = 100) -> list[Waiting]:
        """The starts waiting for a slot of ``types``, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(waiting_starts)
                .where(waiting_starts.c.type.in_(list(types)))
                .order_by(waiting_starts.c.created_at, waiting_starts.c.run_id)
                .limit(limit)
            ).all()
        return [_waiting(row) for row in rows]

    def claim_waiting(self, run_id: str, by: str, now: datetime, stale: timedelta) -> bool:
        """Take a waiting start to start it: only one process at a time gets it.

        A claim older than ``stale`` (its process died starting it) is taken over.
        """
        table = waiting_starts.c
        with self._write() as conn:
            taken = conn.execute(
                waiting_starts.update()
                .where(
                    table.run_id == run_id,
                    sa.or_(table.claimed_at.is_(None), table.claimed_at < now - stale),
                )
                .values(claimed_by=by, claimed_at=now)
            )
            return taken.rowcount == 1

    def unclaim_waiting(self, run_id: str) -> None:
        """Put a waiting start back: its type was still busy."""
        with self._write() as conn:
            conn.execute(
                waiting_starts.update()
                .where(waiting_starts.c.run_id == run_id)
                .values(claimed_by=None, claimed_at=None)
            )

    def forget_waiting(self, run_id: str) -> bool:
        """Remove a waiting start (started, or cancelled); whether it was there."""
        with self._write() as conn:
            gone = conn.execute(waiting_starts.delete().where(waiting_starts.c.run_id == run_id))
            return gone.rowcount == 1


def _slots(conn: Connection, type: str) -> list[Any]:
    """The slots of ``type`` with their run's status (None: the run is not recorded yet)."""
    joined = active_slots.outerjoin(job_runs, job_runs.c.id == active_slots.c.run_id)
    return list(
        conn.execute(
            sa.select(
                active_slots.c.slot,
                active_slots.c.run_id,
                active_slots.c.claimed_at,
                job_runs.c.status,
            )
            .select_from(joined)
            .where(active_slots.c.type == type)
            .order_by(active_slots.c.claimed_at)
        ).all()
    )


def _held(conn: Connection, type: str, now: datetime) -> list[Any]:
    return [row for row in _slots(conn, type) if not _ended(row, now)]


def _ended(row: Any, now: datetime) -> bool:
    """Whether a slot is free: its run finished, or was never recorded in time."""
    if row.status is None:
        return bool(row.claimed_at < now - UNRECORDED_GRACE)
    return row.status not in ACTIVE_STATUSES


def _waiting(row: Any) -> Waiting:
    return Waiting(
        run_id=row.run_id,
        type=row.type,
        request=dict(row.request),
        source_key=row.source_key,
        owner=row.owner,
        created_at=row.created_at,
    )
