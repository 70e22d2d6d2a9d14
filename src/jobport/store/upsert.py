"""Bulk upserts into a target table, in the dialect of its database.

Rows go to the driver's ``executemany`` as tuples, converted with the
columns' own SQLAlchemy bind processors: the values are stored exactly as
SQLAlchemy would store them, without its per-row parameter bookkeeping,
which would otherwise cost more than the insert itself.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from jobport.errors import ConfigurationError

BATCH = 5_000

Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class PreparedUpsert:
    """An upsert with its parameters already converted, ready to run in a transaction.

    Converting before the transaction keeps the write lock (SQLite) or the row
    locks (PostgreSQL) for the shortest time: only the database's own work.
    """

    sql: str
    batches: list[list[Any]]

    def __call__(self, conn: Connection) -> None:
        for batch in self.batches:
            conn.exec_driver_sql(self.sql, batch)


def prepare_upsert(
    dialect: Dialect,
    table: sa.Table,
    rows: Sequence[Sequence[Any]],
    columns: Sequence[str],
    key: Sequence[str],
) -> PreparedUpsert:
    """Insert ``rows`` (tuples in ``columns`` order); on an existing ``key``, overwrite."""
    if not rows:
        return PreparedUpsert("", [])
    sql, order, processors = _compiled(dialect, table, tuple(columns), tuple(key))
    convert = _converter(columns, order, processors)
    if not dialect.positional:
        positional = convert

        def convert(row: Sequence[Any]) -> Any:
            return dict(zip(order, positional(row), strict=True))

    converted = [convert(row) for row in rows]
    return PreparedUpsert(sql, [converted[i : i + BATCH] for i in range(0, len(converted), BATCH)])


def upsert_rows(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[Sequence[Any]],
    columns: Sequence[str],
    key: Sequence[str],
) -> None:
    prepare_upsert(conn.dialect, table, rows, columns, key)(conn)


def _converter(
    columns: Sequence[str], order: tuple[str, ...], processors: tuple[Processor | None, ...]
) -> Callable[[Sequence[Any]], Any]:
    positions = [list(columns).index(name) for name in order]
    reorder = None if positions == list(range(len(columns))) else itemgetter(*positions)
    steps = [(i, p) for i, p in enumerate(processors) if p is not None]
    if reorder is None and not steps:
        return tuple

    def convert(row: Sequence[Any]) -> tuple[Any, ...]:
        out = list(reorder(row) if reorder is not None else row)
        for i, process in steps:
            value = out[i]
            if value is not None:
                out[i] = process(value)
        return tuple(out)

    return convert


@lru_cache(maxsize=128)
def _compiled(
    dialect: Dialect, table: sa.Table, columns: tuple[str, ...], key: tuple[str, ...]
) -> tuple[str, tuple[str, ...], tuple[Processor | None, ...]]:
    """The statement's SQL, the order its parameters take, and each one's processor."""
    statement = _upsert_statement(dialect.name, table, list(columns), key)
    compiled = statement.compile(dialect=dialect, column_keys=list(columns))
    order = tuple(compiled.positiontup or ()) if dialect.positional else columns
    processors = tuple(_processor(table.c[name].type, dialect) for name in order)
    return compiled.string, order, processors


def _processor(column_type: sa.types.TypeEngine[Any], dialect: Dialect) -> Processor | None:
    """The column's bind processor, or a C builtin that stores exactly the same value.

    The builtins matter: conversion runs once per value of every imported row.
    """
    if dialect.name == "sqlite" and not isinstance(column_type, sa.types.TypeDecorator):
        if type(column_type) in (sa.Date, sa.types.DATE):
            return datetime.date.isoformat  # SQLAlchemy's SQLite DATE format is ISO 8601
        if isinstance(column_type, sa.Numeric) and not isinstance(column_type, sa.Float):
            return float  # what SQLAlchemy's SQLite Numeric binds
        if isinstance(column_type, sa.Boolean):
            return None  # sqlite3 stores bool as 0/1 itself
    processor: Processor | None = column_type._cached_bind_processor(dialect)
    return processor


def _upsert_statement(dialect: str, table: sa.Table, columns: list[str], key: Sequence[str]) -> Any:
    updates = [name for name in columns if name not in key]
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
