"""What every part of the store shares: its engine, its transactions, the run's lock.

The store is split by concern (runs, leases, commits, users, outbox, stats);
each part is a :class:`Section` over the same engine, and
:class:`~jobport.store.jobstore.JobStore` composes them into the one entry point.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from jobport import lifecycle
from jobport.lifecycle import ChunkStatus
from jobport.store.database import WRITE
from jobport.store.records import Claim
from jobport.store.tables import job_chunks, job_runs


def utcnow() -> datetime:
    return datetime.now(UTC)


class Section:
    """One concern of the store, over the state database's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn


def lock_run(conn: Connection, run_id: str) -> RowMapping | None:
    """Read the run row, locking it on databases with row locks.

    Every write to a run's counters goes through this lock, so two chunks of
    one run committing at once on PostgreSQL serialize instead of racing.
    """
    return (
        conn.execute(sa.select(job_runs).where(job_runs.c.id == run_id).with_for_update())
        .mappings()
        .first()
    )


def held_by(claim: Claim) -> tuple[sa.ColumnElement[bool], ...]:
    """The chunk row as long as ``claim`` is the current hold on it (the fencing check)."""
    return (
        job_chunks.c.run_id == claim.run_id,
        job_chunks.c.no == claim.no,
        job_chunks.c.status == ChunkStatus.RUNNING,
        job_chunks.c.attempts == claim.token,
    )


def set_aside(conn: Connection, claim: Claim, run_status: str) -> None:
    """Give back a chunk of a run that stopped: cancelled with it, or pending for a resume."""
    conn.execute(
        job_chunks.update()
        .where(*held_by(claim))
        .values(status=lifecycle.set_aside(run_status), lease_owner=None, lease_expires_at=None)
    )
