"""PostgreSQL's bulk path: rows ``COPY``-ed into the target, or into a staging table merged.

First choice: ``COPY`` straight into the target inside a savepoint; on an
existing key, the rows go through a temporary staging table and one ``INSERT
... SELECT ... ON CONFLICT (key) DO UPDATE`` of the columns the file feeds,
where one of them differs. Binary COPY is chosen when every value's Python type
is exactly the one its column's database type is written from; anything else
goes in text. Each load says how many rows it created, updated and left
unchanged; a dry run's rows only go to the staging table, joined to the target
to count."""

from __future__ import annotations

import datetime
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from jobport.errors import InputError
from jobport.store.records import RowCounts
from jobport.targets.convert import Processor, converted_rows, processor_of
from jobport.targets.counting import (
    STAGE_SENTINEL,
    changed,
    counts_of_staged,
    create_stage_sql,
    stage_name,
    staged_count_sql,
)


@dataclass(frozen=True)
class CopyMerge:
    """Rows ready for ``COPY``, and how to land them in the target.

    First choice: ``COPY`` straight into the target inside a savepoint, the
    cost of a plain bulk load. If a row's key is already there (a unique
    violation), the savepoint is rolled back and the rows take the merge path:
    ``COPY`` into a staging table, then one ``INSERT ... SELECT ... ON
    CONFLICT (key) DO UPDATE``. Either way the outcome is the upsert's. After a
    conflict on a table, the next chunks of this process go straight to the
    merge (retrying the direct path now and then), so re-imports do not pay
    for a failed load each time.

    The rows go in COPY's binary format when every column's values have the
    exact Python type of the column's type in the database (read from its
    catalog, not the model): the server then parses no text at all, and the
    rows stream while they are formatted. Any other chunk goes in text
    format, which is exact for every type in ``_COPY_FORMAT``.

    The staging table holds only the copied columns, with their types and no
    constraints or defaults (a serial default would otherwise be drawn twice);
    it is dropped right after the merge, and at commit in any case.

    The merge rewrites a matched row only where a fed column differs, and
    returns per row whether it inserted it (``xmax = 0``): a direct load
    created every row; a merge created and updated what it returned, and left
    the rest unchanged. A dry run (``dry_run``) loads the staging table only
    and joins it to the target to count what the merge would do.
    """

    target: str
    stage: str
    columns: tuple[str, ...]
    direct: str
    create: str
    copy: str
    merge: str
    drop: str
    rows: Sequence[Sequence[Any]]
    profile: tuple[ColumnProfile, ...]
    #: The dry run's count of matched and differing rows (see ``staged_count_sql``).
    count: str = ""
    dry_run: bool = False

    def sent(self, names: Sequence[str]) -> list[tuple[Any, ...]] | None:
        """Each row's values of ``names`` as they go to ``COPY`` (the undo log's
        after-images, see ``targets/undolog.py``); None for a dry run."""
        if self.dry_run:
            return None
        if tuple(names) == self.columns:
            return list(map(tuple, self.rows))  # a tuple is its own tuple: no copy
        at = [self.columns.index(name) for name in names]
        pick: Any = itemgetter(*at) if len(at) > 1 else lambda row: (row[at[0]],)
        return list(map(pick, self.rows))

    def sent_types(self, names: Sequence[str]) -> list[frozenset[type] | None]:
        """Per name, its values' types in :meth:`sent` (NULLs aside), as the choice of
        the COPY format found them (:func:`column_profile`)."""
        types = dict(zip(self.columns, (p.types for p in self.profile), strict=True))
        return [types.get(name) for name in names]

    def __call__(self, conn: Connection) -> RowCounts:
        dbapi: Any = conn.connection.dbapi_connection  # a psycopg 3 connection
        with dbapi.cursor() as cursor:
            if self.dry_run:
                return self._dry_run(cursor)
            load = self._loader(cursor)
            if _direct_worth_trying(self.target) and self._direct(cursor, load):
                return RowCounts(created=len(self.rows))
            cursor.execute(self.create)
            load(cursor, self.copy)
            cursor.execute(self.merge)
            created, updated = cursor.fetchone()
            cursor.execute(self.drop)
            return RowCounts(created, updated, len(self.rows) - created - updated)

    def _dry_run(self, cursor: Any) -> RowCounts:
        """Stage the rows (the staging table's own types decide the format), count, drop.

        The target is only read: no lock beyond a plain SELECT's.
        """
        cursor.execute(self.create)
        load = self._loader(cursor, relation=self.stage, lock=False)
        load(cursor, self.copy)
        cursor.execute(self.count)
        matched, differing = cursor.fetchone()
        cursor.execute(self.drop)
        return counts_of_staged(len(self.rows), int(matched), int(differing))

    def _loader(
        self, cursor: Any, *, relation: str | None = None, lock: bool = True
    ) -> Callable[[Any, str], None]:
        """Binary if the column types of ``relation`` (the target), as of now, take these
        rows exactly; else text.

        The types are read under the lock COPY takes anyway, so they cannot
        change before the rows land: binary data read as another type of the
        same width would be stored wrong, not refused.
        """
        relation = relation or self.target
        if lock:
            cursor.execute(f"LOCK TABLE {relation} IN ROW EXCLUSIVE MODE")
        cursor.execute(_COLUMN_TYPES, (relation,))
        database_types = {str(name): str(type_name) for name, type_name in cursor.fetchall()}
        binary = binary_copy_types(self.profile, [database_types.get(c) for c in self.columns])
        return self._binary_loader(binary) if binary is not None else self._text_loader()

    def _binary_loader(self, types: list[str]) -> Callable[[Any, str], None]:
        rows = self.rows

        def load(cursor: Any, statement: str) -> None:
            with cursor.copy(statement + " (FORMAT binary)") as copy:
                copy.set_types(types)
                deque(map(copy.write_row, rows), maxlen=0)  # the loop in C

        return load

    def _text_loader(self) -> Callable[[Any, str], None]:
        text: list[str] = []  # formatted once, on first use

        def load(cursor: Any, statement: str) -> None:
            if not text:
                formatted = copy_text(self.rows, len(self.columns))
                if formatted is None:  # only a NUL in a string of a declared column
                    raise InputError("a value holds a NUL byte, which PostgreSQL cannot store")
                text.append(formatted)
            with cursor.copy(statement) as copy:
                copy.write(text[0])

        return load

    def _direct(self, cursor: Any, load: Callable[[Any, str], None]) -> bool:
        from psycopg.errors import UniqueViolation

        cursor.execute("SAVEPOINT jobport_copy")
        try:
            load(cursor, self.direct)
        except UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT jobport_copy")
            _conflicts[self.target] = _conflicts.get(self.target, 0) + 1
            return False
        cursor.execute("RELEASE SAVEPOINT jobport_copy")
        _conflicts.pop(self.target, None)
        return True


#: Per target table: how many chunks in a row met existing keys (this process only).
_conflicts: dict[str, int] = {}
#: After a conflict, one chunk in this many tries the direct path again.
DIRECT_RETRY_EVERY = 16


def _direct_worth_trying(target: str) -> bool:
    count = _conflicts.get(target, 0)
    if count and count % DIRECT_RETRY_EVERY:
        _conflicts[target] = count + 1
        return False
    return True


# -- PostgreSQL: COPY into a staging table, then merge --------------------------------------


def prepare_copy_merge(
    dialect: Dialect,
    table: sa.Table,
    rows: Sequence[Sequence[Any]],
    columns: tuple[str, ...],
    key: tuple[str, ...],
    updates: tuple[str, ...],
    value_types: Sequence[frozenset[type] | None],
    *,
    dry_run: bool = False,
) -> CopyMerge | None:
    """The bulk path for ``rows``, or None when a value has no exact COPY form.

    With ``dry_run``, the rows are only staged and counted against the target.
    """
    processors = _copy_processors(dialect, table, columns)
    converted = rows if not any(processors) else converted_rows(rows, columns, columns, processors)
    # A processor's output is not what the row model declared.
    declared = [
        types if processor is None else None
        for types, processor in zip(value_types or [None] * len(columns), processors, strict=True)
    ]
    profile = column_profile(converted, len(columns), declared)
    if profile is None:
        return None
    stage = stage_name()
    target, direct, create, copy, merge, drop = _copy_statements(
        dialect, table, columns, key, updates, stage
    )
    return CopyMerge(
        target=target,
        stage=dialect.identifier_preparer.quote(stage),
        columns=columns,
        direct=direct,
        create=create,
        copy=copy,
        merge=merge,
        drop=drop,
        rows=converted,
        profile=profile,
        count=staged_count_sql(dialect, table, stage, key, updates) if dry_run else "",
        dry_run=dry_run,
    )


#: Column types whose values COPY text formatting writes exactly without a bind processor.
_PLAIN_TYPES = (
    sa.Integer,
    sa.String,
    sa.Numeric,
    sa.Date,
    sa.DateTime,
    sa.Time,
    sa.Boolean,
    sa.Uuid,
    sa.LargeBinary,
)


@lru_cache(maxsize=128)
def _copy_processors(
    dialect: Dialect, table: sa.Table, columns: tuple[str, ...]
) -> tuple[Processor | None, ...]:
    """Bind processors where a column type changes values (TypeDecorator, Enum, ...)."""
    out: list[Processor | None] = []
    for name in columns:
        column_type = table.c[name].type
        plain = isinstance(column_type, _PLAIN_TYPES) and not isinstance(
            column_type, sa.types.TypeDecorator | sa.Enum
        )
        out.append(None if plain else processor_of(column_type, dialect))
    return tuple(out)


def _copy_statements(
    dialect: Dialect,
    table: sa.Table,
    columns: tuple[str, ...],
    key: tuple[str, ...],
    updates: tuple[str, ...],
    stage_table: str,
) -> tuple[str, str, str, str, str, str]:
    """The statements of one upsert, each naming its own staging table (several upserts
    may share one transaction); built once per shape, the stage's name put in after."""
    shaped = _shaped_statements(dialect, table, columns, key, updates)
    target, direct, create, copy, merge, drop = (
        sql.replace(STAGE_SENTINEL, stage_table) for sql in shaped
    )
    return target, direct, create, copy, merge, drop


@lru_cache(maxsize=128)
def _shaped_statements(
    dialect: Dialect,
    table: sa.Table,
    columns: tuple[str, ...],
    key: tuple[str, ...],
    updates: tuple[str, ...],
) -> tuple[str, str, str, str, str, str]:
    quote = dialect.identifier_preparer.quote
    target = dialect.identifier_preparer.format_table(table)
    stage_table = STAGE_SENTINEL
    stage = quote(stage_table)
    names = ", ".join(quote(name) for name in columns)
    conflict = ", ".join(quote(name) for name in key)
    return (
        target,
        f"COPY {target} ({names}) FROM STDIN",
        create_stage_sql(dialect, table, stage_table, columns),
        f"COPY {stage} ({names}) FROM STDIN",
        _counted_merge(dialect, table, target, stage, names, conflict, updates),
        f"DROP TABLE {stage}",
    )


def _counted_merge(
    dialect: Dialect,
    table: sa.Table,
    target: str,
    stage: str,
    names: str,
    conflict: str,
    updates: tuple[str, ...],
) -> str:
    """The staging table merged into the target, answering (rows created, rows updated).

    A matched row is rewritten only where a fed column differs; each row the
    statement inserted or updated returns whether it was inserted.
    """
    quote = dialect.identifier_preparer.quote
    alias = "jobport_target"
    if updates:
        sets = ", ".join(f"{quote(name)} = EXCLUDED.{quote(name)}" for name in updates)
        existing = sa.table(alias, *(sa.column(name) for name in updates))
        excluded = sa.table("excluded", *(sa.column(name) for name in updates))
        differs = changed(dialect, table, lambda n: existing.c[n], lambda n: excluded.c[n], updates)
        assert differs is not None
        where = str(differs.compile(dialect=dialect))
        action = f"DO UPDATE SET {sets} WHERE {where}"
    else:
        action = "DO NOTHING"
    return (
        f"WITH merged AS (INSERT INTO {target} AS {alias} ({names}) SELECT {names} FROM {stage} "
        f"ON CONFLICT ({conflict}) {action} RETURNING (xmax = 0) AS inserted) "
        "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) "
        "FROM merged"
    )


_COPY_SPECIALS = ("\\", "\t", "\n", "\r")


def _escape(value: str) -> str:
    """COPY text format: backslash, tab, newline and carriage return are escaped."""
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def _bytea(value: bytes | bytearray | memoryview) -> str:
    return "\\\\x" + bytes(value).hex()


#: How each Python type is written in COPY text format (strings handled apart).
_COPY_FORMAT: dict[type, Callable[[Any], str]] = {
    int: int.__repr__,
    bool: {True: "t", False: "f"}.__getitem__,
    float: float.__repr__,  # 'nan', 'inf', '-inf' and exponents are valid input
    Decimal: Decimal.__str__,
    datetime.date: datetime.date.isoformat,
    datetime.datetime: datetime.datetime.isoformat,
    datetime.time: datetime.time.isoformat,
    uuid.UUID: uuid.UUID.__str__,
    bytes: _bytea,
    bytearray: _bytea,
    memoryview: _bytea,
}


def copy_text(rows: Sequence[Sequence[Any]], width: int) -> str | None:
    """``rows`` in PostgreSQL's COPY text format, or None if a value's type is not known.

    Work is done column by column: one type check per column picks one
    formatter, so the per-value work is a single C-level call where possible.
    """
    if not rows:
        return ""
    if set(map(len, rows)) != {width}:
        return None
    out_columns: list[Sequence[str]] = []
    for index in range(width):
        # One C-level pass per column: three times faster than zip(*rows).
        formatted = _copy_column(tuple(map(itemgetter(index), rows)))
        if formatted is None:
            return None
        out_columns.append(formatted)
    return "\n".join(map("\t".join, zip(*out_columns, strict=True))) + "\n"


def _copy_column(column: tuple[Any, ...]) -> Sequence[str] | None:
    types = set(map(type, column))
    nullable = type(None) in types
    types.discard(type(None))
    if not types:
        return ["\\N"] * len(column)
    if types == {str}:
        values = [v for v in column if v is not None] if nullable else column
        joined = "".join(values)
        if "\x00" in joined:
            return None  # PostgreSQL text cannot hold NUL; let the driver say so
        special = any(char in joined for char in _COPY_SPECIALS)
        if not special:
            if not nullable:
                return column
            return ["\\N" if v is None else v for v in column]
        return ["\\N" if v is None else _escape(v) for v in column]
    if len(types) == 1:
        (kind,) = types
        format_value = _COPY_FORMAT.get(kind)
    else:
        format_value = _mixed if types <= _COPY_FORMAT.keys() | {str} else None
    if format_value is None:
        return None
    if not nullable:
        return list(map(format_value, column))
    return ["\\N" if v is None else format_value(v) for v in column]


def _mixed(value: Any) -> str:
    if type(value) is str:
        return _escape(value)
    return _COPY_FORMAT[type(value)](value)


# -- which format a chunk's COPY takes --------------------------------------------------------

_COPY_TYPES = frozenset(_COPY_FORMAT) | {str}


@dataclass(frozen=True)
class ColumnProfile:
    """What one column of a chunk holds: its values' exact types (NULLs apart) and int range."""

    types: frozenset[type]
    low: int = 0
    high: int = 0


def column_profile(
    rows: Sequence[Sequence[Any]],
    width: int,
    declared: Sequence[frozenset[type] | None] = (),
) -> tuple[ColumnProfile, ...] | None:
    """Each column's profile, or None when a value has no exact COPY form at all.

    The same test ``copy_text`` makes (known types, no NUL in a string, every
    row ``width`` long), without formatting anything: which format the rows
    take is only known once the database's column types are. A column whose
    types are ``declared`` (by the row model that validated it) is taken at its
    word, but for the range of its ints. Its strings are not searched for NUL
    (file readers refuse one as a row failure): should one come, binary COPY
    has the server refuse it, and the text form refuses it before sending.
    """
    if not rows:
        return ()
    if set(map(len, rows)) != {width}:
        return None
    declared = list(declared) or [None] * width
    out: list[ColumnProfile] = []
    for index, known in enumerate(declared):
        if known is not None and known <= _COPY_TYPES:
            if int not in known:
                out.append(ColumnProfile(known))
                continue
            types = set(known)
            column = tuple(map(itemgetter(index), rows))
        else:
            column = tuple(map(itemgetter(index), rows))
            types = set(map(type, column))
        types.discard(type(None))
        if not types <= _COPY_TYPES:
            return None
        if str in types:
            # filter(None, ...) drops NULLs and empty strings, which hold no NUL.
            strings = filter(None, column) if types == {str} else _strings(column)
            if "\x00" in "".join(strings):
                return None  # PostgreSQL text cannot hold NUL; let the driver say so
        if types == {int}:
            # filter(None, ...) drops NULLs and zeros; neither can leave a range.
            low, high = min(filter(None, column), default=0), max(filter(None, column), default=0)
            out.append(ColumnProfile(frozenset(types), low, high))
        else:
            out.append(ColumnProfile(frozenset(types)))
    return tuple(out)


def _strings(column: Sequence[Any]) -> list[str]:
    return [value for value in column if type(value) is str]


#: Database type -> (the type named to the driver, the Python types it writes exactly).
#: Text and varchar share one binary form, as do the other string types listed.
_BINARY_TYPES: dict[str, tuple[str, frozenset[type]]] = {
    "int2": ("int2", frozenset({int})),
    "int4": ("int4", frozenset({int})),
    "int8": ("int8", frozenset({int})),
    "float8": ("float8", frozenset({float})),
    "numeric": ("numeric", frozenset({Decimal})),
    "text": ("text", frozenset({str})),
    "varchar": ("text", frozenset({str})),
    "bool": ("bool", frozenset({bool})),
    "date": ("date", frozenset({datetime.date})),
    "uuid": ("uuid", frozenset({uuid.UUID})),
    "bytea": ("bytea", frozenset({bytes, bytearray, memoryview})),
}
_INT_BITS = {"int2": 15, "int4": 31, "int8": 63}


def binary_copy_types(
    profile: Sequence[ColumnProfile], database_types: Sequence[str | None]
) -> list[str] | None:
    """The types to name for a binary COPY of columns so profiled, or None to use text.

    Binary COPY has no casts: the server reads each value as its column's own
    type. So it is taken only where every value's exact Python type is the
    one the column's type is written from (an int into an ``int4`` column,
    in its range; a Decimal into a ``numeric``). A column of NULLs alone fits
    any type. Anything else (timestamps, whose time zone handling the text
    form leaves to the server; an int bound for a ``numeric``) goes in text.
    """
    out: list[str] = []
    for column, database_type in zip(profile, database_types, strict=True):
        if not column.types:
            out.append("text")  # only NULLs, whose binary form has no type
            continue
        entry = _BINARY_TYPES.get(database_type or "")
        if entry is None or not column.types <= entry[1]:
            return None
        name = entry[0]
        bits = _INT_BITS.get(name)
        if bits is not None and not (-(1 << bits) <= column.low and column.high < 1 << bits):
            return None  # out of range: the text form lets the server say so
        out.append(name)
    return out


#: The type of each column of a table, by the table's name as SQL would write it.
_COLUMN_TYPES = (
    "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
    "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped"
)
