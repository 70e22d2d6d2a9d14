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

import itertools
import json
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
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
    column_type = table.c[name].type
    if (
        dialect.name == "postgresql"
        and isinstance(column_type, sa.JSON)
        and not isinstance(column_type, postgresql.JSONB)
    ):
        return sa.cast(value, postgresql.JSONB)
    return value


# -- the keys already there -------------------------------------------------------------------


def count_existing(
    conn: Connection,
    table: sa.Table,
    key: Sequence[str],
    raw_keys: Sequence[tuple[Any, ...]],
    bound_keys: Sequence[tuple[Any, ...]] | None = None,
) -> int:
    """How many of these keys the target holds.

    ``raw_keys`` are the keys as validated; ``bound_keys`` the same keys as the
    driver binds them (SQLite: text dates, float decimals), which SQLite takes
    in one JSON parameter when every value has a JSON form.
    """
    if not raw_keys:
        return 0
    if conn.dialect.name == "sqlite" and bound_keys is not None and _jsonable(bound_keys):
        return _count_sqlite(conn, table, key, bound_keys)
    columns = [table.c[name] for name in key]
    found = 0
    for start in range(0, len(raw_keys), LOOKUP_BATCH):
        batch = raw_keys[start : start + LOOKUP_BATCH]
        condition = (
            columns[0].in_([k[0] for k in batch])
            if len(columns) == 1
            else sa.tuple_(*columns).in_(list(batch))
        )
        query = sa.select(sa.func.count()).select_from(table).where(condition)
        found += int(conn.execute(query).scalar_one())
    return found


def _jsonable(keys: Sequence[tuple[Any, ...]]) -> bool:
    """Whether every value is text, a bool, an int or a finite float (JSON's own kinds)."""
    types = {type(value) for row in keys for value in row}
    if not types <= {str, int, float, bool}:
        return False
    return float not in types or all(
        math.isfinite(value) for row in keys for value in row if type(value) is float
    )


def _count_sqlite(
    conn: Connection, table: sa.Table, key: Sequence[str], keys: Sequence[tuple[Any, ...]]
) -> int:
    """One statement: the keys as a JSON array, each probed through the key's unique index.

    The key column's affinity applies to the JSON values as it applies to a
    bound value, so ``'7'`` finds the integer key 7 as the upsert would.
    """
    quote = conn.dialect.identifier_preparer.quote
    target = conn.dialect.identifier_preparer.format_table(table)
    if len(key) == 1:
        sql = (
            f"SELECT count(*) FROM {target} "
            f"WHERE {quote(key[0])} IN (SELECT value FROM json_each(?))"
        )
        values = json.dumps([row[0] for row in keys])
    else:
        matches = " AND ".join(
            f"t.{quote(name)} = json_extract(j.value, '$[{i}]')" for i, name in enumerate(key)
        )
        sql = f"SELECT count(*) FROM json_each(?) AS j JOIN {target} AS t ON {matches}"
        values = json.dumps([list(row) for row in keys])
    found = conn.exec_driver_sql(sql, (values,)).scalar_one()
    return int(found)


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


def staged_count_sql(
    dialect: Dialect, table: sa.Table, stage: str, key: Sequence[str], updates: Sequence[str]
) -> str:
    """Matched keys and, of them, those whose fed columns differ: one join, counted."""
    staged = sa.table(stage, *(sa.column(name) for name in (*key, *updates)))
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


@dataclass(frozen=True)
class StagedCount:
    """A dry run of a chunk on the ``executemany`` path: stage its rows, count, drop.

    ``rows`` are the upsert's own parameters (converted as the driver binds
    them), in ``order``; the staging insert takes them as they are.
    """

    create: str
    insert: str
    count: str
    drop: str
    rows: list[Any]

    def __call__(self, conn: Connection) -> RowCounts:
        conn.exec_driver_sql(self.create)
        for start in range(0, len(self.rows), 5_000):
            conn.exec_driver_sql(self.insert, self.rows[start : start + 5_000])
        matched, differing = conn.exec_driver_sql(self.count).one()
        conn.exec_driver_sql(self.drop)
        return counts_of_staged(len(self.rows), int(matched), int(differing))


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
    )


__all__ = [
    "StagedCount",
    "changed",
    "count_existing",
    "counts_from",
    "counts_of_staged",
    "create_stage_sql",
    "stage_name",
    "staged_count",
    "staged_count_sql",
]
