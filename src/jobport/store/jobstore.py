"""Every storage operation of jobport, by name, in one place.

The store is the source of truth for a run: a queue only ever says "run chunk
n of run r". Claims take a lease and bump the chunk's attempt counter, which
doubles as a fencing token; a commit is accepted only with the current token,
so a stale or repeated delivery changes nothing. A chunk's target rows, its
failures, its ``done`` mark, the run's counters and the run's event all
commit in one transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from jobport.errors import LeaseLost, RunNotFound, RunStateError
from jobport.events import JobEvent
from jobport.lifecycle import RunStatus, recorded
from jobport.store.database import WRITE
from jobport.store.records import (
    ACTIVE_STATUSES,
    ChunkOutcome,
    Claim,
    Failure,
    Refused,
    RunRecord,
)
from jobport.store.tables import (
    job_chunks,
    job_ended_sessions,
    job_events,
    job_failures,
    job_runs,
    job_users,
)

FAILURE_BATCH = 1_000


class CommitConflict(Exception):
    """Nothing was written, and committing the same outcome again is the way on.

    Two commits took the same rows in crossing order and the database failed
    this one; or the run stopped during the commit and was resumed before the
    chunk could be set aside.
    """


class NotYourTurn(Exception):
    """An in-order commit must wait for the previous chunk; nothing was written.

    ``retry_in`` is set when the previous chunk is pending and backing off after a
    failed attempt: it cannot be done before that many seconds have passed.
    """

    def __init__(self, previous: int, status: str, retry_in: float | None = None) -> None:
        super().__init__(f"chunk {previous} is {status}")
        self.previous = previous
        self.status = status
        self.retry_in = retry_in


@dataclass(frozen=True)
class Reclaimed:
    """Chunks taken back from workers known to be dead (see :meth:`JobStore.lose_leases`)."""

    #: Chunks pending again, to deliver again.
    requeued: list[tuple[str, int]]
    #: JobFailed events of runs whose chunk ran out of attempts.
    events: list[JobEvent]
    #: How many of the chunks had the loss counted as a failed attempt.
    charged: int


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class NewRun:
    """What the dispatcher knows about a run before it exists."""

    type: str
    kind: str
    strategy: str
    broadcast: bool
    owner: str | None
    params: dict[str, Any]
    max_attempts: int
    total: int | None = None
    format: str | None = None
    source_key: str | None = None
    source_name: str | None = None
    retry_of: str | None = None
    dispatcher: str | None = None
    id: str | None = None


@dataclass(frozen=True)
class RunFilter:
    kind: str | None = None
    type: str | None = None
    status: str | None = None
    owner: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class UserRecord:
    id: int
    name: str
    is_admin: bool
    roles: tuple[str, ...]


class JobStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- transactions -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    # -- runs -------------------------------------------------------------------------------

    def create_run(
        self, new: NewRun, chunk_specs: Sequence[dict[str, Any]], *, error: str | None = None
    ) -> RunRecord:
        """Insert the run and its pending chunks in one transaction.

        A run with ``error`` is recorded as failed (a file refused while planning);
        a run with no chunks has nothing to do and is completed at once.
        """
        run_id = new.id or str(uuid.uuid4())
        now = utcnow()
        status = "failed" if error else ("queued" if chunk_specs else "completed")
        with self._write() as conn:
            conn.execute(
                job_runs.insert().values(
                    id=run_id,
                    type=new.type,
                    kind=new.kind,
                    status=status,
                    error=error,
                    started_at=None if status == "queued" else now,
                    finished_at=None if status == "queued" else now,
                    strategy=new.strategy,
                    broadcast=new.broadcast,
                    total=new.total,
                    processed=0,
                    failed=0,
                    owner=new.owner,
                    params=new.params,
                    format=new.format,
                    source_key=new.source_key,
                    source_name=new.source_name,
                    created_at=now,
                    retry_of=new.retry_of,
                    chunks_total=len(chunk_specs),
                    chunks_done=0,
                    seq=0,
                    max_attempts=new.max_attempts,
                    dispatcher=new.dispatcher,
                )
            )
            if chunk_specs:
                conn.execute(
                    job_chunks.insert(),
                    [
                        {
                            "run_id": run_id,
                            "no": no,
                            "status": "pending",
                            "spec": spec,
                            "rows": spec.get("rows"),
                            "attempts": 0,
                            "errors": 0,
                            "processed": 0,
                            "failed": 0,
                        }
                        for no, spec in enumerate(chunk_specs)
                    ],
                )
            if status != "queued":
                run = _lock_run(conn, run_id)
                assert run is not None
                conn.execute(job_runs.update().where(job_runs.c.id == run_id).values(seq=1))
                _record_event(
                    conn, run, _event("JobFailed" if error else "JobCompleted", {**run, "seq": 1})
                )
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> RunRecord:
        with self._read() as conn:
            query = sa.select(job_runs).where(job_runs.c.id == run_id)
            row = conn.execute(query).mappings().first()
            if row is None:
                raise RunNotFound(run_id)
            children = conn.execute(
                sa.select(job_runs.c.id)
                .where(job_runs.c.retry_of == run_id)
                .order_by(job_runs.c.created_at)
            ).scalars()
            return RunRecord.from_row(row, tuple(children))

    def find_run(self, run_id: str) -> RunRecord | None:
        try:
            return self.get_run(run_id)
        except RunNotFound:
            return None

    def run_ids_starting_with(self, prefix: str, *, limit: int) -> list[str]:
        """Ids of runs that start with ``prefix``, in order, at most ``limit``.

        People type the short ids the dashboard and the CLI show; the caller
        tells one match from none and from several (``limit`` bounds the list).
        """
        with self._read() as conn:
            query = (
                sa.select(job_runs.c.id)
                .where(job_runs.c.id.startswith(prefix, autoescape=True))
                .order_by(job_runs.c.id)
                .limit(limit)
            )
            return list(conn.execute(query).scalars())

    def list_runs(
        self, filters: RunFilter = RunFilter(), *, limit: int = 50, offset: int = 0
    ) -> tuple[list[RunRecord], int]:
        """Runs matching ``filters``, newest first, and how many match in all."""
        with self._read() as conn:
            return _page_of_runs(
                conn, _run_conditions(filters), job_runs.c.created_at, limit, offset
            )

    def set_result(self, run_id: str, key: str, result: dict[str, Any]) -> None:
        with self._write() as conn:
            conn.execute(
                job_runs.update()
                .where(job_runs.c.id == run_id)
                .values(result_key=key, result=result)
            )

    def active_runs(self) -> list[RunRecord]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(job_runs)
                .where(job_runs.c.status.in_(ACTIVE_STATUSES))
                .order_by(job_runs.c.created_at)
            ).mappings()
            return [RunRecord.from_row(row) for row in rows]

    # -- chunks -----------------------------------------------------------------------------

    def claim_chunk(
        self, run_id: str, no: int, owner: str, lease_seconds: float
    ) -> Claim | Refused:
        """Take the chunk if it is pending and due, and its run is still active."""
        now = utcnow()
        with self._write() as conn:
            run = _lock_run(conn, run_id)
            if run is None:
                return Refused("run is gone")
            if run["status"] not in ACTIVE_STATUSES:
                return Refused(f"run is {run['status']}")
            chunk = conn.execute(
                sa.select(job_chunks.c.status, job_chunks.c.available_at).where(
                    job_chunks.c.run_id == run_id, job_chunks.c.no == no
                )
            ).first()
            if chunk is None:
                return Refused("no such chunk")
            if chunk.status != "pending":
                return Refused(f"chunk is {chunk.status}")
            if chunk.available_at is not None and chunk.available_at > now:
                return Refused("backing off", (chunk.available_at - now).total_seconds())
            claimed = conn.execute(
                job_chunks.update()
                .where(
                    job_chunks.c.run_id == run_id,
                    job_chunks.c.no == no,
                    job_chunks.c.status == "pending",
                )
                .values(
                    status="running",
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
            record = RunRecord.from_row(run)
            if run["status"] == "queued":
                conn.execute(
                    job_runs.update()
                    .where(job_runs.c.id == run_id)
                    .values(
                        status="running", started_at=sa.func.coalesce(job_runs.c.started_at, now)
                    )
                )
                record = replace(
                    record, status=RunStatus.RUNNING, started_at=record.started_at or now
                )
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
                .where(*_held_by(claim))
                .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
            )
            return result.rowcount == 1

    def chunk_status(self, run_id: str, no: int) -> str | None:
        with self._read() as conn:
            status: str | None = conn.execute(
                sa.select(job_chunks.c.status).where(
                    job_chunks.c.run_id == run_id, job_chunks.c.no == no
                )
            ).scalar()
            return status

    def chunks(self, run_id: str) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(
                    job_chunks.c.no,
                    job_chunks.c.status,
                    job_chunks.c.rows,
                    job_chunks.c.attempts,
                    job_chunks.c.errors,
                    job_chunks.c.processed,
                    job_chunks.c.failed,
                    job_chunks.c.error,
                )
                .where(job_chunks.c.run_id == run_id)
                .order_by(job_chunks.c.no)
            ).mappings()
            return [dict(row) for row in rows]

    def pending_chunks(self, run_id: str) -> list[int]:
        with self._read() as conn:
            return list(
                conn.execute(
                    sa.select(job_chunks.c.no)
                    .where(job_chunks.c.run_id == run_id, job_chunks.c.status == "pending")
                    .order_by(job_chunks.c.no)
                ).scalars()
            )

    def blocked_by_backoff(self, run_id: str, no: int) -> tuple[int, float] | None:
        """The first unfinished chunk before ``no``, if it is backing off after a failure.

        Returns its number and the seconds left before it may be claimed: an
        in-order chunk cannot commit before then. A claim reports the same.
        """
        with self._read() as conn:
            return _backoff_before(conn, run_id, no, utcnow())

    def release_chunk(self, claim: Claim, *, delay: float = 0.0) -> None:
        """Give a chunk back unprocessed, without counting an error (e.g. to wait for a turn)."""
        with self._write() as conn:
            conn.execute(
                job_chunks.update()
                .where(*_held_by(claim))
                .values(
                    status="pending",
                    lease_owner=None,
                    lease_expires_at=None,
                    available_at=utcnow() + timedelta(seconds=delay) if delay else None,
                )
            )

    def commit_chunk(
        self, claim: Claim, outcome: ChunkOutcome, *, in_order: bool = False
    ) -> JobEvent | None:
        """Commit a chunk's rows, failures, done mark, counters and event atomically.

        Raises :class:`LeaseLost` (and changes nothing) when ``claim`` is no longer
        the current hold on the chunk. With ``in_order``, raises :class:`NotYourTurn`
        (changing nothing) until the previous chunk is done, so that where two
        chunks write the same key the later one in the file wins. Returns the
        event to hand to in-process listeners, or None when the run stopped
        meanwhile and the chunk was set aside instead.
        """
        now = utcnow()
        # On PostgreSQL the rows land before the run's lock is taken, so that two
        # chunks' writes overlap on the server; see _write_before_run_lock.
        early = outcome.write is not None and self.engine.dialect.name == "postgresql"
        try:
            with self._write() as conn:
                if early:
                    _write_before_run_lock(conn, claim, outcome, in_order=in_order, now=now)
                return _commit_under_run_lock(conn, claim, outcome, in_order, now, wrote=early)
        except _RunStopped:
            # The rows written early were rolled back with the rest; only mark the chunk.
            with self._write() as conn:
                run = _lock_run(conn, claim.run_id)
                if run is None or run["status"] not in ACTIVE_STATUSES:
                    if run is not None:
                        _set_aside(conn, claim, run["status"])
                    return None
            # Resumed in between: the chunk is still held, so it is ours to commit.
            raise CommitConflict(
                f"chunk {claim.no} of run {claim.run_id}: the run was resumed while the "
                "chunk committed; nothing was written"
            ) from None
        except Exception as exc:
            if _sqlstate(exc) in _LOCK_CYCLE_STATES:
                raise CommitConflict(
                    f"chunk {claim.no} of run {claim.run_id}: the database broke a lock "
                    "cycle between two commits; nothing was written"
                ) from exc
            raise

    def fail_attempt(
        self, claim: Claim, error: str, *, backoff_seconds: float
    ) -> tuple[float | None, JobEvent | None]:
        """Record a failed attempt. Returns (retry delay, None) or (None, JobFailed event)."""
        now = utcnow()
        with self._write() as conn:
            run = _lock_run(conn, claim.run_id)
            chunk = conn.execute(sa.select(job_chunks.c.errors).where(*_held_by(claim))).first()
            if run is None or chunk is None:
                return None, None
            errors = chunk.errors + 1
            if run["status"] not in ACTIVE_STATUSES:
                # Cancelled or failed meanwhile: set the chunk aside, keep the run as it is.
                conn.execute(
                    job_chunks.update()
                    .where(*_held_by(claim))
                    .values(
                        status="cancelled" if run["status"] == "cancelled" else "pending",
                        errors=errors,
                        error=error,
                        lease_owner=None,
                        lease_expires_at=None,
                    )
                )
                return None, None
            if errors < run["max_attempts"]:
                delay = backoff_seconds * (2 ** (errors - 1))
                conn.execute(
                    job_chunks.update()
                    .where(*_held_by(claim))
                    .values(
                        status="pending",
                        errors=errors,
                        error=error,
                        lease_owner=None,
                        lease_expires_at=None,
                        available_at=now + timedelta(seconds=delay),
                    )
                )
                return delay, None
            conn.execute(
                job_chunks.update()
                .where(*_held_by(claim))
                .values(
                    status="failed",
                    errors=errors,
                    error=error,
                    lease_owner=None,
                    lease_expires_at=None,
                    finished_at=now,
                )
            )
            event = _fail_run(
                conn, run, f"chunk {claim.no} failed after {errors} attempt(s): {error}", now
            )
        return None, event

    def fail_run(self, run_id: str, error: str) -> JobEvent | None:
        """End a run as failed before or outside any chunk (e.g. an unreadable file)."""
        with self._write() as conn:
            run = _lock_run(conn, run_id)
            if run is None or run["status"] not in ACTIVE_STATUSES:
                return None
            return _fail_run(conn, run, error, utcnow())

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
            .where(job_chunks.c.status == "running", job_chunks.c.lease_expires_at < now)
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
                outcome, event = self._lose_lease(conn, claim, now, error)
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
                .where(job_chunks.c.status == "running", sa.or_(*matches))
                .order_by(job_chunks.c.run_id, job_chunks.c.no)
            ).all()
            for run_id, no, attempts, owner in held:
                key = max(
                    (
                        name
                        for name in owners
                        if owner == name.rstrip("/") or owner.startswith(name.rstrip("/") + "/")
                    ),
                    key=len,
                )
                error = owners[key]
                claim = Claim(run_id, no, attempts, owner, {}, None)
                outcome, event = self._lose_lease(conn, claim, now, error)
                if error is not None and outcome in ("requeued", "failed"):
                    charged += 1
                if event is not None:
                    events.append(event)
                elif outcome == "requeued":
                    requeued.append((run_id, no))
        return Reclaimed(requeued, events, charged)

    def expire_leases_of(self, owner_prefix: str) -> int:
        """Expire every lease held by owners whose name starts with ``owner_prefix``.

        The next :meth:`requeue_expired` then takes the chunks back, counting an
        attempt each (:meth:`lose_leases` does both at once, with a reason).
        """
        with self._write() as conn:
            result = conn.execute(
                job_chunks.update()
                .where(
                    job_chunks.c.status == "running",
                    job_chunks.c.lease_owner.startswith(owner_prefix, autoescape=True),
                )
                .values(lease_expires_at=utcnow() - timedelta(seconds=1))
            )
            return result.rowcount

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
        self, run_ids: Collection[str], after: float, *, now: datetime | None = None
    ) -> list[tuple[str, int]]:
        """The pending chunks of these runs whose delivery lease ran out, each renewed.

        The caller sends them again. The renewal is conditional on the lease
        having run out, so of several sweepers asking at once only one gets a
        chunk, and a chunk is sent again at most once every ``after`` seconds.
        """
        if not run_ids:
            return []
        now = now or utcnow()
        with self._write() as conn:
            taken = conn.execute(
                job_chunks.update()
                .where(
                    *_due_deliveries(now, None),
                    job_chunks.c.run_id.in_(list(run_ids)),
                    job_chunks.c.lease_expires_at < now,
                )
                .values(lease_expires_at=now + timedelta(seconds=after))
                .returning(job_chunks.c.run_id, job_chunks.c.no)
            ).all()
        return sorted((str(run_id), int(no)) for run_id, no in taken)

    def _lose_lease(
        self, conn: Connection, claim: Claim, now: datetime, error: str | None
    ) -> tuple[str, JobEvent | None]:
        """Take a chunk back from a lost worker: "requeued", "failed" or "set aside".

        With ``error``, the loss counts as a failed attempt (the chunk fails, and
        its run with it, once out of attempts); without, the chunk is only put back.
        A chunk of a run that stopped meanwhile is set aside as its commit would be.
        """
        run = _lock_run(conn, claim.run_id)
        chunk = conn.execute(sa.select(job_chunks.c.errors).where(*_held_by(claim))).first()
        if run is None or chunk is None:
            return "gone", None
        released = {"lease_owner": None, "lease_expires_at": None}
        if run["status"] not in ACTIVE_STATUSES:
            set_aside = "cancelled" if run["status"] == "cancelled" else "pending"
            conn.execute(
                job_chunks.update().where(*_held_by(claim)).values(status=set_aside, **released)
            )
            return "set aside", None
        if error is None:
            conn.execute(
                job_chunks.update()
                .where(*_held_by(claim))
                .values(status="pending", available_at=None, **released)
            )
            return "requeued", None
        errors = chunk.errors + 1
        if errors < run["max_attempts"]:
            conn.execute(
                job_chunks.update()
                .where(*_held_by(claim))
                .values(status="pending", errors=errors, error=error, available_at=None, **released)
            )
            return "requeued", None
        conn.execute(
            job_chunks.update()
            .where(*_held_by(claim))
            .values(status="failed", errors=errors, error=error, finished_at=now, **released)
        )
        return "failed", _fail_run(
            conn, run, f"chunk {claim.no} failed after {errors} attempt(s): {error}", now
        )

    def adopt_run(self, run_id: str, dispatcher: str) -> None:
        """Record which process now delivers the run's chunks (after a restart or resume)."""
        with self._write() as conn:
            conn.execute(
                job_runs.update().where(job_runs.c.id == run_id).values(dispatcher=dispatcher)
            )

    # -- user actions -----------------------------------------------------------------------

    def cancel_run(self, run_id: str) -> tuple[RunRecord, JobEvent | None]:
        """Stop a run: no new chunk starts; committed rows stay and stay counted."""
        now = utcnow()
        with self._write() as conn:
            run = _lock_run(conn, run_id)
            if run is None:
                raise RunNotFound(run_id)
            if run["status"] not in ACTIVE_STATUSES:
                raise RunStateError(f"run {run_id} is already {run['status']}; nothing to cancel")
            conn.execute(
                job_chunks.update()
                .where(job_chunks.c.run_id == run_id, job_chunks.c.status == "pending")
                .values(status="cancelled")
            )
            values = {
                "status": "cancelled",
                "finished_at": now,
                "error": "cancelled by user",
                "seq": run["seq"] + 1,
                "eta_seconds": None,
            }
            conn.execute(job_runs.update().where(job_runs.c.id == run_id).values(**values))
            event = _event("JobFailed", {**run, **values})
            _record_event(conn, run, event)
        return self.get_run(run_id), event

    def reopen_chunks(self, run_id: str, *, only_failed: bool) -> list[int]:
        """Make a stopped run's unfinished chunks pending again and the run queued.

        ``only_failed`` (retry) requires chunks that failed; otherwise (resume) every
        chunk not done is reopened. Returns the pending chunk numbers to submit.
        """
        with self._write() as conn:
            run = _lock_run(conn, run_id)
            if run is None:
                raise RunNotFound(run_id)
            if run["status"] in ("completed", "completed_with_errors"):
                raise RunStateError(
                    f"run {run_id} is {run['status']}; there is nothing to "
                    f"{'retry' if only_failed else 'resume'}"
                )
            if run["chunks_total"] == 0:
                raise RunStateError(
                    f"run {run_id} stopped before it was planned ({run['error'] or 'no chunks'});"
                    " start it again with a corrected file"
                )
            reopen = ("failed",) if only_failed else ("failed", "cancelled")
            if only_failed:
                failed_count = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(job_chunks)
                    .where(job_chunks.c.run_id == run_id, job_chunks.c.status == "failed")
                ).scalar_one()
                if not failed_count:
                    raise RunStateError(
                        f"run {run_id} has no failed chunks to retry; use resume to continue it"
                    )
            conn.execute(
                job_chunks.update()
                .where(job_chunks.c.run_id == run_id, job_chunks.c.status.in_(reopen))
                .values(
                    status="pending",
                    errors=0,
                    error=None,
                    available_at=None,
                    lease_expires_at=None,
                )
            )
            if run["status"] not in ACTIVE_STATUSES:
                conn.execute(
                    job_runs.update()
                    .where(job_runs.c.id == run_id)
                    .values(
                        status="running" if run["started_at"] else "queued",
                        finished_at=None,
                        error=None,
                    )
                )
            return list(
                conn.execute(
                    sa.select(job_chunks.c.no)
                    .where(job_chunks.c.run_id == run_id, job_chunks.c.status == "pending")
                    .order_by(job_chunks.c.no)
                ).scalars()
            )

    # -- failures ---------------------------------------------------------------------------

    def list_failures(
        self, run_id: str, *, limit: int = 100, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(
                    job_failures.c.line,
                    job_failures.c.column,
                    job_failures.c.message,
                    job_failures.c.errors,
                    job_failures.c.raw,
                    job_failures.c.chunk_no,
                )
                .where(job_failures.c.run_id == run_id)
                .order_by(sa.func.coalesce(job_failures.c.line, 0), job_failures.c.id)
                .limit(limit)
                .offset(offset)
            ).mappings()
            items = [dict(row) for row in rows]
            count = conn.execute(
                sa.select(sa.func.count())
                .select_from(job_failures)
                .where(job_failures.c.run_id == run_id)
            ).scalar_one()
        return items, int(count)

    def iter_failures(self, run_id: str, *, batch: int = 1_000) -> Iterator[dict[str, Any]]:
        """Every failure of a run in line order, read in keyset pages (constant memory)."""
        after: tuple[int, int] = (-1, -1)
        while True:
            with self._read() as conn:
                rows = (
                    conn.execute(
                        sa.select(
                            job_failures.c.id,
                            job_failures.c.line,
                            job_failures.c.column,
                            job_failures.c.message,
                            job_failures.c.raw,
                        )
                        .where(
                            job_failures.c.run_id == run_id,
                            sa.tuple_(sa.func.coalesce(job_failures.c.line, 0), job_failures.c.id)
                            > sa.tuple_(*after),
                        )
                        .order_by(sa.func.coalesce(job_failures.c.line, 0), job_failures.c.id)
                        .limit(batch)
                    )
                    .mappings()
                    .all()
                )
            if not rows:
                return
            yield from (dict(row) for row in rows)
            last = rows[-1]
            after = (last["line"] or 0, last["id"])

    # -- events -----------------------------------------------------------------------------

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

    def events_after_id(self, event_id: int, *, limit: int = 500) -> list[tuple[int, JobEvent]]:
        """Events of every run recorded after ``event_id``: what a process tails to fan out."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(job_events.c.id, job_events.c.payload)
                .where(job_events.c.id > event_id)
                .order_by(job_events.c.id)
                .limit(limit)
            ).all()
            return [(row.id, event_from_dict(row.payload)) for row in rows]

    # -- users ------------------------------------------------------------------------------

    def create_user(
        self, name: str, token_hash: str, *, is_admin: bool, roles: Sequence[str] = ()
    ) -> UserRecord:
        with self._write() as conn:
            user_id = conn.execute(
                job_users.insert()
                .values(
                    name=name,
                    token_hash=token_hash,
                    is_admin=is_admin,
                    roles=list(roles),
                    created_at=utcnow(),
                )
                .returning(job_users.c.id)
            ).scalar_one()
        return UserRecord(user_id, name, is_admin, tuple(roles))

    def user_by_token_hash(self, token_hash: str) -> UserRecord | None:
        with self._read() as conn:
            row = (
                conn.execute(sa.select(job_users).where(job_users.c.token_hash == token_hash))
                .mappings()
                .first()
            )
        if row is None:
            return None
        return UserRecord(row["id"], row["name"], row["is_admin"], tuple(row["roles"] or ()))

    def user_by_session(self, token_hash: str, session_id: str) -> UserRecord | None:
        """The user a dashboard session was opened for, unless that session was ended.

        One read: the user by token hash, if no ended session has this id.
        """
        ended = sa.select(job_ended_sessions.c.id).where(job_ended_sessions.c.id == session_id)
        with self._read() as conn:
            row = (
                conn.execute(
                    sa.select(job_users).where(
                        job_users.c.token_hash == token_hash, ~sa.exists(ended)
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            return None
        return UserRecord(row["id"], row["name"], row["is_admin"], tuple(row["roles"] or ()))

    def end_session(self, session_id: str, expires_at: datetime) -> None:
        """Record that a dashboard session is over (signed out) until it would have expired.

        Ended sessions that have expired anyway are deleted on the way, so the
        table holds at most the sessions signed out within one session lifetime.
        Ending a session twice is harmless.
        """
        with self._write() as conn:
            conn.execute(
                job_ended_sessions.delete().where(job_ended_sessions.c.expires_at < utcnow())
            )
            known = conn.execute(
                sa.select(job_ended_sessions.c.id).where(job_ended_sessions.c.id == session_id)
            ).first()
            if known is None:
                conn.execute(
                    job_ended_sessions.insert().values(id=session_id, expires_at=expires_at)
                )

    def user_exists(self, name: str) -> bool:
        with self._read() as conn:
            return (
                conn.execute(sa.select(job_users.c.id).where(job_users.c.name == name)).first()
                is not None
            )

    # -- HTTP API (jobport.api) ---------------------------------------------------------------

    def ping(self) -> None:
        """Touch the database (readiness checks): raises if it cannot be reached."""
        with self._read() as conn:
            conn.execute(sa.select(1))

    def outbox_after(self, event_id: int, limit: int = 500) -> list[tuple[int, JobEvent, datetime]]:
        """Like :meth:`events_after_id`, with when each event was recorded (its commit)."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(job_events.c.id, job_events.c.payload, job_events.c.created_at)
                .where(job_events.c.id > event_id)
                .order_by(job_events.c.id)
                .limit(limit)
            ).all()
            return [(row.id, event_from_dict(row.payload), row.created_at) for row in rows]

    def runs_with_results(
        self,
        *,
        kind: str | tuple[str, ...],
        owner: str | None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[RunRecord], int]:
        """Finished runs of ``kind`` that left a result file, newest first (owner None: all)."""
        conditions = [
            job_runs.c.kind.in_((kind,) if isinstance(kind, str) else kind),
            job_runs.c.result_key.is_not(None),
            job_runs.c.result_key != "",  # an export whose file could not be assembled
            job_runs.c.status.in_(("completed", "completed_with_errors")),
        ]
        if owner is not None:
            conditions.append(job_runs.c.owner == owner)
        with self._read() as conn:
            return _page_of_runs(conn, conditions, job_runs.c.finished_at, limit, offset)

    def set_user_token(self, name: str, token_hash: str) -> bool:
        """Replace a user's token (the old one stops working); False if there is no such user."""
        with self._write() as conn:
            result = conn.execute(
                job_users.update().where(job_users.c.name == name).values(token_hash=token_hash)
            )
            return result.rowcount == 1

    # -- run statistics (the web dashboard) ---------------------------------------------------

    def run_stats(
        self,
        *,
        owner: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        window: int | None = None,
    ) -> RunStats:
        """Volume per day and type, outcome rates, rows/s and p50/p95 duration per type.

        Reads the newest ``window`` runs (default :data:`STATS_WINDOW`) created in
        ``[since, until)`` (default: the last :data:`STATS_DAYS` UTC days) and
        aggregates them in Python: percentiles have no portable SQL
        (PostgreSQL's ``percentile_cont`` has no SQLite counterpart), and a
        bounded window keeps a dashboard page cheap however long the history
        grows. ``truncated`` says older runs of the period were
        left out. ``owner`` None counts everyone's runs (what an admin sees).
        """
        window = window or STATS_WINDOW
        until = until or utcnow()
        if since is None:
            today = until.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            since = today - timedelta(days=STATS_DAYS - 1)
        conditions = [job_runs.c.created_at >= since, job_runs.c.created_at < until]
        if owner is not None:
            conditions.append(job_runs.c.owner == owner)
        with self._read() as conn:
            rows = conn.execute(
                sa.select(
                    job_runs.c.type,
                    job_runs.c.kind,
                    job_runs.c.status,
                    job_runs.c.created_at,
                    job_runs.c.started_at,
                    job_runs.c.finished_at,
                    job_runs.c.processed,
                    job_runs.c.failed,
                )
                .where(*conditions)
                .order_by(job_runs.c.created_at.desc())
                .limit(window + 1)
            ).all()
        truncated = len(rows) > window
        return _run_stats([row._asdict() for row in rows[:window]], since, until, truncated)


# -- helpers ----------------------------------------------------------------------------------


def _held_by(claim: Claim) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        job_chunks.c.run_id == claim.run_id,
        job_chunks.c.no == claim.no,
        job_chunks.c.status == "running",
        job_chunks.c.attempts == claim.token,
    )


def _commit_under_run_lock(
    conn: Connection,
    claim: Claim,
    outcome: ChunkOutcome,
    in_order: bool,
    now: datetime,
    *,
    wrote: bool,
) -> JobEvent | None:
    """The part of a commit done under the run's lock (its rows too, unless ``wrote``)."""
    run = _lock_run(conn, claim.run_id)
    if run is None:
        raise LeaseLost(f"run {claim.run_id} no longer exists")
    if run["status"] not in ACTIVE_STATUSES:
        # The run was cancelled or failed meanwhile: keep nothing of this chunk.
        if wrote:
            raise _RunStopped
        _set_aside(conn, claim, run["status"])
        return None
    if in_order and claim.no > 0:
        previous = _chunk_turn(conn, claim.run_id, claim.no - 1)
        if previous.status != "done":
            raise _not_your_turn(claim.no - 1, previous, now)
    done = conn.execute(
        job_chunks.update()
        .where(*_held_by(claim))
        .values(
            status="done",
            processed=outcome.processed,
            failed=outcome.failed,
            finished_at=now,
            lease_owner=None,
            lease_expires_at=None,
            error=None,
        )
    )
    if done.rowcount != 1:
        raise LeaseLost(
            f"chunk {claim.no} of run {claim.run_id} is no longer held by attempt "
            f"{claim.token}; its commit was discarded"
        )
    if outcome.write is not None and not wrote:
        outcome.write(conn)
    _insert_failures(conn, claim, outcome.failures)
    processed = run["processed"] + outcome.processed
    failed = run["failed"] + outcome.failed
    chunks_done = run["chunks_done"] + 1
    finished = chunks_done >= run["chunks_total"]
    started = run["started_at"] or now
    elapsed = max((now - started).total_seconds(), 1e-6)
    rate = processed / elapsed
    total = run["total"]
    if total is not None:
        processed = min(processed, total)
    eta = (total - processed) / rate if total is not None and rate > 0 else None
    values: dict[str, Any] = {
        "processed": processed,
        "failed": failed,
        "chunks_done": chunks_done,
        "rows_per_second": rate,
        "eta_seconds": 0.0 if finished else eta,
        "seq": run["seq"] + 1,
    }
    if finished:
        values["status"] = "completed_with_errors" if failed else "completed"
        values["finished_at"] = now
        if total is None:
            values["total"] = processed
    conn.execute(job_runs.update().where(job_runs.c.id == claim.run_id).values(**values))
    event = _event("JobCompleted" if finished else "JobProgressed", {**run, **values})
    _record_event(conn, run, event)
    return event


# -- PostgreSQL: a chunk's rows written before the run's lock -------------------------------


class _RunStopped(Exception):
    """The run stopped while its chunk was committing: roll its rows back, set it aside."""


#: SQLSTATEs of a lock cycle the server broke (deadlock) or a serialization failure.
_LOCK_CYCLE_STATES = frozenset({"40P01", "40001"})


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error, raw or wrapped by SQLAlchemy."""
    for candidate in (exc, getattr(exc, "orig", None)):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


def _write_before_run_lock(
    conn: Connection, claim: Claim, outcome: ChunkOutcome, *, in_order: bool, now: datetime
) -> None:
    """Write a chunk's rows before the run's lock, keeping file order where it matters.

    Under the run's lock, the writes of a run's chunks would run one at a time,
    the server's bulk load idling every other worker. Written first, two
    chunks' rows load side by side. Order still holds where two chunks write
    the same key, through the server's own locks: a chunk starts writing only
    once the previous one is done or is itself writing (it holds an advisory
    lock on its number while it commits), so a key both hold is inserted or
    updated first by the earlier chunk, and the later one waits on that row
    until the earlier one commits, then overwrites it. A chunk then waits for
    the previous commit to end and, under the run's lock, checks that it is
    done; if it is not (it failed or lost its lease), everything rolls back and
    nothing was written. Two chunks that took keys in crossing order form a
    lock cycle, which the server breaks by failing one (:class:`CommitConflict`,
    committed again at once).
    """
    assert outcome.write is not None
    if not in_order:
        outcome.write(conn)
        return
    key = _advisory_key(claim.run_id)
    if claim.no > 0:
        previous = _chunk_turn(conn, claim.run_id, claim.no - 1)
        if previous.status != "done" and not _committing(conn, key, claim.no - 1):
            raise _not_your_turn(claim.no - 1, previous, now)
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key, claim.no)))
    outcome.write(conn)
    if claim.no > 0:
        # Until the previous chunk's transaction ends, committed or rolled back.
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock_shared(key, claim.no - 1)))


def _advisory_key(run_id: str) -> int:
    """A run's advisory lock key: 31 bits of a stable hash of its id.

    Two runs sharing a key only make one wait for the other now and then: the
    check under the run's lock, not this key, decides what commits.
    """
    digest = hashlib.blake2b(run_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF


def _committing(conn: Connection, key: int, no: int) -> bool:
    """Whether chunk ``no`` of the run with advisory ``key`` is in its commit right now."""
    held = conn.execute(
        sa.text(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid = CAST(:key AS oid) AND objid = CAST(:no AS oid) AND objsubid = 2 "
            "AND mode = 'ExclusiveLock' AND granted)"
        ),
        {"key": key, "no": no},
    ).scalar_one()
    return bool(held)


@dataclass(frozen=True)
class _Turn:
    """Where the chunk before a committing one stands."""

    status: str
    available_at: datetime | None


def _chunk_turn(conn: Connection, run_id: str, no: int) -> _Turn:
    previous = conn.execute(
        sa.select(job_chunks.c.status, job_chunks.c.available_at).where(
            job_chunks.c.run_id == run_id, job_chunks.c.no == no
        )
    ).first()
    if previous is None:
        raise NotYourTurn(no, "missing")
    return _Turn(previous.status, previous.available_at)


def _not_your_turn(previous_no: int, previous: _Turn, now: datetime) -> NotYourTurn:
    backoff = None
    if previous.status == "pending" and previous.available_at is not None:
        backoff = max((previous.available_at - now).total_seconds(), 0.0)
    return NotYourTurn(previous_no, previous.status, backoff)


def _set_aside(conn: Connection, claim: Claim, run_status: str) -> None:
    """Give back a chunk of a run that stopped: cancelled with it, or pending for a resume."""
    conn.execute(
        job_chunks.update()
        .where(*_held_by(claim))
        .values(
            status="cancelled" if run_status == "cancelled" else "pending",
            lease_owner=None,
            lease_expires_at=None,
        )
    )


def _due_deliveries(
    now: datetime, types: Collection[str] | None
) -> tuple[sa.ColumnElement[bool], ...]:
    """Pending chunks of active runs (of ``types``) that a delivery may claim now."""
    active = sa.select(job_runs.c.id).where(job_runs.c.status.in_(ACTIVE_STATUSES))
    if types is not None:
        active = active.where(job_runs.c.type.in_(list(types)))
    return (
        job_chunks.c.status == "pending",
        sa.or_(job_chunks.c.available_at.is_(None), job_chunks.c.available_at <= now),
        job_chunks.c.run_id.in_(active),
    )


def _first_unfinished_before(
    conn: Connection, run_id: str, no: int
) -> sa.Row[Any, Any, Any] | None:
    """The chunk an in-order commit of chunk ``no`` waits for: the first not done before it."""
    return conn.execute(
        sa.select(job_chunks.c.no, job_chunks.c.status, job_chunks.c.available_at)
        .where(job_chunks.c.run_id == run_id, job_chunks.c.no < no, job_chunks.c.status != "done")
        .order_by(job_chunks.c.no)
        .limit(1)
    ).first()


def _backing_off(first: sa.Row[Any, Any, Any] | None, now: datetime) -> tuple[int, float] | None:
    """``first``'s number and seconds left, if it is pending and backing off after a failure."""
    if first is None or first.status != "pending" or first.available_at is None:
        return None
    remaining = (first.available_at - now).total_seconds()
    return (first.no, remaining) if remaining > 0 else None


def _idle(first: sa.Row[Any, Any, Any] | None, now: datetime) -> int | None:
    """``first``'s number, if it is pending and due: no worker holds it."""
    if first is None or first.status != "pending":
        return None
    due = first.available_at is None or first.available_at <= now
    return int(first.no) if due else None


def _backoff_before(
    conn: Connection, run_id: str, no: int, now: datetime
) -> tuple[int, float] | None:
    return _backing_off(_first_unfinished_before(conn, run_id, no), now)


def _lock_run(conn: Connection, run_id: str) -> RowMapping | None:
    """Read the run row, locking it on databases with row locks.

    Every write to a run's counters goes through this lock, so two chunks of
    one run committing at once on PostgreSQL serialize instead of racing.
    """
    return (
        conn.execute(sa.select(job_runs).where(job_runs.c.id == run_id).with_for_update())
        .mappings()
        .first()
    )


def _page_of_runs(
    conn: Connection,
    conditions: list[sa.ColumnElement[bool]],
    newest_by: sa.Column[Any],
    limit: int,
    offset: int,
) -> tuple[list[RunRecord], int]:
    """One page of the runs matching ``conditions``, newest first, and how many match."""
    rows = conn.execute(
        sa.select(job_runs)
        .where(*conditions)
        .order_by(newest_by.desc(), job_runs.c.id.desc())
        .limit(limit)
        .offset(offset)
    ).mappings()
    runs = [RunRecord.from_row(row) for row in rows]
    count = conn.execute(
        sa.select(sa.func.count()).select_from(job_runs).where(*conditions)
    ).scalar_one()
    return runs, int(count)


def _run_conditions(filters: RunFilter) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if filters.kind:
        conditions.append(job_runs.c.kind == filters.kind)
    if filters.type:
        conditions.append(job_runs.c.type == filters.type)
    if filters.status:
        conditions.append(job_runs.c.status == filters.status)
    if filters.owner:
        conditions.append(job_runs.c.owner == filters.owner)
    if filters.since:
        conditions.append(job_runs.c.created_at >= filters.since)
    if filters.until:
        conditions.append(job_runs.c.created_at < filters.until)
    return conditions


def _insert_failures(conn: Connection, claim: Claim, failures: Sequence[Failure]) -> None:
    for start in range(0, len(failures), FAILURE_BATCH):
        conn.execute(
            job_failures.insert(),
            [
                {
                    "run_id": claim.run_id,
                    "chunk_no": claim.no,
                    "line": failure.line,
                    "column": failure.column,
                    "message": failure.message,
                    "errors": failure.errors,
                    "raw": failure.raw,
                }
                for failure in failures[start : start + FAILURE_BATCH]
            ],
        )


def _fail_run(conn: Connection, run: RowMapping, error: str, now: datetime) -> JobEvent:
    values = {
        "status": "failed",
        "error": error,
        "finished_at": now,
        "seq": run["seq"] + 1,
        "eta_seconds": None,
    }
    conn.execute(job_runs.update().where(job_runs.c.id == run["id"]).values(**values))
    event = _event("JobFailed", {**run, **values})
    _record_event(conn, run, event)
    return event


def _event(name: str, run: dict[str, Any]) -> JobEvent:
    return JobEvent(
        name=name,  # type: ignore[arg-type]
        run_id=run["id"],
        type=run["type"],
        kind=run["kind"],
        status=run["status"],
        total=run["total"],
        processed=run["processed"],
        failed=run["failed"],
        seq=run["seq"],
        rows_per_second=run.get("rows_per_second"),
        eta_seconds=run.get("eta_seconds"),
        error=run.get("error"),
    )


def _record_event(conn: Connection, run: RowMapping, event: JobEvent) -> None:
    """Keep the event for other processes to stream, where the type allows it.

    Types with ``broadcast`` off keep their events in-process; strategy ``none``
    publishes only the final event.
    """
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


# -- run statistics (the web dashboard) -------------------------------------------------------

#: Most runs :meth:`JobStore.run_stats` reads for one answer.
STATS_WINDOW = 20_000
#: Days of history :meth:`JobStore.run_stats` covers by default.
STATS_DAYS = 14


@dataclass(frozen=True)
class TypeStats:
    """The runs of one job type over a period: outcomes, rows, speed and duration."""

    type: str
    kind: str
    runs: int
    active: int
    completed: int
    #: Completed, with some rows rejected.
    with_errors: int
    failed: int
    cancelled: int
    rows: int
    failed_rows: int
    #: Rows processed per second of run time, over the finished runs that took time.
    rows_per_second: float | None
    #: Median and 95th percentile of the completed runs' durations (started to finished).
    p50_seconds: float | None
    p95_seconds: float | None

    @property
    def finished(self) -> int:
        return self.completed + self.with_errors + self.failed + self.cancelled

    @property
    def success_rate(self) -> float | None:
        """Share of finished runs that completed (with or without rejected rows)."""
        return (self.completed + self.with_errors) / self.finished if self.finished else None

    @property
    def failure_rate(self) -> float | None:
        """Share of finished runs that failed (cancelled runs are neither)."""
        return self.failed / self.finished if self.finished else None


@dataclass(frozen=True)
class RunStats:
    """What :meth:`JobStore.run_stats` found for one period."""

    since: datetime
    until: datetime
    #: Every UTC day of the period (midnight), oldest first.
    days: list[datetime]
    #: Runs created per day, by type key, aligned with ``days``.
    volume: dict[str, list[int]]
    #: One entry per type seen, by type key.
    types: list[TypeStats]
    runs: int
    #: More runs than the window were created in the period; the oldest are not counted.
    truncated: bool


def _run_stats(
    rows: Sequence[Mapping[str, Any]], since: datetime, until: datetime, truncated: bool
) -> RunStats:
    first = since.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    last = (until - timedelta(microseconds=1)).astimezone(UTC)
    days = []
    day = first
    while day <= last:
        days.append(day)
        day += timedelta(days=1)
    index = {d.date(): n for n, d in enumerate(days)}
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    volume: dict[str, list[int]] = {}
    for row in rows:
        by_type.setdefault(row["type"], []).append(row)
        slot = index.get(row["created_at"].astimezone(UTC).date())
        if slot is not None:
            volume.setdefault(row["type"], [0] * len(days))[slot] += 1
    types = [_type_stats(name, runs) for name, runs in sorted(by_type.items())]
    return RunStats(since, until, days, volume, types, len(rows), truncated)


def _type_stats(name: str, runs: Sequence[Mapping[str, Any]]) -> TypeStats:
    status = [run["status"] for run in runs]
    durations = []
    busy_seconds = 0.0
    busy_rows = 0
    for run in runs:
        if run["started_at"] is None or run["finished_at"] is None:
            continue
        seconds = (run["finished_at"] - run["started_at"]).total_seconds()
        if run["status"] in ("completed", "completed_with_errors"):
            durations.append(seconds)
        if seconds > 0 and run["processed"]:
            busy_seconds += seconds
            busy_rows += int(run["processed"])
    durations.sort()
    return TypeStats(
        type=name,
        kind=runs[0]["kind"],
        runs=len(runs),
        active=sum(s in ACTIVE_STATUSES for s in status),
        completed=status.count("completed"),
        with_errors=status.count("completed_with_errors"),
        failed=status.count("failed"),
        cancelled=status.count("cancelled"),
        rows=sum(int(run["processed"] or 0) for run in runs),
        failed_rows=sum(int(run["failed"] or 0) for run in runs),
        rows_per_second=busy_rows / busy_seconds if busy_seconds > 0 else None,
        p50_seconds=_percentile(durations, 0.50),
        p95_seconds=_percentile(durations, 0.95),
    )


def _percentile(ordered: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile of sorted values, interpolated linearly between ranks."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)
