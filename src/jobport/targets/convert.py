"""Values converted for the driver column by column, as SQLAlchemy would bind them.

Shared by the ``executemany`` path and PostgreSQL's COPY path: each column's
own bind processor (or a C builtin that stores exactly the same value) is
mapped over a whole column at C speed."""

from __future__ import annotations

import datetime
import itertools
import operator
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

Processor = Callable[[Any], Any]


def converted_rows(
    rows: Sequence[Sequence[Any]],
    columns: Sequence[str],
    order: Sequence[str],
    processors: Sequence[Processor | None],
) -> list[tuple[Any, ...]]:
    """``rows`` as parameter tuples in ``order``, each value through its column's processor.

    Column by column, so each processor is mapped over a whole column at C
    speed instead of being looked up and called from a loop for every row.
    """
    positions = [list(columns).index(name) for name in order]
    steps = [(i, p) for i, p in enumerate(processors) if p is not None]
    if not steps and positions == list(range(len(columns))):
        return [row if type(row) is tuple else tuple(row) for row in rows]
    picked: list[Sequence[Any]] = [tuple(map(itemgetter(p), rows)) for p in positions]
    for i, process in steps:
        column = picked[i]
        types = set(map(type, column))
        if process is float and types <= {float, type(None)}:
            continue  # already what the driver stores
        if type(None) in types:
            picked[i] = map_keeping_none(process, column)
        else:
            picked[i] = list(map(process, column))
    return list(zip(*picked, strict=True))


def map_keeping_none(process: Processor, column: Sequence[Any]) -> list[Any]:
    """``process`` over ``column``, NULLs left alone, one C-level map per run of values.

    NULLs are found by identity: ``==`` against None costs Decimal an ABC check.
    """
    is_null = list(map(operator.is_, column, itertools.repeat(None)))
    out: list[Any] = []
    start = 0
    while True:
        try:
            stop = is_null.index(True, start)
        except ValueError:
            out.extend(map(process, column[start:]))
            return out
        out.extend(map(process, column[start:stop]))
        out.append(None)
        start = stop + 1


def processor_of(column_type: sa.types.TypeEngine[Any], dialect: Dialect) -> Processor | None:
    """The column's bind processor, or a C builtin that stores exactly the same value.

    The builtins matter: conversion runs once per value of every imported row.
    """
    if dialect.name == "sqlite" and not isinstance(column_type, sa.types.TypeDecorator):
        if type(column_type) in (sa.Date, sa.types.DATE):
            return datetime.date.isoformat  # SQLAlchemy's SQLite DATE format is ISO 8601
        if isinstance(column_type, sa.Numeric | sa.Float):  # apart since SQLAlchemy 2.1
            return float  # what SQLAlchemy's SQLite Numeric and Float bind
        if isinstance(column_type, sa.Boolean):
            return None  # sqlite3 stores bool as 0/1 itself
    processor: Processor | None = column_type._cached_bind_processor(dialect)
    return processor
