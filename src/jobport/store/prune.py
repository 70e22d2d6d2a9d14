"""Retention in the state database: which finished runs may go, removing them in batches,
and the cap on the failures one run stores.

What may go is decided per *chain*: runs linked by ``retry_of`` (an import, the
retries of its corrected error report, their retries). A chain goes whole or
not at all, and only when every run in it is finished before the cutoff, none
is active, and none is the run a sync type's cursor names. So an original run
is kept as long as a retry of it is kept (its error report and upload are what
the retry came from), and no ``retry_of`` ever points at a run that is gone.

Removing is done in short transactions: a run's failures first, a bounded
number per transaction (each statement re-checks that the run is still
finished before the cutoff, so a run resumed meanwhile keeps the rest), then
its events, chunks and row under the run's lock, a bounded number of chunk
rows per transaction. Rows of other tables that reference a run or a failure
go with them through their ``ON DELETE CASCADE`` (the review grid's edits).
The files a run holds are the caller's business (:mod:`jobport.retention`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from jobport.lifecycle import FINAL_STATUSES
from jobport.store.records import Failure
from jobport.store.section import Section
from jobport.store.tables import (
    job_chunks,
    job_events,
    job_failures,
    job_runs,
    job_undo_log,
    sync_cursors,
)

#: Candidate runs read per query.
PAGE = 200
#: Most failure rows, or chunk and event rows, one delete transaction removes.
DELETE_BATCH = 5_000

# -- the cap on stored failures ---------------------------------------------------------------

#: How the run's warning (and its error report) say that failures were counted, not kept.
CAP_WARNING = "only the first {kept:,} failures were kept; {more:,} more were counted"
_CAP_PREFIX = "only the first "


def capped_failures(
    failures: Sequence[Failure], run: RowMapping | Mapping[str, Any], cap: int | None
) -> tuple[Sequence[Failure], dict[str, Any] | None]:
    """The failures of a chunk to store, given the run's row before the chunk's commit.

    A run stores at most ``cap`` failures (None: no cap); every failure is still
    counted in ``run.failed``. Commits of a run are serialised by its lock and
    store every failure until the cap, so the run holds ``min(failed, cap)``
    of them before this chunk. When some are dropped, the second value is the
    run's ``params`` with its warning saying how many were kept and how many
    more were counted (replacing the previous such warning); else None.
    """
    before = int(run["failed"])
    if cap is None or before + len(failures) <= cap:
        return failures, None
    kept = failures[: max(cap - before, 0)]
    more = before + len(failures) - cap
    params = dict(run["params"] or {})
    warnings = [w for w in params.get("warnings") or [] if not str(w).startswith(_CAP_PREFIX)]
    params["warnings"] = [*warnings, CAP_WARNING.format(kept=cap, more=more)]
    return kept, params


#: How the run's warning of rows a later row of the same key replaced ends (found by it).
_REPEATED_END = "replaced by a later row with the same key (the last row of each key is written)"
_REPEATED = "repeated_rows"


def with_repeated(params: Mapping[str, Any], repeated: int) -> dict[str, Any] | None:
    """The run's params counting ``repeated`` more rows a later row of the same key
    replaced, its warning saying the total (in place of the previous one); None when
    there are none to add."""
    if not repeated:
        return None
    total = int(params.get(_REPEATED) or 0) + repeated
    one = total == 1
    said = (
        f"{total:,} row{'' if one else 's'} of the file {'was' if one else 'were'} {_REPEATED_END}"
    )
    warnings = [w for w in params.get("warnings") or [] if not str(w).endswith(_REPEATED_END)]
    return {**params, _REPEATED: total, "warnings": [*warnings, said]}


def cap_note(params: Mapping[str, Any]) -> str | None:
    """The run's warning that failures were counted but not stored, if it has one."""
    for warning in params.get("warnings") or []:
        if str(warning).startswith(_CAP_PREFIX):
            return str(warning)
    return None


# -- pruning ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrunableRun:
    """A run that may go: its id, its chunk count and the row it is read from."""

    id: str
    type: str
    chunks: int
    source_key: str | None
    result_key: str | None
    params: Mapping[str, Any]


Chain = list[PrunableRun]

_COLUMNS = (
    job_runs.c.id,
    job_runs.c.type,
    job_runs.c.status,
    job_runs.c.created_at,
    job_runs.c.finished_at,
    job_runs.c.retry_of,
    job_runs.c.chunks_total,
    job_runs.c.source_key,
    job_runs.c.result_key,
    job_runs.c.params,
)


class Pruning(Section):
    """The state database's part of retention: chains that may go, and removing them."""

    def prunable_chains(
        self, cutoff: datetime, *, type: str | None = None, page: int = PAGE
    ) -> Iterator[list[Chain]]:
        """Pages of the chains that may go (see the module's docstring), oldest first.

        Runs are read by ``created_at`` (indexed; a run finished before the
        cutoff was created before it too), ``page`` at a time, each page in its
        own transaction, so the caller may delete between pages. A chain is
        given once, with the page holding its newest run.
        """
        after: tuple[datetime, str] | None = None
        while True:
            with self._read() as conn:
                seeds = _candidates(conn, cutoff, type, after, page)
                if not seeds:
                    return
                after = (seeds[-1]["created_at"], seeds[-1]["id"])
                chains = _whole_chains(conn, {row["id"]: row for row in seeds}, cutoff)
            yield chains

    def stored_failures(self, run_ids: Sequence[str]) -> int:
        """How many failure rows these runs hold."""
        with self._read() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(job_failures)
                    .where(job_failures.c.run_id.in_(list(run_ids)))
                ).scalar_one()
            )

    def delete_failures(
        self, run_ids: Sequence[str], cutoff: datetime, *, batch: int = DELETE_BATCH
    ) -> int:
        """Delete the failures of these runs, ``batch`` rows per transaction; returns how many.

        Each statement takes only failures of runs still finished before the cutoff.
        """
        ids = sa.select(job_failures.c.id).where(
            job_failures.c.run_id.in_(sa.select(job_runs.c.id).where(*_gone(run_ids, cutoff)))
        )
        deleted = 0
        while True:
            with self._write() as conn:
                done = conn.execute(
                    job_failures.delete().where(job_failures.c.id.in_(ids.limit(batch)))
                ).rowcount
            deleted += done
            if done < batch:
                return deleted

    def delete_chains(self, chains: Sequence[Chain], cutoff: datetime) -> list[str]:
        """Delete the runs of these chains with their events and chunks, in one transaction.

        The runs are locked and checked again: a chain any run of which was
        resumed meanwhile, is retried by a run started meanwhile or became a
        sync's cursor run is left whole. Returns the ids deleted.
        """
        ids = [run.id for chain in chains for run in chain]
        with self._write() as conn:
            still = set(
                conn.execute(
                    sa.select(job_runs.c.id).where(*_gone(ids, cutoff)).with_for_update()
                ).scalars()
            )
            retried = set(
                conn.execute(
                    sa.select(job_runs.c.retry_of).where(
                        job_runs.c.retry_of.in_(ids), job_runs.c.id.not_in(ids)
                    )
                ).scalars()
            )
            linked = retried | _cursor_runs(conn, ids)
            doomed = [
                run.id
                for chain in chains
                if all(run.id in still and run.id not in linked for run in chain)
                for run in chain
            ]
            if doomed:
                conn.execute(job_events.delete().where(job_events.c.run_id.in_(doomed)))
                conn.execute(job_undo_log.delete().where(job_undo_log.c.run_id.in_(doomed)))
                conn.execute(job_chunks.delete().where(job_chunks.c.run_id.in_(doomed)))
                conn.execute(job_runs.delete().where(job_runs.c.id.in_(doomed)))
        return doomed


def delete_groups(chains: Sequence[Chain], batch: int = DELETE_BATCH) -> Iterator[list[Chain]]:
    """``chains`` in groups of about ``batch`` chunks to delete per transaction.

    A chain is never split (a retry and the run it retries go in one
    statement), so a group holds more only when one chain alone does.
    """
    group: list[Chain] = []
    size = 0
    for chain in chains:
        chunks = sum(run.chunks for run in chain)
        if group and size + chunks > batch:
            yield group
            group, size = [], 0
        group.append(chain)
        size += chunks
    if group:
        yield group


def _gone(run_ids: Sequence[str], cutoff: datetime) -> tuple[sa.ColumnElement[bool], ...]:
    """These runs, as long as they are finished before the cutoff."""
    return (
        job_runs.c.id.in_(list(run_ids)),
        job_runs.c.status.in_(FINAL_STATUSES),
        job_runs.c.finished_at < cutoff,
    )


def _candidates(
    conn: Connection,
    cutoff: datetime,
    type: str | None,
    after: tuple[datetime, str] | None,
    page: int,
) -> list[RowMapping]:
    query = (
        sa.select(*_COLUMNS)
        .where(
            job_runs.c.created_at < cutoff,
            job_runs.c.status.in_(FINAL_STATUSES),
            job_runs.c.finished_at < cutoff,
        )
        .order_by(job_runs.c.created_at, job_runs.c.id)
        .limit(page)
    )
    if type is not None:
        query = query.where(job_runs.c.type == type)
    if after is not None:
        query = query.where(sa.tuple_(job_runs.c.created_at, job_runs.c.id) > sa.tuple_(*after))
    return list(conn.execute(query).mappings())


def _whole_chains(conn: Connection, seeds: dict[str, RowMapping], cutoff: datetime) -> list[Chain]:
    """The chains of ``seeds`` that may go, each given by the seed that is its newest run."""
    known = _closure(conn, seeds)
    kept = _cursor_runs(conn, list(known))
    chains: list[Chain] = []
    for members in _components(known):
        newest = max(members, key=lambda row: (row["created_at"], row["id"]))
        if newest["id"] not in seeds:
            continue  # its newest run is on a later page (or not a candidate)
        if all(_may_go(row, cutoff) and row["id"] not in kept for row in members):
            chains.append([_prunable(row) for row in members])
    return chains


def _closure(conn: Connection, seeds: dict[str, RowMapping]) -> dict[str, RowMapping]:
    """The seeds and every run linked to them by ``retry_of``, either way, transitively."""
    known = dict(seeds)
    frontier = set(seeds)
    while frontier:
        parents = {
            known[run_id]["retry_of"]
            for run_id in frontier
            if known[run_id]["retry_of"] and known[run_id]["retry_of"] not in known
        }
        rows = conn.execute(
            sa.select(*_COLUMNS).where(
                sa.or_(job_runs.c.id.in_(parents), job_runs.c.retry_of.in_(frontier))
            )
        ).mappings()
        found = {row["id"]: row for row in rows if row["id"] not in known}
        known.update(found)
        frontier = set(found)
    return known


def _components(runs: Mapping[str, RowMapping]) -> list[list[RowMapping]]:
    """The runs grouped into chains (connected by ``retry_of``)."""
    root: dict[str, str] = {run_id: run_id for run_id in runs}

    def find(run_id: str) -> str:
        while root[run_id] != run_id:
            root[run_id] = root[root[run_id]]
            run_id = root[run_id]
        return run_id

    for run_id, row in runs.items():
        parent = row["retry_of"]
        if parent in runs:
            root[find(run_id)] = find(parent)
    groups: dict[str, list[RowMapping]] = {}
    for run_id, row in runs.items():
        groups.setdefault(find(run_id), []).append(row)
    return list(groups.values())


def _cursor_runs(conn: Connection, run_ids: list[str]) -> set[str]:
    """Those of ``run_ids`` a sync type's cursor names (its last committed page's run)."""
    return set(
        conn.execute(
            sa.select(sync_cursors.c.run_id).where(sync_cursors.c.run_id.in_(run_ids))
        ).scalars()
    )


def _may_go(row: RowMapping, cutoff: datetime) -> bool:
    finished = row["finished_at"]
    return row["status"] in FINAL_STATUSES and finished is not None and finished < cutoff


def _prunable(row: RowMapping) -> PrunableRun:
    return PrunableRun(
        id=row["id"],
        type=row["type"],
        chunks=int(row["chunks_total"] or 0),
        source_key=row["source_key"],
        result_key=row["result_key"],
        params=row["params"] or {},
    )
