"""Committing a chunk: its rows, failures, done mark, the run's counters and event at once.

A commit is accepted only from the current hold on the chunk (its fencing
token), so a stale or repeated delivery changes nothing. Where the target
database is the state database, the chunk's rows are written in the same
transaction. With ``in_order`` (syncs: later pages win on a shared key) a
chunk commits only after the previous one is done.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jobport import lifecycle
from jobport.errors import LeaseLost
from jobport.events import JobEvent
from jobport.lifecycle import ACTIVE_STATUSES, ChunkStatus, RunStatus
from jobport.store.outbox import event_of, record_event
from jobport.store.prune import capped_failures, with_repeated
from jobport.store.records import ChunkOutcome, Claim, Failure, RowCounts
from jobport.store.run_ends import end_failed
from jobport.store.runs import chunk_numbers
from jobport.store.section import Section, held_by, lock_run, set_aside, utcnow
from jobport.store.tables import job_chunks, job_failures, job_runs

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


class Commits(Section):
    def commit_chunk(
        self,
        claim: Claim,
        outcome: ChunkOutcome,
        *,
        in_order: bool = False,
        then_finish: bool = False,
        max_stored_failures: int | None = None,
    ) -> JobEvent | None:
        """Commit a chunk's rows, failures, done mark, counters and event atomically.

        Raises :class:`LeaseLost` (and changes nothing) when ``claim`` is no longer
        the current hold on the chunk. With ``in_order``, raises :class:`NotYourTurn`
        (changing nothing) until the previous chunk is done, so that where two
        chunks write the same key the later one in the file wins. Returns the
        event to hand to in-process listeners, or None when the run stopped
        meanwhile and the chunk was set aside instead.

        With ``then_finish`` (the run's kind has a last step), the commit of the
        last chunk leaves the run ``running`` at its final counters: it becomes
        completed with its result in :meth:`~jobport.store.run_ends.RunEnds.complete_run`.

        A run stores at most ``max_stored_failures`` failures; further ones are counted
        only (see :func:`~jobport.store.prune.capped_failures`).
        """
        now = utcnow()
        # On PostgreSQL the rows land before the run's lock is taken, so that two
        # chunks' writes overlap on the server; see _write_before_run_lock.
        early = outcome.write is not None and self.engine.dialect.name == "postgresql"
        try:
            with self._write() as conn:
                counts = None
                if early:
                    counts = _write_before_run_lock(
                        conn, claim, outcome, in_order=in_order, now=now
                    )
                return _commit_under_run_lock(
                    conn,
                    claim,
                    outcome,
                    in_order,
                    now,
                    wrote=early,
                    counts=counts,
                    then_finish=then_finish,
                    max_stored_failures=max_stored_failures,
                )
        except _PastLimit as past:
            # The rows written early were rolled back; now withhold the chunk and stop.
            with self._write() as conn:
                run = _still_active(conn, claim)
                return None if run is None else _withhold(conn, claim, run, past.error, now)
        except _RunStopped:
            # The rows written early were rolled back with the rest; only mark the chunk.
            with self._write() as conn:
                if _still_active(conn, claim) is None:
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


def _still_active(conn: Connection, claim: Claim) -> Any | None:
    """The claim's run, locked, while it is active; else None, the chunk set aside."""
    run = lock_run(conn, claim.run_id)
    if run is None or run["status"] not in ACTIVE_STATUSES:
        if run is not None:
            set_aside(conn, claim, run["status"])
        return None
    return run


def _commit_under_run_lock(
    conn: Connection,
    claim: Claim,
    outcome: ChunkOutcome,
    in_order: bool,
    now: datetime,
    *,
    wrote: bool,
    counts: RowCounts | None,
    then_finish: bool,
    max_stored_failures: int | None = None,
) -> JobEvent | None:
    """The part of a commit done under the run's lock (its rows too, unless ``wrote``:
    then ``counts`` are what writing them did).

    The rows are written before the chunk is marked done, so that the chunk's
    row records what they did; a chunk whose hold was lost meanwhile rolls both
    back. Past the run's failure thresholds (``outcome.limits``), this chunk
    stays committed and the run fails, saying which chunks were committed.
    """
    run = lock_run(conn, claim.run_id)
    if run is None:
        raise LeaseLost(f"run {claim.run_id} no longer exists")
    if run["status"] not in ACTIVE_STATUSES:
        # The run was cancelled or failed meanwhile: keep nothing of this chunk.
        if wrote:
            raise _RunStopped
        set_aside(conn, claim, run["status"])
        return None
    if in_order and claim.no > 0:
        previous = _chunk_turn(conn, claim.run_id, claim.no - 1)
        if previous.status != ChunkStatus.DONE:
            raise _not_your_turn(claim.no - 1, previous, now)
    withheld = _past_limits(conn, run, outcome)
    if withheld is not None:
        if wrote:
            raise _PastLimit(withheld)
        return _withhold(conn, claim, run, withheld, now)
    if outcome.write is not None and not wrote:
        counts = outcome.write(conn)
    _mark_done(conn, claim, outcome, counts, now)
    kept, params = capped_failures(outcome.failures, run, max_stored_failures)
    params = with_repeated(params or run["params"] or {}, outcome.repeated) or params
    _insert_failures(conn, claim, kept)
    values = _counters_after(run, outcome, counts, now, then_finish=then_finish)
    stop = (
        outcome.limits.exceeded(values["failed"], values["processed"])
        if outcome.limits and run["dry_run"]
        else None
    )
    if stop is not None:
        values.update(_stopped(conn, run, stop, values["processed"], now))
    if params is not None:
        values["params"] = params  # its warning: failures counted, not all kept
    conn.execute(job_runs.update().where(job_runs.c.id == claim.run_id).values(**values))
    merged = {**run, **values}
    event = event_of(lifecycle.event_after_commit(merged["status"]), merged)
    record_event(conn, run, event)
    return event


def _mark_done(
    conn: Connection,
    claim: Claim,
    outcome: ChunkOutcome,
    counts: RowCounts | None,
    now: datetime,
) -> None:
    done = conn.execute(
        job_chunks.update()
        .where(*held_by(claim))
        .values(
            status=ChunkStatus.DONE,
            processed=outcome.processed,
            failed=outcome.failed,
            finished_at=now,
            lease_owner=None,
            lease_expires_at=None,
            error=None,
            **_counted(counts),
        )
    )
    if done.rowcount != 1:
        raise LeaseLost(
            f"chunk {claim.no} of run {claim.run_id} is no longer held by attempt "
            f"{claim.token}; its commit was discarded"
        )


def _counted(counts: RowCounts | None) -> dict[str, int]:
    """A chunk's created/updated/unchanged columns (none when its write did not count)."""
    if counts is None:
        return {}
    return {"created": counts.created, "updated": counts.updated, "unchanged": counts.unchanged}


def _stopped(
    conn: Connection, run: Any, exceeded: str, processed: int, now: datetime
) -> dict[str, Any]:
    """A run stopped by its failure thresholds: failed, saying which chunks stay committed.

    Its chunks not started stay pending (a resume would run them); those
    running now are set aside when they commit, as for any failed run.
    """
    error = lifecycle.stopped_by_failures(
        exceeded,
        chunk_numbers(conn, run["id"], ChunkStatus.DONE),
        processed,
        dry_run=bool(run["dry_run"]),
    )
    return {"status": RunStatus.FAILED, "error": error, "finished_at": now, "eta_seconds": None}


def _past_limits(conn: Connection, run: Any, outcome: ChunkOutcome) -> str | None:
    """The error of a run this chunk would take past its failure thresholds, else None.

    Such a chunk is not written (:func:`_withhold`): a threshold says how many bad rows
    a run may meet and still write, and this chunk's rows come with more. A dry run
    writes nothing anyway: it counts the chunk and stops after it (see ``_stopped``).
    """
    if outcome.limits is None or run["dry_run"]:
        return None
    failed = run["failed"] + outcome.failed
    exceeded = outcome.limits.exceeded(failed, run["processed"] + outcome.processed)
    if exceeded is None:
        return None
    first = [(f.line, f.message) for f in outcome.failures[: lifecycle.FIRST_SHOWN]]
    return lifecycle.withheld_by_failures(
        exceeded,
        outcome.processed,
        chunk_numbers(conn, run["id"], ChunkStatus.DONE),
        run["processed"],
        first,
    )


def _withhold(
    conn: Connection, claim: Claim, run: Any, error: str, now: datetime
) -> JobEvent | None:
    """Stop the run before this chunk: nothing of it written (its rows, failures and
    counts), the chunk given back as pending (a resume runs it again), the run failed."""
    set_aside(conn, claim, RunStatus.FAILED)
    return end_failed(conn, run, error, now)


def _counters_after(
    run: Any, outcome: ChunkOutcome, counts: RowCounts | None, now: datetime, *, then_finish: bool
) -> dict[str, Any]:
    """The run's new counters, status and sequence number after this chunk's commit.

    A run whose kind has a last step stays active when its chunks are all done.
    """
    failed = run["failed"] + outcome.failed
    chunks_done = run["chunks_done"] + 1
    finished = chunks_done >= run["chunks_total"]
    progress = lifecycle.progress_after_commit(
        processed=run["processed"] + outcome.processed,
        total=run["total"],
        started=run["started_at"] or now,
        now=now,
        all_done=finished,
    )
    values: dict[str, Any] = {
        "processed": progress.processed,
        "failed": failed,
        "chunks_done": chunks_done,
        "rows_per_second": progress.rows_per_second,
        "eta_seconds": progress.eta_seconds,
        "seq": run["seq"] + 1,
    }
    for name, count in _counted(counts).items():
        values[name] = (run[name] or 0) + count
    if finished:
        values["total"] = progress.total
    if finished and not then_finish:
        values["status"] = lifecycle.status_when_done(failed, progress.processed)
        values["finished_at"] = now
        if values["status"] == RunStatus.FAILED:
            values["error"] = lifecycle.every_row_failed(failed, dry_run=bool(run["dry_run"]))
    return values


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


# -- PostgreSQL: a chunk's rows written before the run's lock -------------------------------


class _PastLimit(Exception):
    """The chunk would take its run past its failure thresholds: roll its rows back."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


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
) -> RowCounts | None:
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
        return outcome.write(conn)
    key = _advisory_key(claim.run_id)
    if claim.no > 0:
        previous = _chunk_turn(conn, claim.run_id, claim.no - 1)
        if previous.status != ChunkStatus.DONE and not _committing(conn, key, claim.no - 1):
            raise _not_your_turn(claim.no - 1, previous, now)
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key, claim.no)))
    counts = outcome.write(conn)
    if claim.no > 0:
        # Until the previous chunk's transaction ends, committed or rolled back.
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock_shared(key, claim.no - 1)))
    return counts


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
    if previous.status == ChunkStatus.PENDING and previous.available_at is not None:
        backoff = max((previous.available_at - now).total_seconds(), 0.0)
    return NotYourTurn(previous_no, previous.status, backoff)
