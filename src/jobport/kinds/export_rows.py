"""Reading an export chunk's rows fast: straight from the DB-API cursor, in batches.

A chunk reads only its own key range; each column is converted only where the
output format needs it (dates already ISO text, booleans stored as 0/1, floats
of a scaled NUMERIC), so most values pass from the driver to the writer as they are.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gc
import re
from collections.abc import Callable, Generator, Iterator, Sequence
from operator import itemgetter
from typing import Any

import sqlalchemy as sa

from jobport.formats.writers import Batch
from jobport.kinds.exporter import Column

#: Rows fetched from the database at a time while a chunk writes its part.
FETCH_ROWS = 2_000


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cycle collector while a chunk streams its rows.

    Every batch allocates thousands of tuples that die young by reference
    counting (no cycles); the collector would keep scanning them for nothing,
    about a tenth of a chunk's time. Memory stays bounded by the batch size.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def formatted_rows(result: Any, columns: Sequence[Column]) -> Iterator[tuple[Any, ...]]:
    """Each result row's values in column order, through the columns' formatters."""
    names = list(result.keys())
    positions = [names.index(c.name) for c in columns]
    formatters = [(i, c.formatter) for i, c in enumerate(columns) if c.formatter is not None]
    pick = None if positions == list(range(len(names))) else itemgetter(*positions)
    for row in result:
        values = tuple(row) if pick is None else pick(row)
        if formatters:
            changed = list(values)
            for index, formatter in formatters:
                changed[index] = formatter(changed[index])
            values = tuple(changed)
        yield values if type(values) is tuple else (values,)


# -- reading a chunk's rows -------------------------------------------------------------------
#
# A chunk reads its rows through the DB-API cursor, in batches of ``FETCH_ROWS``
# tuples, and converts values a whole column at a time, only where the output
# needs it. The rule for every column:
#
# * a column with a ``formatter`` gets, cell by cell, the Python value SQLAlchemy
#   would give for it (the column type's result processing applied to the stored
#   value), whatever the format; what the formatter returns is written as text;
# * any other column is written exactly as the value SQLAlchemy would give is
#   written. Where the database driver's value already is that (no result
#   processing: text, integers, floats, and every type PostgreSQL's driver
#   decodes itself) it is written as it comes. Where SQLAlchemy would convert it
#   (SQLite's dates, decimals and booleans), the column is converted with
#   SQLAlchemy's own processor, unless the format writes the stored value the same
#   way: CSV and JSON Lines write a date stored as ISO text as that text, a decimal
#   stored as a float as that float with the column's scale, and CSV writes a
#   boolean stored as 0 or 1 as it writes False or True. Each such shortcut is
#   checked against SQLAlchemy's processor before it is used, and a batch it does
#   not fit (a date not in ISO form, an infinite decimal) goes through the processor.
#
# Dialects with server-side cursors (PostgreSQL) stream the rows through
# SQLAlchemy's result instead (``yield_per``), so a chunk never holds more than a
# batch of them; their values are then SQLAlchemy's already.

Convert = Callable[[Sequence[Any]], Sequence[Any]]
_ISO_DATES = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:\n[0-9]{4}-[0-9]{2}-[0-9]{2})*")
#: Formats that write dates and decimals as text (so a stored text or float may do).
_TEXT_FORMATS = ("csv", "jsonl")
#: Floats that check a decimal shortcut against SQLAlchemy's processor.
_DECIMAL_PROBES = (0, 7, 0.0, -0.0, 0.5, 1.005, -2.675, 450.7, 1491.26, -1234.5678, 1e15, 2.5e-7)
_NOT_FINITE = frozenset({"inf", "-inf", "nan", "-nan"})


def read_batches(
    conn: sa.Connection, query: sa.Select[Any], columns: Sequence[Column], fmt: str
) -> Generator[Batch]:
    """The rows of ``query`` as batches of the ``columns`` values, ready for ``fmt``."""
    dialect = conn.dialect
    if dialect.supports_server_side_cursors:
        yield from _streamed_batches(conn, query, columns)
        return
    types = [column.type for column in query.selected_columns]
    result = conn.execute(query)
    try:
        names = list(result.keys())
        positions = [names.index(column.name) for column in columns]
        cursor = result.cursor
        description = cursor.description or []
        steps = [
            (index, step)
            for index, column in enumerate(columns)
            if (
                step := column_step(
                    column,
                    types[positions[index]],
                    dialect,
                    description[positions[index]][1] if description else None,
                    fmt,
                )
            )
            is not None
        ]
        pick = _picker(positions, len(names))
        width = len(columns)
        while rows := cursor.fetchmany(FETCH_ROWS):
            batch = pick(rows, width)
            for index, convert in steps:
                batch.set_column(index, convert(batch.column(index)))
            yield batch
    finally:
        result.close()


def _streamed_batches(
    conn: sa.Connection, query: sa.Select[Any], columns: Sequence[Column]
) -> Iterator[Batch]:
    result = conn.execution_options(yield_per=FETCH_ROWS).execute(query)
    try:
        names = list(result.keys())
        positions = [names.index(column.name) for column in columns]
        formatters = [(i, c.formatter) for i, c in enumerate(columns) if c.formatter is not None]
        pick = _picker(positions, len(names))
        for rows in result.partitions():
            batch = pick(rows, len(columns))
            for index, formatter in formatters:
                batch.set_column(index, list(map(formatter, batch.column(index))))
            yield batch
    finally:
        result.close()


def _picker(positions: list[int], width: int) -> Callable[[Sequence[Any], int], Batch]:
    """Rows of the query's columns -> a batch of the output columns, picked in C."""
    if positions == list(range(width)):
        return Batch
    if len(positions) == 1:
        (position,) = positions
        getter = itemgetter(position)
        return lambda rows, _: Batch.of_columns([list(map(getter, rows))])
    pick = itemgetter(*positions)
    return lambda rows, width: Batch(list(map(pick, rows)), width)


def column_step(
    column: Column, declared: Any, dialect: sa.Dialect, coltype: Any, fmt: str
) -> Convert | None:
    """How one column's stored values become what ``fmt``'s writer needs (None: as they are)."""
    processor = declared.dialect_impl(dialect).result_processor(dialect, coltype)
    formatter = column.formatter
    if formatter is not None:
        if processor is None:
            return lambda values: [formatter(v) for v in values]
        return lambda values: [formatter(processor(v)) for v in values]
    if processor is None:
        return None
    if not isinstance(declared, sa.TypeDecorator):
        if fmt == "csv" and isinstance(declared, sa.Boolean) and _stored_booleans(processor):
            return None  # the CSV writer spells 0/1 as False/True (see bool_texts)
        if fmt in _TEXT_FORMATS and isinstance(declared, sa.Date):
            shortcut = _iso_dates(processor)
            if shortcut is not None:
                return shortcut
        if fmt in _TEXT_FORMATS and isinstance(declared, sa.Numeric):
            shortcut = _scaled_floats(declared, processor)
            if shortcut is not None:
                return shortcut
    return lambda values: list(map(processor, values))


def _stored_booleans(processor: Callable[[Any], Any]) -> bool:
    try:
        return processor(1) is True and processor(0) is False and processor(None) is None
    except Exception:
        return False


def _iso_dates(processor: Callable[[Any], Any]) -> Convert | None:
    """Dates stored as ISO text, written as that text (what ``str(date)`` would give).

    A batch is written as stored when every value is text in the form
    ``YYYY-MM-DD`` (one match over the batch) naming a real date (the C
    ``date.fromisoformat``, three times faster than SQLAlchemy's processor):
    SQLAlchemy reads exactly such text as that date, and ``str`` of it is the
    text. Any other batch goes through the processor value by value, so a date
    SQLAlchemy would refuse fails the chunk with its error, and one it reads
    differently (a week date) is written as it reads it."""
    try:
        if processor("2020-09-11") != dt.date(2020, 9, 11):
            return None
    except Exception:
        return None
    from_iso = dt.date.fromisoformat

    def convert(values: Sequence[Any]) -> Sequence[Any]:
        present = [v for v in values if v is not None] if None in values else values
        try:
            # Each value is text: one line each (the match refuses a newline inside one).
            if not present or (
                _ISO_DATES.fullmatch("\n".join(present)) and all(map(from_iso, present))
            ):
                return values
        except (TypeError, ValueError):
            pass  # not text, or not a date: the processor decides, as it would have
        return list(map(processor, values))

    return convert


def _scaled_floats(declared: sa.Numeric[Any], processor: Callable[[Any], Any]) -> Convert | None:
    """Decimals stored as floats (SQLite), written as SQLAlchemy's Decimal would be.

    SQLAlchemy reads them as ``Decimal("%.<scale>f" % value)``; written, that is the
    formatted text itself, which is what this gives without the Decimal."""
    if not declared.asdecimal:
        return None
    scale = declared.decimal_return_scale
    if scale is None:
        scale = getattr(declared, "scale", None)
    # Beyond six places, str(Decimal) may switch to exponent notation; not worth it.
    if scale is None or not 0 <= scale <= 6:
        return None
    text = f"%.{scale}f"
    try:
        for probe in _DECIMAL_PROBES:
            value = processor(probe)
            if not (str(value) == format(value, "f") == text % probe):
                return None
    except Exception:
        return None

    @functools.lru_cache(maxsize=4)
    def lines_of(count: int) -> str:
        return "\n".join([text] * count)

    def convert(values: Sequence[Any]) -> Sequence[Any]:
        if None in values:
            texts = [None if v is None else text % v for v in values]
            if not _NOT_FINITE.isdisjoint(texts):
                return list(map(processor, values))  # Decimal("Infinity") is "Infinity"
            return texts
        if not values:
            return values
        # The whole batch in one formatting call (a fifth cheaper than one call per
        # value): a formatted number is one line, so the lines are the texts.
        joined = lines_of(len(values)) % tuple(values)
        if "n" in joined:  # "inf" or "nan": only a non-finite number has an "n"
            return list(map(processor, values))
        return joined.split("\n")

    return convert
