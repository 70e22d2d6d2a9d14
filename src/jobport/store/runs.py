"""Runs as a whole: created with their chunks, read and listed; their chunks and failures.

How a run ends or is reopened (its last step, failing, cancelling, a retry or
a resume) is :mod:`jobport.store.run_ends`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jobport import lifecycle
from jobport.errors import RunNotFound
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


class RunLookup(Section):
    """Reading one run by its id, which every part of the store about runs needs."""

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


class Runs(RunLookup):
    """Runs: created with their chunks, read, listed, and their failures."""

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
        """Runs matching ``filters``, newest first, and how many match in all (a keyset
        page's ``after`` picks where the page starts, not which runs are counted)."""
        matching = _run_conditions(replace(filters, after=None))
        with self._read() as conn:
            return _page_of_runs(
                conn, _run_conditions(filters), job_runs.c.created_at, limit, offset, matching
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
            return chunk_numbers(conn, run_id)

    # -- failures -----------------------------------------------------------------------------

    def list_failures(
        self, run_id: str, *, limit: int = 100, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(
                    job_failures.c.id,
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


def chunk_numbers(
    conn: Connection, run_id: str, status: ChunkStatus = ChunkStatus.PENDING
) -> list[int]:
    """The numbers of a run's chunks in ``status``, in order: the pending ones (what is
    submitted next) unless another status is asked for (the done ones: committed)."""
    return list(
        conn.execute(
            sa.select(job_chunks.c.no)
            .where(job_chunks.c.run_id == run_id, job_chunks.c.status == status)
            .order_by(job_chunks.c.no)
        ).scalars()
    )


def _page_of_runs(
    conn: Connection,
    conditions: list[sa.ColumnElement[bool]],
    newest_by: sa.Column[Any],
    limit: int,
    offset: int,
    counted: list[sa.ColumnElement[bool]] | None = None,
) -> tuple[list[RunRecord], int]:
    """One page of the runs matching ``conditions``, newest first, and how many match
    ``counted`` (``conditions`` when not given)."""
    rows = conn.execute(
        sa.select(job_runs)
        .where(*conditions)
        .order_by(newest_by.desc(), job_runs.c.id.desc())
        .limit(limit)
        .offset(offset)
    ).mappings()
    runs = [RunRecord.from_row(row) for row in rows]
    count = conn.execute(
        sa.select(sa.func.count())
        .select_from(job_runs)
        .where(*(conditions if counted is None else counted))
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
