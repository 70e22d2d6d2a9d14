"""Row images for the undo log: read exactly as stored, compared exactly, written back exactly.

An image is a row's values in a form that writes the stored value back byte
for byte. SQLite: the driver's own values (its five storage classes; blobs as
base64 in JSON, ``{"$b": ...}``); going through no type conversion, they
return to the column exactly as they were. PostgreSQL: each column's text
form (``col::text``), which its type's input reads back to the same value
(numeric scale, float digits, bytea, json), cast to the column's declared type
on the way back. Two values are equal when their JSON texts are: no loose
comparison hides a change. An import's values after may be logged as it sent
them (see :mod:`jobport.targets.undolog`); :meth:`Images.as_stored` gives them
as stored before they are compared.

A chunk's logged rows are one record (:class:`~jobport.store.undo.LogRecord`):
their keys as one JSON array, their images as one JSON object, each encoded in
one call::

    {"columns": [...], "before": [each row's values of them before, or null: none],
     "written": [...], "after": [each row's values of them after, or null: none]}

Both an import and an undo log whole rows before; after, an import logs the
key and the columns it feeds, an undo the columns it restored.
"""

from __future__ import annotations

import base64
import datetime
import itertools
import json
import math
import re
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from operator import itemgetter
from typing import Any

import pydantic_core
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jobport.errors import ConfigurationError
from jobport.store.undo import LogRecord

#: Keys per lookup statement (fewer if SQLite binds fewer parameters).
LOOKUP_BATCH = 2_000
#: The databases whose rows the undo log can hold exactly.
UNDOABLE_DIALECTS = ("sqlite", "postgresql")

#: An image as the undo reads and writes it: column -> value in the log's form.
Image = dict[str, Any]
#: A row as read: its key's values first, then the columns asked for (driver values).
Row = tuple[Any, ...]


def _json_default(value: Any) -> Any:
    """The JSON form of a SQLite blob (tagged: text and blobs are two values), or of a
    value PostgreSQL's bulk path sends (a decimal, date or UUID: its text)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, Decimal | datetime.date | uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} has no JSON form in the undo log")


#: One encoder for every image and key (``json.dumps`` with options builds one per call).
#: Infinities are written ``Infinity``, as :func:`json.loads` reads them back (SQLite
#: stores no NaN; PostgreSQL's images are text).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_json_default)
#: pydantic-core's encoder (in Rust) writes a chunk's rows in half the time, with the
#: same values (floats in their shortest form, infinities as ``Infinity``); it would
#: write a blob as text, so rows holding one take :data:`_ENCODER`.
_FAST = pydantic_core.to_json([math.inf, -0.0]) == b"[Infinity,-0.0]"
_BLOBS = frozenset({bytes, bytearray, memoryview})


def dumps(value: Any) -> str:
    """``value`` (driver values in lists, tuples and dicts) as JSON."""
    return _ENCODER.encode(value)


def value_types(rows: Iterable[Sequence[Any] | None]) -> set[type]:
    """The types of the values in ``rows`` (None: no row)."""
    return set(map(type, itertools.chain.from_iterable(filter(None, rows))))


def column_types(
    rows: Sequence[Sequence[Any]],
    width: int,
    known: Sequence[frozenset[type] | None] = (),
) -> list[set[type]]:
    """Per column of ``rows`` (each ``width`` values), the types of its values.

    ``known`` gives, per column, the only types its values can have, NULLs aside
    (the row model's word, or a look the bulk write took already); those columns
    are not looked at again, which on a 20,000-row chunk costs more than its JSON.
    The others are turned into columns in one C-level ``zip`` (a third faster
    than picking each column out of every row) when none is known."""
    if not rows:
        return [set() for _ in range(width)]
    if not any(known):
        return [set(map(type, column)) for column in zip(*rows, strict=True)]
    return [
        set(types) if types else set(map(type, map(itemgetter(at), rows)))
        for at, types in zip(range(width), known, strict=True)
    ]


def dumps_rows(value: Any, types: set[type]) -> str:
    """``value`` as JSON, its rows' values being of ``types`` (:func:`value_types`)."""
    if _FAST and _BLOBS.isdisjoint(types):
        return pydantic_core.to_json(value).decode()
    return _ENCODER.encode(value)


def _encode(value: Any) -> Any:
    """A SQLite driver value as an image holds it: a blob tagged, the rest as is."""
    if isinstance(value, bytes | bytearray | memoryview):
        return _json_default(value)
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        return base64.b64decode(value["$b"])
    return value


def _tagged(rows: list[Row]) -> list[Row]:
    """Rows of driver values with their blobs tagged (:func:`_encode`)."""
    if _BLOBS.isdisjoint(value_types(rows)):
        return rows
    return [tuple(v if type(v) in _PLAIN else _encode(v) for v in row) for row in rows]


def _untagged(rows: list[Row]) -> list[Row]:
    """Rows of the log's values with their blobs bound again (:func:`_decode`)."""
    if dict not in value_types(rows):
        return rows
    return [tuple(map(_decode, row)) for row in rows]


def key_id(values: Sequence[Any]) -> Row:
    """A key's values as a dict key: a tagged blob (a dict) as its base64 text."""
    return tuple(("$b", v["$b"]) if isinstance(v, dict) else v for v in values)


#: Driver values an image holds as they are (the rest go through :func:`_encode`).
_PLAIN = (int, str, type(None))


@dataclass(frozen=True)
class Images:
    """How one table's rows are read and written in the undo log's form, on one connection."""

    table: sa.Table
    key: tuple[str, ...]
    dialect: str
    #: Each column's declared type (PostgreSQL: for the casts back from text; SQLite: its
    #: affinity, see :meth:`keys_stored_as_sent`).
    types: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, conn: Connection, table: sa.Table, key: Sequence[str]) -> Images:
        dialect = conn.dialect.name
        if dialect not in UNDOABLE_DIALECTS:
            raise ConfigurationError(
                f"undo is supported on SQLite and PostgreSQL targets, not '{dialect}'"
            )
        target = conn.dialect.identifier_preparer.format_table(table)
        if dialect == "sqlite":
            schema = f"{_quote(table.schema)}." if table.schema else ""
            info = conn.exec_driver_sql(f"PRAGMA {schema}table_info({_quote(table.name)})")
            types = {str(row[1]): str(row[2]) for row in info}
        else:
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
        """Every column, the key's first: the order of a whole row as :meth:`rows` reads it."""
        return [*self.key, *(c.name for c in self.table.c if c.name not in self.key)]

    def _lookup(self, names: Sequence[str], count: int, lock: bool) -> str:
        """The rows of ``count`` keys: their key's columns, then ``names``.

        SQLite: the keys as a VALUES list, each probing the key's index (``CROSS
        JOIN`` keeps them the outer loop; a row value ``IN`` a VALUES list scans
        the table when the key has two columns). PostgreSQL: one array per key
        column, the whole chunk in one statement, each value's text form read.
        """
        chosen = [*self.key, *names]
        if self.dialect == "sqlite":
            shown = ", ".join(f"t.{_quote(n)}" for n in chosen)
            row = "(" + ", ".join("?" * len(self.key)) + ")"
            values = ", ".join([row] * count)
            slots = ", ".join(f"k{i}" for i in range(len(self.key)))
            on = " AND ".join(f"t.{_quote(n)} = v.k{i}" for i, n in enumerate(self.key))
            return (
                f"WITH v({slots}) AS (VALUES {values}) "
                f"SELECT {shown} FROM v CROSS JOIN {self._target} AS t ON {on}"
            )
        shown = ", ".join(f"t.{_quote(n)}::text" for n in chosen)
        lock_clause = " FOR UPDATE OF t" if lock else ""
        if len(self.key) == 1:
            (name,) = self.key
            where = f"t.{_quote(name)} = ANY(CAST(%s AS {self.types[name]}[]))"
            return f"SELECT {shown} FROM {self._target} AS t WHERE {where}{lock_clause}"
        arrays = ", ".join(f"CAST(%s AS {self.types[n]}[])" for n in self.key)
        slots = ", ".join(f"k{i}" for i in range(len(self.key)))
        on = " AND ".join(f"t.{_quote(n)} = v.k{i}" for i, n in enumerate(self.key))
        return (
            f"SELECT {shown} FROM {self._target} AS t "
            f"JOIN unnest({arrays}) AS v({slots}) ON {on}{lock_clause}"
        )

    # -- what the database stores ---------------------------------------------------------

    def takes_as_sent(self, names: Sequence[str], types: Sequence[set[type]]) -> bool:
        """Whether values of ``names`` (the key's first) of ``types`` (per column, as the
        write sends them) can be logged as they are, and compared as stored at undo time
        (:meth:`as_stored`): values the driver binds itself (SQLite), or of the types
        whose text form PostgreSQL reads alike in any session; and keys the log holds
        as the table does (:meth:`logged_keys`)."""
        width = len(self.key)
        for at, (name, kinds) in enumerate(zip(names, types, strict=True)):
            if self.dialect == "sqlite":
                allowed = _DRIVER_TYPES
                if at < width:
                    allowed = _STORED_AS_SENT.get(_affinity(self.types.get(name, "")), set())
            else:
                base = _TYPMOD.sub("", self.types.get(name, ""))
                allowed = (_PG_SENT_KEYS if at < width else _PG_SENT).get(base, set())
            if not kinds - {type(None)} <= allowed:
                return False
        return True

    def logged_keys(self, rows: Iterable[Row]) -> list[Row]:
        """The keys of rows as sent (their first values), in the log's form: SQLite's as
        they are; PostgreSQL's text forms (of an int or text key, see
        :meth:`takes_as_sent`)."""
        width = len(self.key)
        if self.dialect == "sqlite":
            return [row[:width] for row in rows]
        return _pg_keys(rows if isinstance(rows, list) else list(rows), width)

    def as_stored(self, conn: Connection, names: Sequence[str], rows: list[Row]) -> list[Row]:
        """Rows of ``names``' values (in the log's form), each as the table stores it.

        SQLite converts a value to its column's affinity (``12.0`` is stored as
        the integer 12 in a NUMERIC column, ``-0.0`` as ``0.0`` in a REAL one), so
        values logged as the write sent them are bound into a temporary table
        whose columns have the table's affinities, and read back: SQLite's own
        rules, whatever its version. A value read from the table comes back as
        it is. PostgreSQL: each value's text form cast to its column's type and back
        to text (``-0`` is ``0`` in an integer column, ``3`` is ``3.00`` in a
        ``numeric(12,2)``), in one statement.
        """
        if not rows:
            return rows
        dbapi: Any = conn.connection.dbapi_connection
        if self.dialect == "postgresql":
            return self._pg_as_stored(dbapi, names, rows)
        shown = ", ".join(_quote(name) for name in names)
        slots = ", ".join("?" * len(names))
        dbapi.execute(f"CREATE TEMP TABLE {_STORED} AS SELECT {shown} FROM {self._target} LIMIT 0")
        try:
            dbapi.executemany(f"INSERT INTO temp.{_STORED} VALUES ({slots})", _untagged(rows))
            stored = dbapi.execute(f"SELECT * FROM temp.{_STORED} ORDER BY rowid").fetchall()
        finally:
            dbapi.execute(f"DROP TABLE temp.{_STORED}")
        return _tagged(stored)

    def _pg_as_stored(self, dbapi: Any, names: Sequence[str], rows: list[Row]) -> list[Row]:
        columns = [
            [None if v is None else _pg_text(v) for v in column]
            for column in zip(*rows, strict=True)
        ]
        casts = ", ".join(f"CAST(v.c{i} AS {self.types[n]})::text" for i, n in enumerate(names))
        arrays = ", ".join("CAST(%s AS text[])" for _ in names)
        slots = ", ".join(f"c{i}" for i in range(len(names)))
        sql = f"SELECT {casts} FROM unnest({arrays}) WITH ORDINALITY AS v({slots}, n) ORDER BY v.n"
        with dbapi.cursor() as cursor:
            cursor.execute(sql, columns)
            return [tuple(row) for row in cursor.fetchall()]

    # -- reading -------------------------------------------------------------------------

    def rows(
        self,
        conn: Connection,
        keys: Sequence[Sequence[Any]],
        names: Sequence[str],
        *,
        lock: bool = False,
    ) -> list[Row]:
        """The rows held under ``keys`` (each a tuple of bound key values): their key's
        values, then ``names``' (SQLite: driver values; PostgreSQL: text forms).
        PostgreSQL locks them with ``lock``: they cannot change before the write."""
        if not keys:
            return []
        dbapi: Any = conn.connection.dbapi_connection
        if self.dialect == "postgresql":
            columns = [list(values) for values in zip(*keys, strict=True)]
            with dbapi.cursor() as cursor:
                cursor.execute(self._lookup(names, len(keys), lock), columns)
                return [tuple(row) for row in cursor.fetchall()]
        step = _sqlite_batch(dbapi, len(self.key))
        out: list[Row] = []
        for start in range(0, len(keys), step):
            batch = keys[start : start + step]
            params = tuple(value for key in batch for value in key)
            out += dbapi.execute(self._lookup(names, len(batch), lock), params).fetchall()
        return out

    def read(self, conn: Connection, keys: Sequence[Sequence[Any]]) -> dict[Row, Image]:
        """The whole rows held under ``keys`` as images, by :func:`key_id` (locked: see
        :meth:`rows`)."""
        names, width = self.columns, len(self.key)
        rows = _tagged(self.rows(conn, keys, names[width:], lock=True))
        return {key_id(row[:width]): dict(zip(names, row, strict=True)) for row in rows}

    def key_values(self, key: Sequence[Any]) -> tuple[Any, ...]:
        """A logged key's values as bound."""
        return tuple(self._bound(value) for value in key)

    def _bound(self, value: Any) -> Any:
        return _decode(value) if self.dialect == "sqlite" else value

    # -- writing -------------------------------------------------------------------------

    def delete(self, conn: Connection, keys: Sequence[Sequence[Any]]) -> None:
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


#: The temporary table of :meth:`Images.as_stored`.
_STORED = "jobport_undo_stored"
#: Per SQLite affinity, the Python types of key values it stores as they are.
_STORED_AS_SENT: dict[str, set[type]] = {"integer": {int}, "numeric": {int}, "text": {str}}
#: The values SQLite's driver binds itself (a bool as its int), whose JSON forms bind the
#: same values back; another type goes through an adapter, which its JSON form may not.
_DRIVER_TYPES = {int, bool, float, str, bytes, bytearray, memoryview}
#: PostgreSQL: per column type (its typmod apart), the Python types of values whose text
#: form (:func:`_pg_text`, as the bulk path's text COPY writes them) it reads alike in any
#: session (no time zone, no date style); key columns: those whose text form is the key.
_PG_SENT: dict[str, set[type]] = {
    "smallint": {int},
    "integer": {int},
    "bigint": {int},
    "numeric": {int, Decimal},
    "real": {int, float},
    "double precision": {int, float},
    "boolean": {bool},
    "text": {str},
    "character varying": {str},
    "character": {str},
    "uuid": {uuid.UUID},
    "date": {datetime.date},
}
_PG_SENT_KEYS: dict[str, set[type]] = {
    "smallint": {int},
    "integer": {int},
    "bigint": {int},
    "text": {str},
    "character varying": {str},
}
_TYPMOD = re.compile(r"\(.*\)$")


def _pg_text(value: Any) -> str:
    """A value as PostgreSQL text input, as the bulk path's text COPY writes it."""
    if type(value) is bool:
        return "t" if value else "f"
    return repr(value) if type(value) is float else str(value)


def _pg_keys(rows: list[Row], width: int) -> list[Row]:
    """The text forms of rows' first ``width`` values, a column at a time.

    A first import logs every key of its chunk: where a key column holds
    only ints and strings (the key types logged as sent), their text form is
    ``str``'s, mapped in C; other values go one by one through
    :func:`_pg_text`. A third of the time of a row at a time (20k int keys: 28 -> 10 ms).
    """
    if not width:
        return [() for _ in rows]
    columns = []
    for at in range(width):
        column = list(map(itemgetter(at), rows))
        plain = set(map(type, column)) <= _PLAIN_KEY_TYPES
        columns.append(map(str if plain else _pg_text, column))
    return list(zip(*columns, strict=True))


#: Key value types whose PostgreSQL text form (:func:`_pg_text`) is ``str``'s.
_PLAIN_KEY_TYPES = frozenset({int, str})


def _affinity(declared: str) -> str:
    """A SQLite column's affinity from its declared type (the rules of "Datatypes In
    SQLite", 3.1, in their order)."""
    kind = declared.upper()
    if "INT" in kind:
        return "integer"
    if "CHAR" in kind or "CLOB" in kind or "TEXT" in kind:
        return "text"
    if "BLOB" in kind or not kind:
        return "blob"
    if "REAL" in kind or "FLOA" in kind or "DOUB" in kind:
        return "real"
    return "numeric"


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


def _sqlite_batch(dbapi: Any, width: int) -> int:
    """Keys per lookup statement: as many as SQLite binds, up to :data:`LOOKUP_BATCH`."""
    limit = getattr(sqlite3, "SQLITE_LIMIT_VARIABLE_NUMBER", None)
    most = dbapi.getlimit(limit) if limit is not None and hasattr(dbapi, "getlimit") else 999
    return max(min(most // width, LOOKUP_BATCH), 1)


# -- the log's records ------------------------------------------------------------------------


@dataclass(frozen=True)
class LogEntry:
    """One logged row, decoded: its key's values and images (None: no row)."""

    key: list[Any]
    before: Image | None
    after: Image | None

    @property
    def key_id(self) -> Row:
        return key_id(self.key)


def record(
    keys: Sequence[Sequence[Any]],
    columns: Sequence[str],
    before: Sequence[Sequence[Any] | None],
    written: Sequence[str],
    after: Sequence[Sequence[Any] | None],
    after_types: set[type] | None = None,
) -> LogRecord:
    """Rows' keys and images (each row's values before in ``columns``, after in
    ``written``; None where there was no row) as a record, encoded in two calls.
    ``after_types`` are the types of the values after, when known."""
    images = {"columns": columns, "written": written, "before": before, "after": after}
    types = value_types(before) | (value_types(after) if after_types is None else after_types)
    return LogRecord(
        keys=dumps_rows(keys, value_types(keys)),
        images=dumps_rows(images, types),
        rows=len(keys),
        inserted=before.count(None) if isinstance(before, list) else sum(b is None for b in before),
        deleted=after.count(None) if isinstance(after, list) else sum(a is None for a in after),
    )


def records_of(entries: Iterable[LogEntry]) -> list[LogRecord]:
    """Entries as records: one per shape (the columns of their images before and after)."""
    shapes: dict[tuple[tuple[str, ...], tuple[str, ...]], list[LogEntry]] = {}
    for entry in entries:
        shape = (tuple(entry.before or ()), tuple(entry.after or ()))
        shapes.setdefault(shape, []).append(entry)
    return [
        record(
            [e.key for e in group],
            columns,
            [None if e.before is None else list(e.before.values()) for e in group],
            written,
            [None if e.after is None else list(e.after.values()) for e in group],
        )
        for (columns, written), group in shapes.items()
    ]


def entries_of(logged: LogRecord) -> list[LogEntry]:
    """A record's rows, decoded."""
    images = json.loads(logged.images)
    columns, written = images["columns"], images["written"]
    return [
        LogEntry(
            key,
            None if old is None else dict(zip(columns, old, strict=True)),
            None if new is None else dict(zip(written, new, strict=True)),
        )
        for key, old, new in zip(
            json.loads(logged.keys), images["before"], images["after"], strict=True
        )
    ]


def same(one: Any, other: Any) -> bool:
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


def same_values(one: Sequence[Any], other: Sequence[Any]) -> bool:
    """:func:`same` for each pair of values: compared all at once, floats by their text."""
    if tuple(one) != tuple(other) or list(map(type, one)) != list(map(type, other)):
        return False
    return all(same(a, b) for a, b in zip(one, other, strict=True) if type(a) is float)


__all__ = [
    "UNDOABLE_DIALECTS",
    "Image",
    "Images",
    "LogEntry",
    "Row",
    "column_types",
    "dumps",
    "dumps_rows",
    "entries_of",
    "key_id",
    "record",
    "records_of",
    "same",
    "same_values",
    "value_types",
]
