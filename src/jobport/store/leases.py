"""Leases on chunks: claim, renew, give back, fail an attempt, take back from the lost.

A claim takes a pending chunk of an active run, leases it to a worker and
bumps its attempt counter, which is the fencing token every later write of
that hold must show (:func:`~jobport.store.section.held_by`). A worker that
dies stops renewing; the chunk is taken back when its lease runs out
(:meth:`Leases.requeue_expired`) or at once when the caller knows the worker
is dead (:meth:`Leases.lose_leases`), each loss counted as a failed attempt
so that a chunk that kills its worker cannot loop forever.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jobport import lifecycle
from jobport.events import JobEvent
from jobport.lifecycle import ACTIVE_STATUSES, ChunkStatus
from jobport.store.records import Claim, Refused, RunRecord
from jobport.store.run_ends import end_failed
from jobport.store.section import Section, held_by, lock_run, set_aside, utcnow
from jobport.store.tables import job_chunks, job_runs

#: What taking a chunk back from a lost worker did to it.
Loss = Literal["gone", "set aside", "requeued", "failed"]


@dataclass(frozen=True)
class Reclaimed:
    """Chunks taken back from workers known to be dead (see :meth:`Leases.lose_leases`)."""

    #: Chunks pending again, to deliver again.
    requeued: list[tuple[str, int]]
    #: JobFailed events of runs whose chunk ran out of attempts.
    events: list[JobEvent]
    #: How many of the chunks had the loss counted as a failed attempt.
    charged: int


class Leases(Section):
    """Claims and leases of chunks, and taking them back."""

    def claim_chunk(
        self, run_id: str, no: int, owner: str, lease_seconds: float
    ) -> Claim | Refused:
        """Take the chunk if it is pending and due, and its run is still active."""
        now = utcnow()
        with self._write() as conn:
            run = lock_run(conn, run_id)
            if run is None:
                return Refused("run is gone")
            if run["status"] not in ACTIVE_STATUSES:
                return Refused(f"run is {run['status']}")
            refused = _unclaimable(conn, run_id, no, now)
            if refused is not None:
                return refused
            claimed = conn.execute(
                job_chunks.update()
                .where(
                    job_chunks.c.run_id == run_id,
                    job_chunks.c.no == no,
                    job_chunks.c.status == ChunkStatus.PENDING,
                )
                .values(
                    status=ChunkStatus.RUNNING,
                    attempts=job_chunks.c.attempts + 1,
                    lease_owner=owner,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    started_at=now,
                    available_at=None,
                )
                .returning(
                    job_chunks.c.attempts, job_chunks.c.errors, job_chunks.c.spec, job_chunks.c.rows
                )
            ).first()
            if claimed is None:
                return Refused("claimed by another worker")
            record = _start(conn, RunRecord.from_row(run), now)
            before = _first_unfinished_before(conn, run_id, no) if no > 0 else None
        return Claim(
            run_id,
            no,
            claimed.attempts,
            owner,
            claimed.spec,
            claimed.rows,
            record,
            backoff_before=_backing_off(before, now),
            idle_before=_idle(before, now),
            handed_back=max(claimed.attempts - claimed.errors - 1, 0),
        )

    def renew_lease(self, claim: Claim, lease_seconds: float) -> bool:
        """Extend the lease; False means the chunk was taken away (stop working on it)."""
        with self._write() as conn:
            result = conn.execute(
                job_chunks.update()
                .where(*held_by(claim))
                .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
            )
            return result.rowcount == 1

    def release_chunk(self, claim: Claim, *, delay: float = 0.0) -> None:
        """Give a chunk back unprocessed, without counting an error (e.g. to wait for a turn)."""
        with self._write() as conn:
            conn.execute(
                job_chunks.update()
                .where(*held_by(claim))
                .values(
                    status=ChunkStatus.PENDING,
                    lease_owner=None,
                    lease_expires_at=None,
                    available_at=utcnow() + timedelta(seconds=delay) if delay else None,
                )
            )

    def fail_attempt(
        self, claim: Claim, error: str, *, backoff_seconds: float
    ) -> tuple[float | None, JobEvent | None]:
        """Record a failed attempt. Returns (retry delay, None) or (None, JobFailed event)."""
        now = utcnow()
        with self._write() as conn:
            run = lock_run(conn, claim.run_id)
            chunk = conn.execute(sa.select(job_chunks.c.errors).where(*held_by(claim))).first()
            if run is None or chunk is None:
                return None, None
            errors = chunk.errors + 1
            failed = {"errors": errors, "error": error, "lease_owner": None}
            if run["status"] not in ACTIVE_STATUSES:
                # Cancelled or failed meanwhile: set the chunk aside, keep the run as it is.
                status = lifecycle.set_aside(run["status"])
                _update_held(conn, claim, status=status, lease_expires_at=None, **failed)
                return None, None
            if not lifecycle.out_of_attempts(errors, run["max_attempts"]):
                delay = lifecycle.retry_delay(backoff_seconds, errors)
                _update_held(
                    conn,
                    claim,
                    status=ChunkStatus.PENDING,
                    lease_expires_at=None,
                    available_at=now + timedelta(seconds=delay),
                    **failed,
                )
                return delay, None
            _update_held(
                conn,
                claim,
                status=ChunkStatus.FAILED,
                lease_expires_at=None,
                finished_at=now,
                **failed,
            )
            event = end_failed(
                conn, run, lifecycle.failed_after_attempts(claim.no, errors, error), now
            )
        return None, event

    def requeue_expired(
        self, *, now: datetime | None = None, types: Collection[str] | None = None
    ) -> tuple[list[tuple[str, int]], list[JobEvent]]:
        """Put back chunks whose lease ran out; fail those out of attempts.

        A lost lease counts as a failed attempt: a chunk whose input kills its
        worker must not loop forever. ``types`` limits the sweep to the runs of
        those job types (the ones the caller can deliver again). Costs one read
        when nothing expired: a sweeper can run often without taking the write lock.
        """
        now = now or utcnow()
        expired_query = (
            sa.select(
                job_chunks.c.run_id,
                job_chunks.c.no,
                job_chunks.c.attempts,
                job_chunks.c.lease_owner,
            )
            .where(job_chunks.c.status == ChunkStatus.RUNNING, job_chunks.c.lease_expires_at < now)
            .order_by(job_chunks.c.run_id, job_chunks.c.no)
        )
        if types is not None:
            expired_query = expired_query.where(
                job_chunks.c.run_id.in_(
                    sa.select(job_runs.c.id).where(job_runs.c.type.in_(list(types)))
                )
            )
        with self._read() as conn:
            if conn.execute(expired_query.limit(1)).first() is None:
                return [], []
        requeued: list[tuple[str, int]] = []
        events: list[JobEvent] = []
        with self._write() as conn:
            for run_id, no, attempts, owner in conn.execute(expired_query).all():
                claim = Claim(run_id, no, attempts, owner or "", {}, None)
                error = f"worker {claim.owner} was lost (lease expired)"
                outcome, event = _lose_lease(conn, claim, now, error)
                if event is not None:
                    events.append(event)
                elif outcome == "requeued":
                    requeued.append((run_id, no))
        return requeued, events

    def lose_leases(self, owners: Mapping[str, str | None]) -> Reclaimed:
        """Take back at once the chunks held by workers the caller knows are dead.

        ``owners`` maps a worker name to the reason to record as a failed attempt
        of its chunk, or to None to put the chunk back without counting one (the
        worker was stopped by us, not by its chunk). A name also covers the names
        below it: ``host:42`` covers ``host:42/1/4242``; the longest match wins.
        Without this the chunks would wait for their lease to run out.
        """
        if not owners:
            return Reclaimed([], [], 0)
        now = utcnow()
        matches: list[sa.ColumnElement[bool]] = []
        for name in owners:
            base = name.rstrip("/")
            matches.append(job_chunks.c.lease_owner == base)
            matches.append(job_chunks.c.lease_owner.startswith(base + "/", autoescape=True))
        requeued: list[tuple[str, int]] = []
        events: list[JobEvent] = []
        charged = 0
        with self._write() as conn:
            held = conn.execute(
                sa.select(
                    job_chunks.c.run_id,
                    job_chunks.c.no,
                    job_chunks.c.attempts,
                    job_chunks.c.lease_owner,
                )
                .where(job_chunks.c.status == ChunkStatus.RUNNING, sa.or_(*matches))
                .order_by(job_chunks.c.run_id, job_chunks.c.no)
            ).all()
            for run_id, no, attempts, owner in held:
                error = owners[_owner_of(owner, owners)]
                claim = Claim(run_id, no, attempts, owner, {}, None)
                outcome, event = _lose_lease(conn, claim, now, error)
                if error is not None and outcome in ("requeued", "failed"):
                    charged += 1
                if event is not None:
                    events.append(event)
                elif outcome == "requeued":
                    requeued.append((run_id, no))
        return Reclaimed(requeued, events, charged)

    def overdue_runs(
        self, after: float, *, types: Collection[str] | None = None, now: datetime | None = None
    ) -> list[str]:
        """Runs with a pending chunk that no worker claimed within ``after`` seconds.

        A pending chunk's lease is its delivery's: the first call that finds the
        chunk due without one starts it (``after`` seconds); a claim replaces it
        with the worker's lease, and giving the chunk back ends it. Once it has
        run out, the delivery was lost, or waits behind others in its queue: the
        caller tells which before :meth:`take_overdue`. Costs one read when no
        delivery lease is to start and none has run out.
        """
        now = now or utcnow()
        due = _due_deliveries(now, types)
        unleased = job_chunks.c.lease_expires_at.is_(None)
        with self._read() as conn:
            found = conn.execute(
                sa.select(
                    job_chunks.c.run_id,
                    sa.func.count(),
                    sa.func.count(job_chunks.c.lease_expires_at),
                )
                .where(*due, sa.or_(unleased, job_chunks.c.lease_expires_at < now))
                .group_by(job_chunks.c.run_id)
            ).all()
        if any(overdue < matched for _, matched, overdue in found):
            with self._write() as conn:
                conn.execute(
                    job_chunks.update()
                    .where(*due, unleased)
                    .values(lease_expires_at=now + timedelta(seconds=after))
                )
        return sorted(run_id for run_id, _, overdue in found if overdue)

    def take_overdue(
        self,
        run_ids: Collection[str],
        after: float,
        *,
        overdue_for: float = 0.0,
        now: datetime | None = None,
    ) -> list[tuple[str, int]]:
        """The pending chunks of these runs whose delivery lease ran out (at least
        ``overdue_for`` seconds ago), each renewed.

        The caller sends them again. The renewal is conditional on the lease
        having run out, so of several sweepers asking at once only one gets a
        chunk, and a chunk is sent again at most once every ``after`` seconds.
        """
        if not run_ids:
            return []
        now = now or utcnow()
        expired_before = now - timedelta(seconds=overdue_for)
        with self._write() as conn:
            taken = conn.execute(
                job_chunks.update()
                .where(
                    *_due_deliveries(now, None),
                    job_chunks.c.run_id.in_(list(run_ids)),
                    job_chunks.c.lease_expires_at < expired_before,
                )
                .values(lease_expires_at=now + timedelta(seconds=after))
                .returning(job_chunks.c.run_id, job_chunks.c.no)
            ).all()
        return sorted((str(run_id), int(no)) for run_id, no in taken)


def _unclaimable(conn: Connection, run_id: str, no: int, now: datetime) -> Refused | None:
    """Why chunk ``no`` cannot be claimed now, if it cannot."""
    chunk = conn.execute(
        sa.select(job_chunks.c.status, job_chunks.c.available_at).where(
            job_chunks.c.run_id == run_id, job_chunks.c.no == no
        )
    ).first()
    if chunk is None:
        return Refused("no such chunk")
    if chunk.status != ChunkStatus.PENDING:
        return Refused(f"chunk is {chunk.status}")
    if chunk.available_at is not None and chunk.available_at > now:
        return Refused("backing off", (chunk.available_at - now).total_seconds())
    return None


def _start(conn: Connection, record: RunRecord, now: datetime) -> RunRecord:
    """The run as a claim leaves it: a queued run starts with its first claim."""
    status = lifecycle.status_when_claimed(record.status)
    if status == record.status:
        return record
    conn.execute(
        job_runs.update()
        .where(job_runs.c.id == record.id)
        .values(status=status, started_at=sa.func.coalesce(job_runs.c.started_at, now))
    )
    return replace(record, status=status, started_at=record.started_at or now)


def _update_held(conn: Connection, claim: Claim, **values: Any) -> None:
    conn.execute(job_chunks.update().where(*held_by(claim)).values(**values))


def _owner_of(owner: str, owners: Collection[str]) -> str:
    """The longest of ``owners`` naming ``owner`` or a process above it."""
    return max(
        (
            name
            for name in owners
            if owner == name.rstrip("/") or owner.startswith(name.rstrip("/") + "/")
        ),
        key=len,
    )


def _lose_lease(
    conn: Connection, claim: Claim, now: datetime, error: str | None
) -> tuple[Loss, JobEvent | None]:
    """Take a chunk back from a lost worker: "requeued", "failed" or "set aside".

    With ``error``, the loss counts as a failed attempt (the chunk fails, and
    its run with it, once out of attempts); without, the chunk is only put back.
    A chunk of a run that stopped meanwhile is set aside as its commit would be.
    """
    run = lock_run(conn, claim.run_id)
    chunk = conn.execute(sa.select(job_chunks.c.errors).where(*held_by(claim))).first()
    if run is None or chunk is None:
        return "gone", None
    if run["status"] not in ACTIVE_STATUSES:
        set_aside(conn, claim, run["status"])
        return "set aside", None
    released = {"lease_owner": None, "lease_expires_at": None}
    if error is None:
        _update_held(conn, claim, status=ChunkStatus.PENDING, available_at=None, **released)
        return "requeued", None
    errors = chunk.errors + 1
    failed = {"errors": errors, "error": error, **released}
    if not lifecycle.out_of_attempts(errors, run["max_attempts"]):
        _update_held(conn, claim, status=ChunkStatus.PENDING, available_at=None, **failed)
        return "requeued", None
    _update_held(conn, claim, status=ChunkStatus.FAILED, finished_at=now, **failed)
    message = lifecycle.failed_after_attempts(claim.no, errors, error)
    return "failed", end_failed(conn, run, message, now)


def _due_deliveries(
    now: datetime, types: Collection[str] | None
) -> tuple[sa.ColumnElement[bool], ...]:
    """Pending chunks of active runs (of ``types``) that a delivery may claim now."""
    active = sa.select(job_runs.c.id).where(job_runs.c.status.in_(ACTIVE_STATUSES))
    if types is not None:
        active = active.where(job_runs.c.type.in_(list(types)))
    return (
        job_chunks.c.status == ChunkStatus.PENDING,
        sa.or_(job_chunks.c.available_at.is_(None), job_chunks.c.available_at <= now),
        job_chunks.c.run_id.in_(active),
    )


def _first_unfinished_before(
    conn: Connection, run_id: str, no: int
) -> sa.Row[Any, Any, Any] | None:
    """The chunk an in-order commit of chunk ``no`` waits for: the first not done before it."""
    return conn.execute(
        sa.select(job_chunks.c.no, job_chunks.c.status, job_chunks.c.available_at)
        .where(
            job_chunks.c.run_id == run_id,
            job_chunks.c.no < no,
            job_chunks.c.status != ChunkStatus.DONE,
        )
        .order_by(job_chunks.c.no)
        .limit(1)
    ).first()


def _backing_off(first: sa.Row[Any, Any, Any] | None, now: datetime) -> tuple[int, float] | None:
    """``first``'s number and seconds left, if it is pending and backing off after a failure."""
    if first is None or first.status != ChunkStatus.PENDING or first.available_at is None:
        return None
    remaining = (first.available_at - now).total_seconds()
    return (first.no, remaining) if remaining > 0 else None


def _idle(first: sa.Row[Any, Any, Any] | None, now: datetime) -> int | None:
    """``first``'s number, if it is pending and due: no worker holds it."""
    if first is None or first.status != ChunkStatus.PENDING:
        return None
    due = first.available_at is None or first.available_at <= now
    return int(first.no) if due else None
