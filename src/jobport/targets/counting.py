"""Counting what a chunk's write does to the target: rows created, updated, left unchanged.

A matched row is *unchanged* when every column the file feeds already holds
the value about to be written. The database compares, not Python: ``12`` and
``12.0`` in a SQLite NUMERIC column, a date and its ISO text, ``1.50`` and
``1.5`` in a PostgreSQL ``numeric`` are equal as stored, and only the
database knows how it stores them. So the upserts rewrite a matched row only
where a fed column differs (``IS DISTINCT FROM``; SQLite's ``IS NOT``), and the
counts follow from what they report:

- SQLite: the keys already there are counted with one lookup per chunk (the
  chunk's keys as one JSON parameter, probed through the key's unique index in
  C), then ``executemany``'s row count is the rows created plus the rows
  updated. The commit holds SQLite's write lock, so nothing changes between
  the two.
- PostgreSQL: each affected row says itself whether it was inserted
  (``RETURNING (xmax = 0)``), exact even while another transaction writes the
  same keys.

A dry run writes nothing to the target: its rows go to a temporary staging
table with the target's column types, joined to the target on the key to
count, with the same comparison, what an import would do.
"""

from __future__ import annotations

import functools
import itertools
import json
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from jobport.store.records import RowCounts

#: Keys per statement of the portable lookup (well under every driver's parameter limit).
LOOKUP_BATCH = 1_000

Column = Callable[[str], sa.ColumnElement[Any]]


def counts_from(rows: int, existing: int, written: int) -> RowCounts:
    """Counts from the rows sent, the keys already there and the rows the database wrote.

    Each row sent is one key (a chunk's rows are unique by key): a key not
    there is created; of the keys there, those written were updated.
    """
    created = max(rows - existing, 0)
    updated = min(max(written - created, 0), existing)
    return RowCounts(created, updated, existing - updated)


def changed(
    dialect: Dialect, table: sa.Table, old: Column, new: Column, names: Sequence[str]
) -> sa.ColumnElement[bool] | None:
    """True where any of ``names`` differs between ``old`` and ``new`` (NULLs compared as
    values); None when there is nothing to compare (only the key is fed)."""
    if not names:
        return None
    return sa.or_(
        *(
            _comparable(dialect, table, name, old(name)).is_distinct_from(
                _comparable(dialect, table, name, new(name))
            )
            for name in names
        )
    )


def _comparable(
    dialect: Dialect, table: sa.Table, name: str, value: sa.ColumnElement[Any]
) -> sa.ColumnElement[Any]:
    """PostgreSQL's ``json`` has no equality: its values are compared as ``jsonb``."""
    if dialect.name != "postgresql":
        return value
    from sqlalchemy.dialects import postgresql  # not on SQLite's path: ~30 ms to import

    column_type = table.c[name].type
    if isinstance(column_type, sa.JSON) and not isinstance(column_type, postgresql.JSONB):
        return sa.cast(value, postgresql.JSONB)
    return value


# -- the keys already there -------------------------------------------------------------------


def key_values(rows: Sequence[Sequence[Any]], positions: Sequence[int]) -> list[Any]:
    """Each row's key: the value itself for a one-column key, else a tuple (one C-level map)."""
    return list(map(itemgetter(*positions), rows))


def count_existing(
    conn: Connection,
    table: sa.Table,
    key: Sequence[str],
    raw: Callable[[], Sequence[Any]],
    bound: Sequence[Any] | None = None,
) -> int:
    """How many of a chunk's keys (see :func:`key_values`) the target holds.

    ``bound`` are the keys as the driver binds them (SQLite: text dates, float
    decimals), which SQLite takes in one statement; ``raw`` gives them as
    validated, for the portable lookup (bound by SQLAlchemy, a batch at a time).
    """
    if bound is not None and not bound:
        return 0
    if conn.dialect.name == "sqlite" and bound is not None:
        found = _count_sqlite(conn, table, key, bound)
        if found is not None:
            return found
    keys = raw()
    columns = [table.c[name] for name in key]
    total = 0
    for start in range(0, len(keys), LOOKUP_BATCH):
        batch = list(keys[start : start + LOOKUP_BATCH])
        condition = columns[0].in_(batch) if len(columns) == 1 else sa.tuple_(*columns).in_(batch)
        query = sa.select(sa.func.count()).select_from(table).where(condition)
        total += int(conn.execute(query).scalar_one())
    return total


def _count_sqlite(
    conn: Connection, table: sa.Table, key: Sequence[str], keys: Sequence[Any]
) -> int | None:
    """The keys there, found in as little work as the keys allow.

    Keys outside the range the column holds are not looked up (a first import,
    rows added after the last key: no lookup at all); integer keys spread over
    at most twice their number are counted by one range scan of the index
    (less the numbers between them that are not keys); the rest go as one JSON
    array, each probed through the key's unique index (the column's affinity
    applies to the JSON values as to a bound value, so ``'7'`` finds the
    integer key 7 as the upsert would). None when a key has no JSON form
    (bytes, NaN): the caller looks them up as bound parameters.
    """
    quote = conn.dialect.identifier_preparer.quote
    target = conn.dialect.identifier_preparer.format_table(table)
    if len(key) == 1:
        kind = one_kind(keys)
        if kind is not None:
            keys = in_range(keys, key_bounds(conn, table, key[0], kind))
            if not keys:
                return 0
            if kind is int:
                found = _scanned(conn, table, key[0], keys)
                if found is not None:
                    return found
        column = quote(key[0])
        sql = f"SELECT count(*) FROM {target} WHERE {column} IN (SELECT value FROM json_each(?))"
    else:
        matches = " AND ".join(
            f"t.{quote(name)} = json_extract(j.value, '$[{i}]')" for i, name in enumerate(key)
        )
        sql = f"SELECT count(*) FROM json_each(?) AS j JOIN {target} AS t ON {matches}"
    try:
        payload = json.dumps(keys, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return int(conn.exec_driver_sql(sql, (payload,)).scalar_one())


def one_kind(keys: Sequence[Any]) -> type | None:
    """int or str when every key is of that one type (as SQLite and Python order both alike)."""
    kinds = set(map(type, keys))
    if len(kinds) != 1 or not kinds <= {int, str}:
        return None
    return kinds.pop()


def _scanned(conn: Connection, table: sa.Table, name: str, keys: Sequence[int]) -> int | None:
    """The integer keys there, when they are dense (a file sorted by its key, as most
    systems write them): the column's rows in the keys' range, counted off the index,
    less those of the few numbers in the range that are not keys (probed). None when the
    keys are spread over more than twice their number."""
    first, last = min(keys), max(keys)
    if last - first + 1 > 2 * len(keys):
        return None
    quote = conn.dialect.identifier_preparer.quote
    target = conn.dialect.identifier_preparer.format_table(table)
    column = quote(name)
    inside = conn.exec_driver_sql(
        f"SELECT count(*) FROM {target} WHERE {column} BETWEEN ? AND ? "
        f"AND typeof({column}) = 'integer'",
        (first, last),
    ).scalar_one()
    others = set(range(first, last + 1)).difference(keys)
    if not others:
        return int(inside)
    there = conn.exec_driver_sql(
        f"SELECT count(*) FROM {target} WHERE {column} IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(others)),),
    ).scalar_one()
    return int(inside) - int(there)


@dataclass(frozen=True)
class Bounds:
    """The smallest and largest key a column holds; both None when it holds none."""

    low: Any = None
    high: Any = None

    @property
    def empty(self) -> bool:
        return self.low is None


def key_bounds(conn: Connection, table: sa.Table, name: str, kind: type) -> Bounds | None:
    """The smallest and largest key the column holds, when keys of ``kind`` (int or str)
    order there as in Python: ints against an all-integer column, text against an all-text
    one compared by bytes (UTF-8 orders as code points do). None when the column's order
    cannot be trusted (mixed types, a collation)."""
    if kind is str and getattr(table.c[name].type, "collation", None):
        return None
    quote = conn.dialect.identifier_preparer.quote
    target = conn.dialect.identifier_preparer.format_table(table)
    # One aggregate per query: SQLite reads a min() or max() alone off the index's end.
    low, high = conn.exec_driver_sql(
        f"SELECT (SELECT min({quote(name)}) FROM {target}), "
        f"(SELECT max({quote(name)}) FROM {target})"
    ).one()
    if low is None:
        return Bounds()
    if type(low) is not kind or type(high) is not kind:
        return None
    return Bounds(low, high)


def in_range(keys: Sequence[Any], bounds: Bounds | None) -> Sequence[Any]:
    """The keys that may be there, given the column's :func:`key_bounds`."""
    if bounds is None:
        return keys
    if bounds.empty:
        return []
    low, high = bounds.low, bounds.high
    first, last = min(keys), max(keys)
    if first > high or last < low:
        return []
    if low <= first and last <= high:
        return keys
    return [value for value in keys if low <= value <= high]


# -- a dry run: staged rows joined to the target ----------------------------------------------

_stage_names = itertools.count()


def stage_name() -> str:
    """A fresh temporary table name: several chunks may stage in one transaction."""
    return f"jobport_stage_{next(_stage_names)}_{uuid.uuid4().hex[:8]}"


def create_stage_sql(dialect: Dialect, table: sa.Table, stage: str, names: Sequence[str]) -> str:
    """A temporary table of ``names`` with the target's column types, empty.

    Copying the types keeps the comparison the target's: SQLite gives the
    copy each column's affinity, PostgreSQL its type.
    """
    prepare = dialect.identifier_preparer
    columns = ", ".join(prepare.quote(name) for name in names)
    target = prepare.format_table(table)
    if dialect.name == "postgresql":
        return (
            f"CREATE TEMPORARY TABLE {prepare.quote(stage)} ON COMMIT DROP AS "
            f"SELECT {columns} FROM {target} WITH NO DATA"
        )
    return f"CREATE TEMP TABLE {prepare.quote(stage)} AS SELECT {columns} FROM {target} WHERE 0"


#: Stands for a staging table's name in statements built once per shape.
STAGE_SENTINEL = "jobport_stage_shape"


def staged_count_sql(
    dialect: Dialect, table: sa.Table, stage: str, key: Sequence[str], updates: Sequence[str]
) -> str:
    """Matched keys and, of them, those whose fed columns differ: one join, counted."""
    shaped = _shaped_count(dialect, table, tuple(key), tuple(updates))
    return shaped.replace(STAGE_SENTINEL, stage)


@functools.lru_cache(maxsize=128)
def _shaped_count(
    dialect: Dialect, table: sa.Table, key: tuple[str, ...], updates: tuple[str, ...]
) -> str:
    staged = sa.table(STAGE_SENTINEL, *(sa.column(name) for name in (*key, *updates)))
    on = sa.and_(*(table.c[name] == staged.c[name] for name in key))
    differs = changed(dialect, table, lambda n: table.c[n], lambda n: staged.c[n], updates)
    differing: sa.ColumnElement[Any] = (
        sa.func.coalesce(sa.func.sum(sa.case((differs, 1), else_=0)), 0)
        if differs is not None
        else sa.literal(0)
    )
    query = sa.select(sa.func.count(), differing).select_from(staged.join(table, on))
    return str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def counts_of_staged(rows: int, matched: int, differing: int) -> RowCounts:
    """What an import of the staged rows would do."""
    return RowCounts(rows - matched, differing, matched - differing)


#: Rows per statement of :class:`InlineValues` (fewer if SQLite binds fewer parameters).
INLINE_ROWS = 2_000


@dataclass(frozen=True)
class InlineValues:
    """SQLite: a dry run's rows as the VALUES of the count's own CTE, no staging table.

    Joined to the target, each value meets the target column's affinity in the
    comparison (a value with none takes the column's), as it would when
    stored: the same answer as staging with the target's types, without
    writing the rows anywhere (about a fifth less work than staging them).
    ``CROSS JOIN`` keeps the rows the outer loop, each probing the target's key
    index, whatever the planner's statistics say of the target's size.
    """

    target: str
    names: tuple[str, ...]
    key: tuple[str, ...]
    updates: tuple[str, ...]

    def count(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> tuple[int, int]:
        """(matched, differing) over ``rows``, as many rows a statement as SQLite binds."""
        dbapi: Any = conn.connection.dbapi_connection  # sqlite3
        limit = getattr(sqlite3, "SQLITE_LIMIT_VARIABLE_NUMBER", None)
        most = dbapi.getlimit(limit) if limit is not None and hasattr(dbapi, "getlimit") else 999
        step = max(min(most // len(self.names), INLINE_ROWS), 1)
        matched = differing = 0
        for start in range(0, len(rows), step):
            batch = rows[start : start + step]
            params = tuple(itertools.chain.from_iterable(batch))
            found, changed_rows = dbapi.execute(self._sql(len(batch)), params).fetchone()
            matched += int(found)
            differing += int(changed_rows or 0)
        return matched, differing

    def _sql(self, rows: int) -> str:
        return _inline_sql(self.target, self.names, self.key, self.updates, rows)


@functools.lru_cache(maxsize=16)
def _inline_sql(
    target: str, names: tuple[str, ...], key: tuple[str, ...], updates: tuple[str, ...], rows: int
) -> str:
    """The count of :class:`InlineValues` for ``rows`` rows (names already quoted)."""
    row = "(" + ", ".join("?" * len(names)) + ")"
    on = " AND ".join(f"t.{name} = s.{name}" for name in key)
    differs = " OR ".join(f"t.{name} IS NOT s.{name}" for name in updates) or "0"
    return (
        f"WITH s({', '.join(names)}) AS (VALUES {', '.join([row] * rows)}) "
        f"SELECT count(*), sum(CASE WHEN {differs} THEN 1 ELSE 0 END) "
        f"FROM s CROSS JOIN {target} AS t ON {on}"
    )


@dataclass(frozen=True)
class StagedCount:
    """A dry run of a chunk on the ``executemany`` path: stage its rows, count, drop.

    ``rows`` are the upsert's own parameters (converted as the driver binds
    them), in ``order``; the staging insert takes them as they are. On SQLite
    they go in the count itself (:class:`InlineValues`).
    """

    create: str
    insert: str
    count: str
    drop: str
    rows: list[Any]
    table: sa.Table
    #: The one key column and its position in the rows (SQLite only): rows whose key lies
    #: past the column's range would be created, and are not staged at all.
    key: str | None = None
    key_at: int = 0
    inline: InlineValues | None = None

    def __call__(self, conn: Connection) -> RowCounts:
        rows, beyond = self._possibly_there(conn)
        if not rows:
            return RowCounts(created=beyond)
        if self.inline is not None:
            matched, differing = self.inline.count(conn, rows)
        else:
            conn.exec_driver_sql(self.create)
            for start in range(0, len(rows), 5_000):
                conn.exec_driver_sql(self.insert, rows[start : start + 5_000])
            matched, differing = conn.exec_driver_sql(self.count).one()
            conn.exec_driver_sql(self.drop)
        return counts_of_staged(len(rows), int(matched), int(differing)) + RowCounts(beyond)

    def _possibly_there(self, conn: Connection) -> tuple[list[Any], int]:
        """The rows whose key may be in the table, and how many others there are."""
        if self.key is None or not self.rows:
            return self.rows, 0
        keys = key_values(self.rows, (self.key_at,))
        kind = one_kind(keys)
        if kind is None:
            return self.rows, 0
        bounds = key_bounds(conn, self.table, self.key, kind)
        if bounds is None:
            return self.rows, 0
        if bounds.empty:
            return [], len(self.rows)
        low, high = bounds.low, bounds.high
        kept = [row for row, k in zip(self.rows, keys, strict=True) if low <= k <= high]
        return kept, len(self.rows) - len(kept)


def staged_count(
    dialect: Dialect,
    table: sa.Table,
    key: Sequence[str],
    updates: Sequence[str],
    order: Sequence[str],
    rows: list[Any],
) -> StagedCount:
    """The dry run of ``rows`` (upsert parameters in ``order``) against ``table``."""
    stage = stage_name()
    quote = dialect.identifier_preparer.quote
    inline = None
    if dialect.name == "sqlite":
        inline = InlineValues(
            target=dialect.identifier_preparer.format_table(table),
            names=tuple(map(quote, order)),
            key=tuple(map(quote, key)),
            updates=tuple(map(quote, updates)),
        )
    staged = sa.table(stage, *(sa.column(name) for name in order))
    statement = sa.insert(staged).values({name: sa.bindparam(name) for name in order})
    compiled = statement.compile(dialect=dialect, column_keys=list(order))
    if dialect.positional:
        assert tuple(compiled.positiontup or ()) == tuple(order)
    return StagedCount(
        create=create_stage_sql(dialect, table, stage, order),
        insert=compiled.string,
        count=staged_count_sql(dialect, table, stage, key, updates),
        drop=f"DROP TABLE {dialect.identifier_preparer.quote(stage)}",
        rows=rows,
        table=table,
        key=key[0] if dialect.name == "sqlite" and len(key) == 1 else None,
        key_at=list(order).index(key[0]),
        inline=inline,
    )


__all__ = [
    "STAGE_SENTINEL",
    "Bounds",
    "StagedCount",
    "changed",
    "count_existing",
    "counts_from",
    "counts_of_staged",
    "create_stage_sql",
    "in_range",
    "key_bounds",
    "key_values",
    "one_kind",
    "stage_name",
    "staged_count",
    "staged_count_sql",
]
