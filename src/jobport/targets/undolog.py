"""The undo log of an import chunk's write, and an undo chunk's write.

:func:`logged_write` wraps an import chunk's write: in the commit's
transaction it reads the rows of the chunk's keys that may be there before the
write, and logs those the write changed as one record (see
:mod:`jobport.targets.undoimages`): each whole row before, its key and fed
columns after. A first import reads nothing back: the rows after are the values the
write sent, as its counts say every row was inserted (or every matched row
updated); SQLite may store a value otherwise than sent (``12.0`` as 12 in a
NUMERIC column), so the undo compares them as stored
(:meth:`~jobport.targets.undoimages.Images.as_stored`). Otherwise the rows are
read back after the write.

:class:`Restore` is an undo chunk's write: it puts a logged chunk's rows back,
reporting (or, forced, overwriting) those changed since, and logs what it did
the same way, so an undo can be undone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jobport.store.records import Failure, RowCounts, Writer
from jobport.store.undo import LogRecord, chunk_records, insert_record
from jobport.targets.convert import processor_of
from jobport.targets.counting import in_range, key_bounds, one_kind
from jobport.targets.undoimages import (
    UNDOABLE_DIALECTS,
    Image,
    Images,
    LogEntry,
    Row,
    column_types,
    entries_of,
    record,
    records_of,
    same,
    same_values,
)
from jobport.targets.upsert import PreparedUpsert

# -- an import chunk's write, logged ---------------------------------------------------------


def bound_keys(
    table: sa.Table,
    dialect: sa.engine.Dialect,
    rows: Sequence[Sequence[Any]],
    columns: Sequence[str],
    key: Sequence[str],
) -> list[tuple[Any, ...]]:
    """The rows' keys as the driver binds them (the upsert's own conversion)."""
    at = [list(columns).index(name) for name in key]
    processors = [processor_of(table.c[name].type, dialect) for name in key]
    if dialect.name == "postgresql" or not any(processors):
        # psycopg adapts the validated values itself; most key types have no processor.
        return list(zip(*(map(itemgetter(i), rows) for i in at), strict=True))
    return [
        tuple(
            value if value is None or process is None else process(value)
            for value, process in zip((row[i] for i in at), processors, strict=True)
        )
        for row in rows
    ]


def possibly_there(
    conn: Connection, table: sa.Table, key: Sequence[str], keys: list[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """The keys that may be in the table, as the count finds them (``counting.key_bounds``):
    none in a first import or past the last key, with one query off the key's index.

    A one-column key of ints (SQLite: or of text, which it orders by bytes as
    Python orders code points); PostgreSQL orders text by its collation, so
    its text keys are all looked up.
    """
    if len(key) != 1 or not keys:
        return keys
    values = [k[0] for k in keys]
    kind = one_kind(values)
    if kind is None or (kind is not int and conn.dialect.name != "sqlite"):
        return keys
    kept = in_range(values, key_bounds(conn, table, key[0], kind))
    return keys if kept is values else [(value,) for value in kept]


def logged_write(
    write: Writer,
    *,
    table: sa.Table,
    key: Sequence[str],
    keys: list[tuple[Any, ...]],
    fed: Sequence[str],
    run_id: str,
    chunk_no: int,
    first: Engine | None = None,
) -> Writer:
    """``write``, logging the rows it changes (each whole row before; its key and fed
    columns after) in its transaction, as one record. A row the write left as it was is
    not logged.

    A :class:`~jobport.targets.upsert.PreparedUpsert` says what it binds of each row
    (``sent``), and the types of those values where it knows them (``sent_types``):
    where the counts tell which rows changed, those are the after-images, and
    nothing is read back.

    With ``first`` (the target's database), a chunk none of whose keys is there
    yet, as a read of it finds now, has its record made here, outside the
    commit: the record of a write that inserts every row is every row as sent.
    The commit checks that it was so (nothing there before, every row created)
    and otherwise makes the record as always. On SQLite the commits of a run
    take turns with the database's one writer, so what is done here shortens
    the turn.
    """
    written = [*key, *(name for name in fed if name not in key)]
    prepared = write if isinstance(write, PreparedUpsert) else None
    as_sent = prepared.sent(written) if prepared is not None else None
    types: list[set[type]] = []
    if prepared is not None and as_sent is not None:
        types = column_types(as_sent, len(written), prepared.sent_types(written))
    made: LogRecord | None = None
    if as_sent and first is not None and _none_there(first, table, key, keys):
        images = Images(table, tuple(key), first.dialect.name)
        keys_of, columns = images.logged_keys(as_sent), images.columns
        made = record(
            keys_of, columns, [None] * len(as_sent), written, as_sent, set().union(*types)
        )

    def logged(conn: Connection) -> RowCounts | None:
        images = Images.of(conn, table, key)
        columns, width = images.columns, len(key)
        there = possibly_there(conn, table, key, keys)
        before = {row[:width]: row for row in images.rows(conn, there, columns[width:], lock=True)}
        counts = write(conn)
        takes = as_sent is not None and images.takes_as_sent(written, types)
        after = _changed_as_sent(images, as_sent if takes else None, before, counts)
        if made is not None and not before and after is as_sent:
            # Every row inserted, as the record made before the commit assumed.
            insert_record(conn, run_id, chunk_no, table.name, made)
            return counts
        if after is not None:
            keys_of, after_types = images.logged_keys(after), set().union(*types)
        else:
            read = images.rows(conn, keys, written[width:])
            after = _changed(before, read, width, [columns.index(name) for name in written])
            keys_of, after_types = [row[:width] for row in after], None
        befores = [before.get(k) for k in keys_of] if before else [None] * len(after)
        logged = record(keys_of, columns, befores, written, after, after_types)
        insert_record(conn, run_id, chunk_no, table.name, logged)
        return counts

    return logged


def _none_there(
    database: Engine, table: sa.Table, key: Sequence[str], keys: list[tuple[Any, ...]]
) -> bool:
    """Whether a read finds none of ``keys`` in the table now (a first import's chunk)."""
    with database.connect() as conn:
        return not possibly_there(conn, table, key, keys)


def _changed_as_sent(
    images: Images, sent: list[Row] | None, before: dict[Row, Row], counts: RowCounts | None
) -> list[Row] | None:
    """The rows the write changed, as it sent them, when the counts say which they are:
    every row already there was updated, or none was (a first import). None when they
    do not; the rows are then read back."""
    if sent is None or counts is None:
        return None
    created = len(sent) - len(before)
    if counts.created != created or counts.updated + counts.unchanged != len(before):
        return None
    if counts.updated == len(before):
        return sent
    if counts.updated == 0:
        keys = images.logged_keys(sent)
        return [row for row, key in zip(sent, keys, strict=True) if key not in before]
    return None


def _changed(
    before: dict[Row, Row], after: list[Row], width: int, written_at: list[int]
) -> list[Row]:
    """The rows (as read after the write) that the write changed: not there before, or
    with a written value not the same as stored (:func:`same_values`, so 1 and 1.0 or
    0.0 and -0.0 differ)."""
    if not before:  # a first import, new keys: every row read is one the write inserted
        return after
    project = itemgetter(*written_at) if len(written_at) > 1 else lambda row: (row[written_at[0]],)
    out: list[Row] = []
    for row in after:
        old = before.get(row[:width])
        if old is None or not same_values(project(old), row):
            out.append(row)
    return out


# -- an undo chunk's write ---------------------------------------------------------------------


@dataclass
class Restore:
    """Put back the rows one logged chunk changed; the undo run's chunk write.

    Each entry's row must still be as the chunk left it (its fed columns as
    written, or absent if it deleted the row); a row changed since is left
    alone and becomes a failure saying both values, unless ``force``. The
    undo's own changes are logged under ``run_id``/``chunk_no``, so it can be
    undone in turn. ``failures`` is filled in the transaction (emptied first,
    as a commit may run again).
    """

    table: sa.Table
    key: tuple[str, ...]
    source_run: str
    source_chunk: int
    run_id: str
    chunk_no: int
    force: bool
    failures: list[Failure]

    def __call__(self, conn: Connection) -> RowCounts | None:
        self.failures.clear()
        images = Images.of(conn, self.table, self.key)
        entries = [
            entry
            for logged in chunk_records(conn, self.source_run, self.source_chunk)
            for entry in _as_stored(conn, images, entries_of(logged))
        ]
        current = images.read(conn, [images.key_values(e.key) for e in entries])
        deletes: list[list[Any]] = []
        inserts: list[Image] = []
        updates: list[Image] = []
        logged: list[LogEntry] = []
        for entry in entries:
            now, before, after = current.get(entry.key_id), entry.before, entry.after
            conflict = _conflict(now, after)
            if conflict is not None and not self.force:
                self.failures.append(self._failure(entry.key, images, conflict))
                continue
            if before is None:
                if now is None:
                    continue
                deletes.append(entry.key)
                logged.append(LogEntry(entry.key, now, None))
            elif now is None:
                inserts.append(before)
                logged.append(LogEntry(entry.key, None, self._unkeyed(before, before)))
            else:
                names = list(after) if after is not None else list(before)
                updates.append({name: before[name] for name in (*self.key, *names)})
                logged.append(LogEntry(entry.key, now, self._unkeyed(before, names)))
        images.delete(conn, deletes)
        images.update(conn, updates)
        images.insert(conn, inserts)
        for done in records_of(logged):
            insert_record(conn, self.run_id, self.chunk_no, self.table.name, done)
        return None

    def _unkeyed(self, image: Image, names: Iterable[str]) -> Image:
        """``names`` of ``image`` but the key's: what a write of the row feeds."""
        return {name: image[name] for name in names if name not in self.key}

    def _failure(self, key: list[Any], images: Images, conflict: str) -> Failure:
        shown = ", ".join(f"{name}={value!r}" for name, value in zip(images.key, key, strict=True))
        return Failure(
            line=None,
            message=f"row {shown}: {conflict}; left as it is (undo --force restores it)",
            raw={"key": key},
        )


def _as_stored(conn: Connection, images: Images, entries: list[LogEntry]) -> list[LogEntry]:
    """A record's entries, their after-images as the table stores them (an import's may
    hold its values as sent: see :meth:`Images.as_stored`)."""
    shown = [entry.after for entry in entries if entry.after is not None]
    if not shown:
        return entries
    names = list(shown[0])
    stored = iter(images.as_stored(conn, names, [tuple(after.values()) for after in shown]))
    return [
        entry
        if entry.after is None
        else LogEntry(entry.key, entry.before, dict(zip(names, next(stored), strict=True)))
        for entry in entries
    ]


def _conflict(now: Image | None, after: Image | None) -> str | None:
    """How the row differs from what the logged chunk left; None if it does not."""
    if after is None:
        return None if now is None else "was inserted again after the run"
    if now is None:
        return "was deleted after the run"
    if same_values([now.get(name) for name in after], list(after.values())):
        return None
    changed = [
        f"{name} is now {now.get(name)!r} (the run wrote {value!r})"
        for name, value in after.items()
        if not same(now.get(name), value)
    ]
    return "; ".join(changed)


def undo_logged(
    write: Writer,
    table: sa.Table,
    dialect: sa.engine.Dialect,
    groups: Sequence[tuple[Sequence[Sequence[Any]], Sequence[str], Sequence[str] | None]],
    key: Sequence[str],
    *,
    run_id: str,
    chunk_no: int,
    database: Engine | None = None,
) -> Writer:
    """An import chunk's ``write`` of ``groups`` (rows, their columns, the columns an
    existing row takes: None for all), logging what it changes (:func:`logged_write`;
    ``database``: its ``first``)."""
    keys: dict[tuple[Any, ...], None] = {}
    fed: dict[str, None] = {}
    for rows, columns, update in groups:
        keys.update(dict.fromkeys(bound_keys(table, dialect, rows, columns, key)))
        fed.update(dict.fromkeys(columns if update is None else update))
    return logged_write(
        write,
        table=table,
        key=key,
        keys=list(keys),
        fed=list(fed),
        run_id=run_id,
        chunk_no=chunk_no,
        first=database,
    )


__all__ = [
    "UNDOABLE_DIALECTS",
    "Restore",
    "bound_keys",
    "logged_write",
    "possibly_there",
    "undo_logged",
]
