"""Bulk upserts into a target table, in the dialect of its database.

Rows go to the driver's ``executemany`` as tuples, converted with the
columns' own SQLAlchemy bind processors: the values are stored exactly as
SQLAlchemy would store them, without its per-row parameter bookkeeping,
which would otherwise cost more than the insert itself.

On PostgreSQL (psycopg 3) the rows take the bulk path instead: checked for
an exact ``COPY`` form outside the transaction, then, inside it, copied
straight into the target, or on existing keys into a temporary staging table
UPDATE``. Rows of one chunk are already unique by key, so the merge never
meets the same key twice.

Every upsert rewrites a matched row only where a fed column differs, and says
how many rows it created, updated and left unchanged (:mod:`.counting`); a
dry run's upsert writes nothing and says what it would have done.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from jobport.errors import ConfigurationError
from jobport.store.records import RowCounts
from jobport.targets.convert import Processor, converted_rows, processor_of
from jobport.targets.counting import (
    StagedCount,
    changed,
    count_existing,
    counts_from,
    key_values,
    staged_count,
)

if TYPE_CHECKING:
    from jobport.targets.pgcopy import CopyMerge

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
    #: How the rows are counted; None where the database's counts cannot be had.
    counter: Counter | None = None
    #: A dry run: count what the upsert would do, write nothing.
    dry: StagedCount | None = None
    #: The columns of each row of ``batches``, in order (positional parameters only).
    order: tuple[str, ...] = ()
    #: Per column of ``order``, the only types its bound values can have (NULLs aside),
    #: where the row model says so and no bind processor changes them; else None.
    known: tuple[frozenset[type] | None, ...] = ()

    def sent(self, names: Sequence[str]) -> list[tuple[Any, ...]] | None:
        """Each row's values of ``names`` as bound or copied (before the database's type
        rules apply: the undo log's after-images, see ``targets/undolog.py``); None
        where the rows go another way (named parameters, a dry run)."""
        if self.copy is not None:
            return self.copy.sent(names)
        if self.dry is not None or not self.order:
            return None
        if tuple(names) == self.order:
            return list(itertools.chain.from_iterable(self.batches))
        at = [self.order.index(name) for name in names]
        pick: Any = itemgetter(*at) if len(at) > 1 else lambda row: (row[at[0]],)
        return list(map(pick, itertools.chain.from_iterable(self.batches)))

    def sent_types(self, names: Sequence[str]) -> list[frozenset[type] | None]:
        """Per name, the only types (NULLs aside) of its values in :meth:`sent`, where
        known without looking at them (the row model's word, or COPY's own look at
        them); None where not."""
        if self.copy is not None:
            return self.copy.sent_types(names)
        known = dict(zip(self.order, self.known, strict=False))
        return [known.get(name) for name in names]

    def __call__(self, conn: Connection) -> RowCounts | None:
        if self.copy is not None:
            return self.copy(conn)
        if self.dry is not None:
            return self.dry(conn)
        if self.counter is not None and self.counter.returning:
            return _returned_counts(conn, self.sql, self.batches)
        existing = self.counter.existing(conn) if self.counter is not None else None
        written = 0
        for batch in self.batches:
            written += conn.exec_driver_sql(self.sql, batch).rowcount
        if existing is None or self.counter is None:
            return None
        return counts_from(self.counter.rows, existing, written)


@dataclass(frozen=True)
class Counter:
    """How an ``executemany`` upsert's rows are counted.

    SQLite: the keys already there, looked up before the write, and the
    statement's row count (created + updated). PostgreSQL: each affected row
    returns whether it was inserted (``returning``), exact under concurrent
    writers. The keys are taken from the rows only when looked up.
    """

    table: sa.Table
    key: tuple[str, ...]
    rows: int
    #: The rows as validated and the key's positions in them (the portable lookup's).
    raw: Sequence[Sequence[Any]] = ()
    raw_at: tuple[int, ...] = ()
    #: The rows as the driver binds them and the key's positions there (SQLite's lookup).
    bound: Sequence[Sequence[Any]] | None = None
    bound_at: tuple[int, ...] = ()
    returning: bool = False

    def existing(self, conn: Connection) -> int:
        bound = key_values(self.bound, self.bound_at) if self.bound is not None else None
        return count_existing(
            conn, self.table, self.key, lambda: key_values(self.raw, self.raw_at), bound
        )


def _returned_counts(conn: Connection, sql: str, batches: list[list[Any]]) -> RowCounts:
    """Run a PostgreSQL upsert ``... RETURNING (xmax = 0)`` over each batch and count.

    Rows returned true were inserted, false updated; the rows of a batch that
    return nothing matched and were left as they were.
    """
    created = updated = sent = 0
    dbapi: Any = conn.connection.dbapi_connection  # a psycopg 3 connection
    with dbapi.cursor() as cursor:
        for batch in batches:
            sent += len(batch)
            cursor.executemany(sql, batch, returning=True)
            while True:
                for (inserted,) in cursor.fetchall():
                    created += bool(inserted)
                    updated += not inserted
                if not cursor.nextset():
                    break
    return RowCounts(created, updated, sent - created - updated)


def prepare_upsert(
    dialect: Dialect,
    table: sa.Table,
    rows: Sequence[Sequence[Any]],
    columns: Sequence[str],
    key: Sequence[str],
    *,
    value_types: Sequence[frozenset[type] | None] | None = None,
    update: Sequence[str] | None = None,
    dry_run: bool = False,
) -> PreparedUpsert:
    """Insert ``rows`` (tuples in ``columns`` order); on an existing ``key``, overwrite
    the ``update`` columns (default: every column but the key) and keep the others.

    A matched row is rewritten only where an ``update`` column differs; the
    upsert returns how many rows it created, updated and left unchanged. With
    ``dry_run`` it writes nothing and returns what it would have done. Rows
    must be unique by ``key``.

    ``value_types`` may say, per column, the only types its values can have
    (NULLs aside), as a row model guarantees: those columns' values are then
    not looked at one by one to choose the bulk format.
    """
    counted = dialect.name in COUNTED
    if not rows:
        return PreparedUpsert("", [], counter=_nothing if counted else None)
    updates = _updates(columns, key, update)
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        from jobport.targets.pgcopy import prepare_copy_merge  # PostgreSQL's alone: not on SQLite

        copy = prepare_copy_merge(
            dialect,
            table,
            rows,
            tuple(columns),
            tuple(key),
            updates,
            value_types or (),
            dry_run=dry_run,
        )
        if copy is not None:
            return PreparedUpsert("", [], copy)
    returning = dialect.name == "postgresql" and dialect.driver == "psycopg"
    sql, order, processors = _compiled(
        dialect, table, tuple(columns), tuple(key), updates, returning
    )
    converted: list[Any] = converted_rows(rows, columns, order, processors)
    if dry_run and counted:
        named = converted if dialect.positional else _named(order, converted)
        return PreparedUpsert("", [], dry=staged_count(dialect, table, key, updates, order, named))
    counter = _counter(dialect, table, rows, columns, key, order, converted, returning)
    if not dialect.positional:
        converted = _named(order, converted)
    batches = [converted[i : i + BATCH] for i in range(0, len(converted), BATCH)]
    return PreparedUpsert(
        sql,
        [] if dry_run else batches,
        counter=counter,
        order=tuple(order) if dialect.positional else (),
        known=_known_types(columns, value_types, order, processors) if dialect.positional else (),
    )


def _known_types(
    columns: Sequence[str],
    value_types: Sequence[frozenset[type] | None] | None,
    order: Sequence[str],
    processors: Sequence[Processor | None],
) -> tuple[frozenset[type] | None, ...]:
    """Per column of ``order``, its declared types where its values are bound as
    validated (no bind processor: a processor's output is not what the model declared)."""
    declared = dict(zip(columns, value_types or (), strict=False))
    return tuple(
        declared.get(name) if process is None else None
        for name, process in zip(order, processors, strict=True)
    )


#: The databases whose upserts are counted (and dry-run).
COUNTED = ("sqlite", "postgresql")


class _Nothing:
    """The counter of an upsert of no rows."""

    returning = False
    rows = 0

    def existing(self, conn: Connection) -> int:
        return 0


_nothing: Any = _Nothing()


def _named(order: Sequence[str], converted: list[Any]) -> list[Any]:
    return [dict(zip(order, row, strict=True)) for row in converted]


def _counter(
    dialect: Dialect,
    table: sa.Table,
    rows: Sequence[Sequence[Any]],
    columns: Sequence[str],
    key: Sequence[str],
    order: Sequence[str],
    converted: list[Any],
    returning: bool,
) -> Counter | None:
    if dialect.name not in COUNTED:
        return None
    if returning:
        return Counter(table, tuple(key), len(rows), returning=True)
    return Counter(
        table,
        tuple(key),
        len(rows),
        raw=rows,
        raw_at=tuple(list(columns).index(name) for name in key),
        bound=converted if dialect.positional else None,
        bound_at=tuple(list(order).index(name) for name in key),
    )


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
    returning: bool = False,
) -> tuple[str, tuple[str, ...], tuple[Processor | None, ...]]:
    """The statement's SQL, the order its parameters take, and each one's processor."""
    statement = _upsert_statement(dialect, table, list(columns), key, updates)
    if returning:
        # PostgreSQL: a row inserted by this statement has no xmax; an updated one has ours.
        statement = statement.returning(sa.literal_column("(xmax = 0)"))
    compiled = statement.compile(dialect=dialect, column_keys=list(columns))
    order = tuple(compiled.positiontup or ()) if dialect.positional else columns
    processors = tuple(processor_of(table.c[name].type, dialect) for name in order)
    return compiled.string, order, processors


def _upsert_statement(
    dialect: Dialect,
    table: sa.Table,
    columns: list[str],
    key: Sequence[str],
    updates: Sequence[str],
) -> Any:
    """The dialect's upsert; on SQLite and PostgreSQL a matched row whose fed columns
    already hold the values is left alone (not rewritten, not counted as written)."""
    values: dict[str, Any] = {name: sa.bindparam(name) for name in columns}
    if dialect.name in COUNTED:
        # the dialect in use alone is imported: PostgreSQL's costs a SQLite command ~30 ms
        insert = importlib.import_module(f"sqlalchemy.dialects.{dialect.name}").insert
        statement: Any = insert(table).values(values)
        if not updates:
            return statement.on_conflict_do_nothing(index_elements=list(key))
        excluded = statement.excluded
        return statement.on_conflict_do_update(
            index_elements=list(key),
            set_={name: excluded[name] for name in updates},
            where=changed(dialect, table, lambda n: table.c[n], lambda n: excluded[n], updates),
        )
    if dialect.name in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        mysql_statement = mysql_insert(table).values(values)
        return mysql_statement.on_duplicate_key_update(
            {name: mysql_statement.inserted[name] for name in updates or list(key)}
        )
    raise ConfigurationError(f"upserts are not supported on the '{dialect.name}' database")
