"""Bulk upserts into a target table, in the dialect of its database.

Rows go to the driver's ``executemany`` as tuples, converted with the
columns' own SQLAlchemy bind processors: the values are stored exactly as
SQLAlchemy would store them, without its per-row parameter bookkeeping,
which would otherwise cost more than the insert itself.

On PostgreSQL (psycopg 3) the rows take the bulk path instead: checked for
an exact ``COPY`` form outside the transaction, then, inside it, copied
straight into the target, or on existing keys into a temporary staging table
merged into the target with one ``INSERT ... SELECT ... ON CONFLICT (key) DO
UPDATE``. Rows of one chunk are already unique by key, so the merge never
meets the same key twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from jobport.errors import ConfigurationError
from jobport.targets.convert import Processor, converted_rows, processor_of
from jobport.targets.pgcopy import CopyMerge, prepare_copy_merge

BATCH = 5_000


@dataclass(frozen=True)
class PreparedUpsert:
    """An upsert with its parameters already converted, ready to run in a transaction.

    Converting before the transaction keeps SQLite's write lock for the
    shortest time: only the database's own work. PostgreSQL's bulk path
    formats its rows while they stream to the server, which parses them
    meanwhile; it runs before the run's lock is taken, so another chunk's load
    goes on beside it (see ``_write_before_run_lock`` in ``store/commits.py``).
    """

    sql: str
    batches: list[list[Any]]
    #: PostgreSQL's bulk path; when set, ``sql`` and ``batches`` are unused.
    copy: CopyMerge | None = None

    def __call__(self, conn: Connection) -> None:
        if self.copy is not None:
            self.copy(conn)
            return
        for batch in self.batches:
            conn.exec_driver_sql(self.sql, batch)


def prepare_upsert(
    dialect: Dialect,
    table: sa.Table,
    rows: Sequence[Sequence[Any]],
    columns: Sequence[str],
    key: Sequence[str],
    *,
    value_types: Sequence[frozenset[type] | None] | None = None,
    update: Sequence[str] | None = None,
) -> PreparedUpsert:
    """Insert ``rows`` (tuples in ``columns`` order); on an existing ``key``, overwrite
    the ``update`` columns (default: every column but the key) and keep the others.

    ``value_types`` may say, per column, the only types its values can have
    (NULLs aside), as a row model guarantees: those columns' values are then
    not looked at one by one to choose the bulk format.
    """
    if not rows:
        return PreparedUpsert("", [])
    updates = _updates(columns, key, update)
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        copy = prepare_copy_merge(
            dialect, table, rows, tuple(columns), tuple(key), updates, value_types or ()
        )
        if copy is not None:
            return PreparedUpsert("", [], copy)
    sql, order, processors = _compiled(dialect, table, tuple(columns), tuple(key), updates)
    converted: list[Any] = converted_rows(rows, columns, order, processors)
    if not dialect.positional:
        converted = [dict(zip(order, row, strict=True)) for row in converted]
    return PreparedUpsert(sql, [converted[i : i + BATCH] for i in range(0, len(converted), BATCH)])


def _updates(
    columns: Sequence[str], key: Sequence[str], update: Sequence[str] | None
) -> tuple[str, ...]:
    """The columns an existing row takes from the upsert: never its key."""
    chosen = columns if update is None else [name for name in columns if name in set(update)]
    return tuple(name for name in chosen if name not in key)


def upsert_rows(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[Sequence[Any]],
    columns: Sequence[str],
    key: Sequence[str],
) -> None:
    prepare_upsert(conn.dialect, table, rows, columns, key)(conn)


@lru_cache(maxsize=128)
def _compiled(
    dialect: Dialect,
    table: sa.Table,
    columns: tuple[str, ...],
    key: tuple[str, ...],
    updates: tuple[str, ...],
) -> tuple[str, tuple[str, ...], tuple[Processor | None, ...]]:
    """The statement's SQL, the order its parameters take, and each one's processor."""
    statement = _upsert_statement(dialect.name, table, list(columns), key, updates)
    compiled = statement.compile(dialect=dialect, column_keys=list(columns))
    order = tuple(compiled.positiontup or ()) if dialect.positional else columns
    processors = tuple(processor_of(table.c[name].type, dialect) for name in order)
    return compiled.string, order, processors


def _upsert_statement(
    dialect: str, table: sa.Table, columns: list[str], key: Sequence[str], updates: Sequence[str]
) -> Any:
    values: dict[str, Any] = {name: sa.bindparam(name) for name in columns}
    if dialect in ("sqlite", "postgresql"):
        from sqlalchemy.dialects import postgresql, sqlite

        statement: Any = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table)
        statement = statement.values(values)
        if not updates:
            return statement.on_conflict_do_nothing(index_elements=list(key))
        return statement.on_conflict_do_update(
            index_elements=list(key),
            set_={name: statement.excluded[name] for name in updates},
        )
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        mysql_statement = mysql_insert(table).values(values)
        return mysql_statement.on_duplicate_key_update(
            {name: mysql_statement.inserted[name] for name in updates or list(key)}
        )
    raise ConfigurationError(f"upserts are not supported on the '{dialect}' database")
