"""The undo log: what each chunk of an undoable import (or of an undo) changed.

One row per target row a chunk changed: its key, its image before (None: the
chunk inserted it) and the columns the chunk fed as they were written (None:
the chunk deleted it). The rows are written by the chunk's own write, in the
transaction of its commit (:func:`insert_entries`), so the log holds exactly
the chunks that committed, whatever point a worker was killed at. The images
are JSON text made by :mod:`jobport.targets.undolog`; this module only stores
and reads them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jobport.store.section import Section
from jobport.store.tables import job_runs, job_undo_log


@dataclass(frozen=True)
class LogEntry:
    """One logged row: its key and images as JSON text (see :mod:`jobport.targets.undolog`)."""

    key: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class UndoSummary:
    """What undoing a run would do: per original chunk its entries, and the totals."""

    chunks: list[tuple[int, int]]
    restored: int
    deleted: int
    reinserted: int

    @property
    def entries(self) -> int:
        return sum(count for _, count in self.chunks)


def insert_entries(
    conn: Connection, run_id: str, chunk_no: int, target: str, entries: Sequence[LogEntry]
) -> None:
    """Log a chunk's changed rows, in the transaction that writes them."""
    if not entries:
        return
    conn.execute(
        job_undo_log.insert(),
        [
            {
                "run_id": run_id,
                "chunk_no": chunk_no,
                "target": target,
                "key": entry.key,
                "before": entry.before,
                "after": entry.after,
            }
            for entry in entries
        ],
    )


def chunk_entries(conn: Connection, run_id: str, chunk_no: int) -> list[LogEntry]:
    """The entries one chunk of ``run_id`` logged, in the order it logged them."""
    rows = conn.execute(
        sa.select(job_undo_log.c.key, job_undo_log.c.before, job_undo_log.c.after)
        .where(job_undo_log.c.run_id == run_id, job_undo_log.c.chunk_no == chunk_no)
        .order_by(job_undo_log.c.id)
    )
    return [LogEntry(key, before, after) for key, before, after in rows]


class UndoLog(Section):
    """The undo log's reads for the service (what an undo would do) and retention."""

    def undo_summary(self, run_id: str) -> UndoSummary:
        """Per chunk of ``run_id`` how many rows it logged; how many an undo restores,
        deletes and inserts again."""
        log = job_undo_log.c
        with self._read() as conn:
            chunks = conn.execute(
                sa.select(log.chunk_no, sa.func.count())
                .where(log.run_id == run_id)
                .group_by(log.chunk_no)
                .order_by(log.chunk_no)
            ).all()
            kinds = conn.execute(
                sa.select(
                    sa.func.count().filter(log.before.is_(None)),
                    sa.func.count().filter(log.after.is_(None)),
                ).where(log.run_id == run_id)
            ).one()
        total = sum(int(count) for _, count in chunks)
        deleted, reinserted = int(kinds[0]), int(kinds[1])
        return UndoSummary(
            [(int(no), int(count)) for no, count in chunks],
            restored=total - deleted - reinserted,
            deleted=deleted,
            reinserted=reinserted,
        )

    def later_runs_over(self, run_id: str) -> list[str]:
        """The runs that logged a change to one of ``run_id``'s rows after it did.

        Only undoable runs log, so a later run of a type that is not undoable
        goes unseen here; the undo still finds its changes as conflicts.
        """
        mine, theirs = job_undo_log.alias("mine"), job_undo_log.alias("theirs")
        query = (
            sa.select(theirs.c.run_id)
            .distinct()
            .select_from(
                mine.join(
                    theirs,
                    sa.and_(
                        theirs.c.target == mine.c.target,
                        theirs.c.key == mine.c.key,
                        theirs.c.id > mine.c.id,
                        theirs.c.run_id != mine.c.run_id,
                    ),
                )
            )
            .where(mine.c.run_id == run_id)
        )
        with self._read() as conn:
            return sorted(str(r) for r in conn.execute(query).scalars())

    def undo_runs_of(self, run_id: str, type_: str) -> list[dict[str, Any]]:
        """The undo runs started for ``run_id`` (status, failed), oldest first."""
        query = (
            sa.select(job_runs.c.id, job_runs.c.status, job_runs.c.failed, job_runs.c.params)
            .where(job_runs.c.kind == "undo", job_runs.c.type == type_)
            .order_by(job_runs.c.created_at)
        )
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [dict(row) for row in rows if (row["params"] or {}).get("undo_of") == run_id]

    def prune_undo_logs(self, before: datetime) -> int:
        """Forget the undo log of runs finished before ``before`` (``undo_days`` ago)."""
        with self._write() as conn:
            return prune_undo_log(conn, expired_undo_runs(conn, before))


def prune_undo_log(conn: Connection, run_ids: Iterable[str]) -> int:
    """Forget the undo log of these runs (retention); returns the entries removed."""
    ids = list(run_ids)
    removed = 0
    for start in range(0, len(ids), 500):
        batch = ids[start : start + 500]
        removed += conn.execute(
            job_undo_log.delete().where(job_undo_log.c.run_id.in_(batch))
        ).rowcount
    return removed


def expired_undo_runs(conn: Connection, before: datetime) -> list[str]:
    """Runs with an undo log that finished before ``before`` (their undo has expired)."""
    query = (
        sa.select(job_runs.c.id)
        .where(
            job_runs.c.finished_at < before,
            sa.exists().where(job_undo_log.c.run_id == job_runs.c.id),
        )
        .order_by(job_runs.c.finished_at)
    )
    return [str(r) for r in conn.execute(query).scalars()]


__all__ = [
    "LogEntry",
    "UndoLog",
    "UndoSummary",
    "chunk_entries",
    "expired_undo_runs",
    "insert_entries",
    "prune_undo_log",
]
