"""Row images for the undo log: read exactly as stored, compared exactly, written back exactly.

An image is a row as JSON text: column -> value, in a form that writes the
stored value back byte for byte. SQLite: the driver's own values (its five
storage classes; blobs as base64, non-finite floats tagged); going through
no type conversion, they return to the column exactly as they were.
PostgreSQL: each column's text form (``col::text``), which its type's input
reads back to the same value (numeric scale, float digits, bytea, json), cast
to the column's declared type on the way back. Two images are equal when
their texts are: no loose comparison hides a change.

:func:`logged_write` wraps an import chunk's write: it reads the chunk's rows
before and after the write, in the commit's transaction, and logs those it
changed. :class:`Restore` is an undo chunk's write: it puts a logged chunk's
rows back, reporting (or, forced, overwriting) those changed since.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jobport.errors import ConfigurationError
from jobport.store.records import Failure, RowCounts, Writer
from jobport.store.undo import LogEntry, chunk_entries, insert_entries
from jobport.targets.convert import processor_of

#: Keys per lookup statement (well under SQLite's and PostgreSQL's parameter limits).
LOOKUP_BATCH = 500
#: The databases whose rows the undo log can hold exactly.
UNDOABLE_DIALECTS = ("sqlite", "postgresql")

Image = dict[str, Any]


#: One encoder for every image and key: ``json.dumps`` with options builds a new one per call,
#: which cost more than the encoding itself at a row's few values.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
#: Driver values stored in an image as they are (the rest go through :func:`_encode`).
_PLAIN = (int, str, type(None))


def dumps(value: Any) -> str:
    return _ENCODER.encode(value)


def _encode(value: Any) -> Any:
    """A SQLite driver value as JSON: blobs and non-finite floats tagged, the rest as is."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, float) and not math.isfinite(value):
        return {"$f": repr(value)}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "$b" in value:
            return base64.b64decode(value["$b"])
        return float(value["$f"])
    return value


@dataclass(frozen=True)
class Images:
    """How one table's rows are read and written in the undo log's form, on one connection."""

    table: sa.Table
    key: tuple[str, ...]
    dialect: str
    #: PostgreSQL: each column's declared type, for the casts back from text.
    types: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, conn: Connection, table: sa.Table, key: Sequence[str]) -> Images:
        dialect = conn.dialect.name
        if dialect not in UNDOABLE_DIALECTS:
            raise ConfigurationError(
                f"undo is supported on SQLite and PostgreSQL targets, not '{dialect}'"
            )
        types: dict[str, str] = {}
        if dialect == "postgresql":
            target = conn.dialect.identifier_preparer.format_table(table)
            types = {
                str(name): str(kind)
                for name, kind in conn.exec_driver_sql(
                    "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
                    (target,),
                )
            }
        return cls(table, tuple(key), dialect, types)

    # -- SQL pieces ---------------------------------------------------------------------

    @property
    def _target(self) -> str:
        return _format_table(self.table)

    def _param(self, name: str) -> str:
        """A bound value for column ``name``: SQLite's as is, PostgreSQL's text cast back."""
        if self.dialect == "sqlite":
            return "?"
        return f"CAST(%s AS {self.types[name]})"

    @property
    def columns(self) -> list[str]:
        return [column.name for column in self.table.c]

    def _select(self, count: int) -> str:
        names = self.columns
        shown = (
            ", ".join(_quote(n) for n in names)
            if self.dialect == "sqlite"
            else ", ".join(f"{_quote(n)}::text" for n in names)
        )
        row = "(" + ", ".join(self._param(k) for k in self.key) + ")"
        keys = "(" + ", ".join(_quote(k) for k in self.key) + ")"
        values = ", ".join([row] * count)
        lock = " FOR UPDATE" if self.dialect == "postgresql" else ""
        return f"SELECT {shown} FROM {self._target} WHERE {keys} IN (VALUES {values}){lock}"

    # -- reading -------------------------------------------------------------------------

    def read(self, conn: Connection, keys: Sequence[Sequence[Any]]) -> dict[str, Image]:
        """The rows held under ``keys`` (each a tuple of bound key values), by key text."""
        out: dict[str, Image] = {}
        names = self.columns
        for start in range(0, len(keys), LOOKUP_BATCH):
            batch = keys[start : start + LOOKUP_BATCH]
            params = tuple(value for key in batch for value in key)
            for row in conn.exec_driver_sql(self._select(len(batch)), params):
                values = (
                    row
                    if self.dialect == "postgresql"
                    else [v if type(v) in _PLAIN else _encode(v) for v in row]
                )
                image = dict(zip(names, values, strict=True))
                out[self.key_text(image)] = image
        return out

    def key_text(self, image: Image) -> str:
        return dumps([image[name] for name in self.key])

    def key_values(self, text: str) -> tuple[Any, ...]:
        """A logged key's values as bound (the inverse of :meth:`key_text`)."""
        return tuple(self._bound(value) for value in json.loads(text))

    def _bound(self, value: Any) -> Any:
        return _decode(value) if self.dialect == "sqlite" else value

    # -- writing -------------------------------------------------------------------------

    def delete(self, conn: Connection, keys: Sequence[str]) -> None:
        where = " AND ".join(f"{_quote(k)} = {self._param(k)}" for k in self.key)
        _many(conn, f"DELETE FROM {self._target} WHERE {where}", [self.key_values(k) for k in keys])

    def insert(self, conn: Connection, images: Sequence[Image]) -> None:
        for names, group in _grouped(images):
            columns = ", ".join(_quote(n) for n in names)
            values = ", ".join(self._param(n) for n in names)
            sql = f"INSERT INTO {self._target} ({columns}) VALUES ({values})"
            _many(conn, sql, [tuple(self._bound(i[n]) for n in names) for i in group])

    def update(self, conn: Connection, images: Sequence[Image]) -> None:
        """Set each image's non-key columns on the row of its key."""
        for names, group in _grouped(images):
            sets = [n for n in names if n not in self.key]
            if not sets:
                continue
            assignments = ", ".join(f"{_quote(n)} = {self._param(n)}" for n in sets)
            where = " AND ".join(f"{_quote(k)} = {self._param(k)}" for k in self.key)
            sql = f"UPDATE {self._target} SET {assignments} WHERE {where}"
            rows = [tuple(self._bound(i[n]) for n in (*sets, *self.key)) for i in group]
            _many(conn, sql, rows)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _format_table(table: sa.Table) -> str:
    name = _quote(table.name)
    return f"{_quote(table.schema)}.{name}" if table.schema else name


def _grouped(images: Sequence[Image]) -> list[tuple[tuple[str, ...], list[Image]]]:
    groups: dict[tuple[str, ...], list[Image]] = {}
    for image in images:
        groups.setdefault(tuple(image), []).append(image)
    return list(groups.items())


def _many(conn: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    for start in range(0, len(rows), 5_000):
        conn.exec_driver_sql(sql, rows[start : start + 5_000])


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
    if dialect.name == "postgresql":
        processors = [None] * len(key)  # psycopg adapts the validated values itself
    return [
        tuple(
            value if value is None or process is None else process(value)
            for value, process in zip((row[i] for i in at), processors, strict=True)
        )
        for row in rows
    ]


def logged_write(
    write: Writer,
    *,
    table: sa.Table,
    key: Sequence[str],
    keys: list[tuple[Any, ...]],
    fed: Sequence[str],
    run_id: str,
    chunk_no: int,
) -> Writer:
    """``write``, logging the rows it changes: before-images and inserted keys, in its
    transaction. A row the write left as it was is not logged."""
    fed_names = [name for name in fed if name not in key]

    def logged(conn: Connection) -> RowCounts | None:
        images = Images.of(conn, table, key)
        before = images.read(conn, keys)
        counts = write(conn)
        after = images.read(conn, keys)
        entries: list[LogEntry] = []
        for text, now in after.items():
            written = {name: now[name] for name in fed_names}
            old = before.get(text)
            if old is not None and all(_same(old[name], written[name]) for name in fed_names):
                continue
            entries.append(LogEntry(text, None if old is None else dumps(old), dumps(written)))
        insert_entries(conn, run_id, chunk_no, table.name, entries)
        return counts

    return logged


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
        entries = chunk_entries(conn, self.source_run, self.source_chunk)
        current = images.read(conn, [images.key_values(e.key) for e in entries])
        deletes: list[str] = []
        inserts: list[Image] = []
        updates: list[Image] = []
        logged: list[LogEntry] = []
        for entry in entries:
            now = current.get(entry.key)
            after = None if entry.after is None else json.loads(entry.after)
            before = None if entry.before is None else json.loads(entry.before)
            conflict = _conflict(now, after)
            if conflict is not None and not self.force:
                self.failures.append(self._failure(entry.key, images, conflict))
                continue
            if before is None:
                if now is None:
                    continue
                deletes.append(entry.key)
                logged.append(LogEntry(entry.key, dumps(now), None))
            elif now is None:
                inserts.append(before)
                logged.append(LogEntry(entry.key, None, dumps(before)))
            else:
                names = list(after) if after is not None else list(before)
                restored = {name: before[name] for name in (*self.key, *names)}
                updates.append(restored)
                written = {name: before[name] for name in names if name not in self.key}
                logged.append(LogEntry(entry.key, dumps(now), dumps(written)))
        images.delete(conn, deletes)
        images.update(conn, updates)
        images.insert(conn, inserts)
        insert_entries(conn, self.run_id, self.chunk_no, self.table.name, logged)
        return None

    def _failure(self, key: str, images: Images, conflict: str) -> Failure:
        shown = ", ".join(
            f"{name}={value!r}" for name, value in zip(images.key, json.loads(key), strict=True)
        )
        return Failure(
            line=None,
            message=f"row {shown}: {conflict}; left as it is (undo --force restores it)",
            raw={"key": json.loads(key)},
        )


def _same(one: Any, other: Any) -> bool:
    """Equal as stored: the same JSON text (SQLite's 1 and 1.0 are two values).

    Values of one type that compare equal have the same text, but for floats
    (0.0 and -0.0): those are compared by their text, the rest by ``==``
    (a tagged blob or float is a dict of text, compared by value).
    """
    if type(one) is not type(other):
        return False
    if isinstance(one, float):
        return repr(one) == repr(other)
    return bool(one == other)


def _conflict(now: Image | None, after: Image | None) -> str | None:
    """How the row differs from what the logged chunk left; None if it does not."""
    if after is None:
        return None if now is None else "was inserted again after the run"
    if now is None:
        return "was deleted after the run"
    changed = [
        f"{name} is now {now[name]!r} (the run wrote {value!r})"
        for name, value in after.items()
        if not _same(now.get(name), value)
    ]
    return "; ".join(changed) or None


def undo_logged(
    write: Writer,
    table: sa.Table,
    dialect: sa.engine.Dialect,
    groups: Sequence[tuple[Sequence[Sequence[Any]], Sequence[str], Sequence[str] | None]],
    key: Sequence[str],
    *,
    run_id: str,
    chunk_no: int,
) -> Writer:
    """An import chunk's ``write`` of ``groups`` (rows, their columns, the columns an
    existing row takes: None for all), logging what it changes (:func:`logged_write`)."""
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
    )


__all__ = ["UNDOABLE_DIALECTS", "Images", "Restore", "bound_keys", "logged_write", "undo_logged"]
