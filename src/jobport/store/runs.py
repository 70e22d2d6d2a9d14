"""Runs and their chunks as a whole: create, read, list, cancel, reopen, fail, failures.

Every change of a run's status is one transaction under the run's lock
(:func:`~jobport.store.section.lock_run`), its target status taken from
:mod:`jobport.lifecycle` and its event recorded with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
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
from jobport.store.section import Section, lock_run, utcnow
from jobport.store.tables import job_chunks, job_failures, job_runs


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
    #: An import that validates and counts, writing nothing to the target.
    dry_run: bool = False


@dataclass(frozen=True)
class RunFilter:
    kind: str | None = None
    type: str | None = None
    status: str | None = None
    owner: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: Only runs after this (created_at, id) in newest-first order: a keyset page's start,
    #: found through the ``created_at`` indexes however deep the history goes.
    after: tuple[datetime, str] | None = None


class Runs(Section):
    """Runs: created with their chunks, read, listed, stopped and reopened."""

    def create_run(
        self, new: NewRun, chunk_specs: Sequence[dict[str, Any]], *, error: str | None = None
    ) -> RunRecord:
        """Insert the run and its pending chunks in one transaction.

        A run with ``error`` is recorded as failed (a file refused while planning);
        a run with no chunks has nothing to do and is completed at once.
        """
        run_id = new.id or str(uuid.uuid4())
        now = utcnow()
        status = lifecycle.status_at_creation(error=error, chunks=len(chunk_specs))
        ended = None if status == RunStatus.QUEUED else now
        with self._write() as conn:
            conn.execute(
                job_runs.insert().values(
                    id=run_id,
                    type=new.type,
                    kind=new.kind,
                    status=status,
                    error=error,
                    started_at=ended,
                    finished_at=ended,
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
                    dry_run=new.dry_run,
                )
            )
            if chunk_specs:
                conn.execute(job_chunks.insert(), _chunk_rows(run_id, chunk_specs))
            if status != RunStatus.QUEUED:
                run = lock_run(conn, run_id)
                assert run is not None
                conn.execute(job_runs.update().where(job_runs.c.id == run_id).values(seq=1))
                event = event_of(lifecycle.event_at_creation(status), {**run, "seq": 1})
                record_event(conn, run, event)
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> RunRecord:
        """The run with the runs that retried it, in one query (the API's hot read)."""
        with self._read() as conn:
            rows = conn.execute(_RUN_WITH_RETRIES, {"run_id": run_id}).mappings().all()
        if not rows:
            raise RunNotFound(run_id)
        retried_by = tuple(row[_RETRY] for row in rows if row[_RETRY] is not None)
        return RunRecord.from_row(rows[0], retried_by)

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

    def active_runs(self) -> list[RunRecord]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(job_runs)
                .where(job_runs.c.status.in_(ACTIVE_STATUSES))
                .order_by(job_runs.c.created_at)
            ).mappings()
            return [RunRecord.from_row(row) for row in rows]

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
            job_runs.c.status.in_(COMPLETED_STATUSES),
        ]
        if owner is not None:
            conditions.append(job_runs.c.owner == owner)
        with self._read() as conn:
            return _page_of_runs(conn, conditions, job_runs.c.finished_at, limit, offset)

    def set_result(self, run_id: str, key: str, result: dict[str, Any]) -> None:
        """Replace a finished run's result (its file expired and was deleted, say)."""
        with self._write() as conn:
            conn.execute(
                job_runs.update()
                .where(job_runs.c.id == run_id)
                .values(result_key=key, result=result)
            )

    def adopt_run(self, run_id: str, dispatcher: str) -> None:
        """Record which process now delivers the run's chunks (after a restart or resume)."""
        with self._write() as conn:
            conn.execute(
                job_runs.update().where(job_runs.c.id == run_id).values(dispatcher=dispatcher)
            )

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

    # -- chunks of a run ----------------------------------------------------------------------

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
                    job_chunks.c.created,
                    job_chunks.c.updated,
                    job_chunks.c.unchanged,
                    job_chunks.c.error,
                )
                .where(job_chunks.c.run_id == run_id)
                .order_by(job_chunks.c.no)
            ).mappings()
            return [dict(row) for row in rows]

    def chunk_specs(self, run_id: str) -> list[dict[str, Any]]:
        """The specs the run was planned into, in order (what a run of the same plan needs)."""
        with self._read() as conn:
            return list(
                conn.execute(
                    sa.select(job_chunks.c.spec)
                    .where(job_chunks.c.run_id == run_id)
                    .order_by(job_chunks.c.no)
                ).scalars()
            )

    def hand_over(self, dry_run_id: str, run_id: str) -> None:
        """Record that a dry run was imported as ``run_id``, which now holds its files.

        The dry run keeps its counters, failures and header (its error report
        needs nothing else) and forgets its file and how to read it: the run
        that imported it uses them, and removing the dry run (retention) must
        not take them from under it.
        """
        with self._write() as conn:
            run = lock_run(conn, dry_run_id)
            if run is None:
                raise RunNotFound(dry_run_id)
            params = dict(run["params"] or {})
            layout = params.get("layout") or {}
            if layout:
                params["layout"] = {"header": layout.get("header") or []}
            conn.execute(
                job_runs.update()
                .where(job_runs.c.id == dry_run_id)
                .values(
                    source_key=None,
                    params=params,
                    result={**(run["result"] or {}), "imported_as": run_id},
                )
            )

    def pending_chunks(self, run_id: str) -> list[int]:
        with self._read() as conn:
            return _pending(conn, run_id)

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
            return _pending(conn, run_id)

    # -- failures -----------------------------------------------------------------------------

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
        line = sa.func.coalesce(job_failures.c.line, 0)
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
                            sa.tuple_(line, job_failures.c.id) > sa.tuple_(*after),
                        )
                        .order_by(line, job_failures.c.id)
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


_RETRY = "retried_by_id"
_retries = job_runs.alias("retries")
#: A run and, one row each, the runs started to retry it (none: one row with a NULL id).
#: Built once: the API reads runs by the thousand per second.
_RUN_WITH_RETRIES = (
    sa.select(job_runs, _retries.c.id.label(_RETRY))
    .outerjoin(_retries, _retries.c.retry_of == job_runs.c.id)
    .where(job_runs.c.id == sa.bindparam("run_id"))
    .order_by(_retries.c.created_at, _retries.c.id)
)


def end_failed(conn: Connection, run: RowMapping, error: str, now: datetime) -> JobEvent:
    """Fail a run (its row locked by the caller) and record its JobFailed event."""
    values = {
        "status": RunStatus.FAILED,
        "error": error,
        "finished_at": now,
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


def _chunk_rows(run_id: str, chunk_specs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "run_id": run_id,
            "no": no,
            "status": ChunkStatus.PENDING,
            "spec": spec,
            "rows": spec.get("rows"),
            "attempts": 0,
            "errors": 0,
            "processed": 0,
            "failed": 0,
        }
        for no, spec in enumerate(chunk_specs)
    ]


def _pending(conn: Connection, run_id: str) -> list[int]:
    return list(
        conn.execute(
            sa.select(job_chunks.c.no)
            .where(job_chunks.c.run_id == run_id, job_chunks.c.status == ChunkStatus.PENDING)
            .order_by(job_chunks.c.no)
        ).scalars()
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
    if filters.after:
        conditions.append(
            sa.tuple_(job_runs.c.created_at, job_runs.c.id) < sa.tuple_(*filters.after)
        )
    return conditions
