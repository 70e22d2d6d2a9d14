"""How a run ends or is reopened: its last step, failing, cancelling, retrying, resuming.

Every change of a run's status is one transaction under the run's lock
(:func:`~jobport.store.section.lock_run`), its target status taken from
:mod:`jobport.lifecycle` and its event recorded with it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from jobport import lifecycle
from jobport.errors import RunNotFound, RunStateError
from jobport.events import JobEvent
from jobport.lifecycle import ACTIVE_STATUSES, COMPLETED_STATUSES, ChunkStatus, RunStatus
from jobport.store.outbox import event_of, record_event
from jobport.store.records import RunRecord
from jobport.store.runs import RunLookup, chunk_numbers
from jobport.store.section import lock_run, utcnow
from jobport.store.tables import job_chunks, job_runs


class RunEnds(RunLookup):
    """A run's last step taken and completed; a run failed, cancelled or reopened."""

    # -- the last step (a kind's finish) ------------------------------------------------------

    def claim_finish(self, run_id: str, seconds: float) -> RunRecord | None:
        """Take the run's last step if every chunk is done and nobody is at it.

        Returns the run to finish, or None (chunks still to do, finished,
        stopped, or another worker's lease on the step has not run out).
        """
        now = utcnow()
        with self._write() as conn:
            taken = conn.execute(
                job_runs.update()
                .where(job_runs.c.id == run_id, *_awaiting_finish(now))
                .values(finishing_until=now + timedelta(seconds=seconds))
            )
        return self.get_run(run_id) if taken.rowcount == 1 else None

    def renew_finish(self, run_id: str, seconds: float) -> bool:
        """Extend the lease on a run's last step; False if the run is no longer to finish."""
        with self._write() as conn:
            renewed = conn.execute(
                job_runs.update()
                .where(
                    job_runs.c.id == run_id,
                    job_runs.c.status.in_(ACTIVE_STATUSES),
                    job_runs.c.finishing_until.is_not(None),
                )
                .values(finishing_until=utcnow() + timedelta(seconds=seconds))
            )
            return renewed.rowcount == 1

    def complete_run(self, run_id: str, key: str, result: dict[str, Any]) -> JobEvent | None:
        """Complete a run whose chunks are all done, with its result, in one transaction.

        The status, the result (file key, metadata) and the JobCompleted event
        commit together: no reader sees a completed run without its result.
        Returns None, changing nothing, when the run is no longer to finish
        (completed by another worker, or stopped meanwhile).
        """
        now = utcnow()
        with self._write() as conn:
            run = lock_run(conn, run_id)
            if run is None or run["status"] not in ACTIVE_STATUSES:
                return None
            if run["chunks_done"] < run["chunks_total"]:
                return None
            status = lifecycle.status_when_done(run["failed"], run["processed"])
            values = {
                "status": status,
                "finished_at": now,
                "eta_seconds": 0.0,
                "result_key": key,
                "result": result,
                "finishing_until": None,
                "seq": run["seq"] + 1,
            }
            if status == RunStatus.FAILED:
                values["error"] = lifecycle.every_row_failed(run["failed"])
            conn.execute(job_runs.update().where(job_runs.c.id == run_id).values(**values))
            event = event_of(lifecycle.event_after_commit(status), {**run, **values})
            record_event(conn, run, event)
        return event

    def unfinished_runs(self, *, types: Collection[str] | None = None) -> list[str]:
        """Runs whose chunks are all done but whose last step nobody is running.

        The worker that committed the last chunk died before it finished the
        run (or before it completed it): recovery runs the step again.
        """
        query = sa.select(job_runs.c.id).where(*_awaiting_finish(utcnow()))
        if types is not None:
            query = query.where(job_runs.c.type.in_(list(types)))
        with self._read() as conn:
            return list(conn.execute(query.order_by(job_runs.c.created_at)).scalars())

    # -- stopping and reopening ---------------------------------------------------------------

    def fail_run(self, run_id: str, error: str) -> JobEvent | None:
        """End a run as failed before or outside any chunk (e.g. an unreadable file)."""
        with self._write() as conn:
            run = lock_run(conn, run_id)
            if run is None or run["status"] not in ACTIVE_STATUSES:
                return None
            return end_failed(conn, run, error, utcnow())

    def cancel_run(self, run_id: str) -> tuple[RunRecord, JobEvent | None]:
        """Stop a run: no new chunk starts; committed rows stay and stay counted."""
        now = utcnow()
        with self._write() as conn:
            run = lock_run(conn, run_id)
            if run is None:
                raise RunNotFound(run_id)
            if run["status"] not in ACTIVE_STATUSES:
                raise RunStateError(f"run {run_id} is already {run['status']}; nothing to cancel")
            conn.execute(
                job_chunks.update()
                .where(job_chunks.c.run_id == run_id, job_chunks.c.status == ChunkStatus.PENDING)
                .values(status=ChunkStatus.CANCELLED)
            )
            values = {
                "status": RunStatus.CANCELLED,
                "finished_at": now,
                "error": lifecycle.CANCELLED_BY_USER,
                "seq": run["seq"] + 1,
                "eta_seconds": None,
            }
            conn.execute(job_runs.update().where(job_runs.c.id == run_id).values(**values))
            event = event_of(lifecycle.JOB_FAILED, {**run, **values})
            record_event(conn, run, event)
        return self.get_run(run_id), event

    def reopen_chunks(self, run_id: str, *, only_failed: bool) -> list[int]:
        """Make a stopped run's unfinished chunks pending again and the run queued.

        ``only_failed`` (retry) requires chunks that failed; otherwise (resume) every
        chunk not done is reopened. Returns the pending chunk numbers to submit.
        """
        with self._write() as conn:
            run = lock_run(conn, run_id)
            if run is None:
                raise RunNotFound(run_id)
            _require_reopenable(conn, run, only_failed=only_failed)
            conn.execute(
                job_chunks.update()
                .where(
                    job_chunks.c.run_id == run_id,
                    job_chunks.c.status.in_(lifecycle.reopened_chunks(only_failed=only_failed)),
                )
                .values(
                    status=ChunkStatus.PENDING,
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
                        status=lifecycle.status_when_reopened(started=bool(run["started_at"])),
                        finished_at=None,
                        error=None,
                    )
                )
            return chunk_numbers(conn, run_id)


def end_failed(conn: Connection, run: RowMapping, error: str, now: datetime) -> JobEvent:
    """Fail a run (its row locked by the caller) and record its JobFailed event.

    The lease on the run's last step goes too: the step that failed it is over,
    and a resume's sweep must be free to take the step at once, not when the
    failed attempt's lease would have run out.
    """
    values = {
        "status": RunStatus.FAILED,
        "error": error,
        "finished_at": now,
        "finishing_until": None,
        "seq": run["seq"] + 1,
        "eta_seconds": None,
    }
    conn.execute(job_runs.update().where(job_runs.c.id == run["id"]).values(**values))
    event = event_of(lifecycle.JOB_FAILED, {**run, **values})
    record_event(conn, run, event)
    return event


def _awaiting_finish(now: datetime) -> tuple[sa.ColumnElement[bool], ...]:
    """An active run with every chunk done, whose last step nobody holds."""
    return (
        job_runs.c.status.in_(ACTIVE_STATUSES),
        job_runs.c.chunks_total > 0,
        job_runs.c.chunks_done >= job_runs.c.chunks_total,
        sa.or_(job_runs.c.finishing_until.is_(None), job_runs.c.finishing_until < now),
    )


def _require_reopenable(conn: Connection, run: RowMapping, *, only_failed: bool) -> None:
    """Refuse, saying why, to resume or retry a run that has nothing to resume or retry."""
    run_id = run["id"]
    if run["status"] in COMPLETED_STATUSES:
        raise RunStateError(
            f"run {run_id} is {run['status']}; there is nothing to "
            f"{'retry' if only_failed else 'resume'}"
        )
    if run["chunks_total"] == 0:
        raise RunStateError(
            f"run {run_id} stopped before it was planned ({run['error'] or 'no chunks'});"
            " start it again with a corrected file"
        )
    if only_failed:
        failed_count = conn.execute(
            sa.select(sa.func.count())
            .select_from(job_chunks)
            .where(job_chunks.c.run_id == run_id, job_chunks.c.status == ChunkStatus.FAILED)
        ).scalar_one()
        if not failed_count:
            raise RunStateError(
                f"run {run_id} has no failed chunks to retry; use resume to continue it"
            )
