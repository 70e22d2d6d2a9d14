"""The undo log: what each chunk of an undoable import (or of an undo) changed.

A record per chunk (an undo's chunk: one per shape of its images) holding
every target row the chunk changed: their keys, and per row its image before
(None: the chunk inserted it) and the columns the chunk fed as they were
written (None: the chunk deleted it). A record is written by the chunk's own
write, in the transaction of its commit (:func:`insert_record`), so the log
holds exactly the chunks that committed, whatever point a worker was killed at.

The keys and images are JSON text made by :mod:`jobport.targets.undoimages`,
each encoded in one call for the whole chunk: a log row per changed row cost
more than importing the row (a JSON encoding, a row and two index entries
each). This module stores them and reads them back; it decodes only the keys,
to find the later runs over a run's rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jobport.store.section import Section
from jobport.store.tables import job_runs, job_undo_log


@dataclass(frozen=True)
class LogRecord:
    """A chunk's logged rows as stored: ``keys``, a JSON array of each row's key values,
    and ``images``, a JSON object of their images in the same order (see
    :mod:`jobport.targets.undoimages`); ``rows`` of them, ``inserted`` without an image
    before and ``deleted`` without one after."""

    keys: str
    images: str
    rows: int
    inserted: int = 0
    deleted: int = 0


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


def insert_record(
    conn: Connection, run_id: str, chunk_no: int, target: str, record: LogRecord
) -> None:
    """Log a chunk's changed rows, in the transaction that writes them."""
    if not record.rows:
        return
    conn.execute(
        job_undo_log.insert(),
        [
            {
                "run_id": run_id,
                "chunk_no": chunk_no,
                "target": target,
                "rows": record.rows,
                "inserted": record.inserted,
                "deleted": record.deleted,
                "row_keys": record.keys,
                "images": record.images,
            }
        ],
    )


def chunk_records(conn: Connection, run_id: str, chunk_no: int) -> list[LogRecord]:
    """The records one chunk of ``run_id`` logged, in the order it logged them."""
    log = job_undo_log.c
    rows = conn.execute(
        sa.select(log.row_keys, log.images, log.rows, log.inserted, log.deleted)
        .where(log.run_id == run_id, log.chunk_no == chunk_no)
        .order_by(log.id)
    )
    return [LogRecord(*row) for row in rows]


def logged_keys(keys: str) -> set[Any]:
    """A record's keys, each as a value that is equal where the keys are (a tuple of its
    values; the JSON text of a key holding a tagged value, which is unhashable)."""
    out: set[Any] = set()
    for key in json.loads(keys):
        try:
            out.add(tuple(key))
        except TypeError:
            out.add(json.dumps(key, sort_keys=True))
    return out


class UndoLog(Section):
    """The undo log's reads for the service (what an undo would do) and retention."""

    def undo_summary(self, run_id: str) -> UndoSummary:
        """Per chunk of ``run_id`` how many rows it logged; how many an undo restores,
        deletes and inserts again."""
        log = job_undo_log.c
        with self._read() as conn:
            chunks = conn.execute(
                sa.select(log.chunk_no, sa.func.sum(log.rows))
                .where(log.run_id == run_id)
                .group_by(log.chunk_no)
                .order_by(log.chunk_no)
            ).all()
            kinds = conn.execute(
                sa.select(sa.func.sum(log.inserted), sa.func.sum(log.deleted)).where(
                    log.run_id == run_id
                )
            ).one()
        total = sum(int(count) for _, count in chunks)
        deleted, reinserted = int(kinds[0] or 0), int(kinds[1] or 0)
        return UndoSummary(
            [(int(no), int(count)) for no, count in chunks],
            restored=total - deleted - reinserted,
            deleted=deleted,
            reinserted=reinserted,
        )

    def later_runs_over(self, run_id: str) -> list[str]:
        """The runs that logged a change to one of ``run_id``'s rows after it did.

        The target's records from ``run_id``'s first on are read in the order
        they were logged, keys only: a record of another run is over one of
        ``run_id``'s rows when a record of ``run_id`` logged before it holds one
        of its keys. Only undoable runs log, so a later run of a type that is
        not undoable goes unseen here; the undo still finds its changes as
        conflicts.
        """
        log = job_undo_log.c
        with self._read() as conn:
            first = conn.execute(
                sa.select(log.target, log.id).where(log.run_id == run_id).order_by(log.id).limit(1)
            ).first()
            if first is None:
                return []
            records = conn.execute(
                sa.select(log.id, log.run_id)
                .where(log.target == first.target, log.id >= first.id)
                .order_by(log.id)
            ).all()
            mine: set[Any] = set()
            found: set[str] = set()
            for record_id, other in records:
                if other != run_id and (other in found or not mine):
                    continue
                keys = logged_keys(_keys_of(conn, record_id))
                if other == run_id:
                    mine |= keys
                elif not mine.isdisjoint(keys):
                    found.add(other)
        return sorted(found)

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
    """Forget the undo log of these runs (retention); returns the records removed."""
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


def _keys_of(conn: Connection, record_id: int) -> str:
    return str(
        conn.execute(
            sa.select(job_undo_log.c.row_keys).where(job_undo_log.c.id == record_id)
        ).scalar_one()
    )


__all__ = [
    "LogRecord",
    "UndoLog",
    "UndoSummary",
    "chunk_records",
    "expired_undo_runs",
    "insert_record",
    "logged_keys",
    "prune_undo_log",
]
