"""PostgreSQL's logged keys are each key value's text form, however the rows come.

A first import logs every key of its chunk, so the keys are made a column at
a time (``str`` in C where a key column holds only ints and strings); the
text must be the one :func:`_pg_text` gives a value at a time, as the bulk
path's text COPY writes it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from jobport.targets.pgcopy import CopyMerge
from jobport.targets.undoimages import Images, _pg_text

metadata = sa.MetaData()
table = sa.Table(
    "t",
    metadata,
    sa.Column("a", sa.Integer, primary_key=True),
    sa.Column("b", sa.String, primary_key=True),
    sa.Column("c", sa.String),
)


def one_at_a_time(rows: list[Any], width: int) -> list[tuple[str, ...]]:
    return [tuple(map(_pg_text, row[:width])) for row in rows]


@pytest.mark.parametrize(
    "rows",
    [
        [(1, "x", "c"), (-2, "ü\t", None), (10**30, "", "c")],
        [[1, "x", "c"], [2, "y", "d"]],  # rows as lists
        [(True, "x", "c"), (1, "y", "d")],  # a bool among ints: 't', not 'True'
        [(1.5, "x", "c"), (Decimal("2.50"), 7, "d")],  # other types, value by value
        [],
    ],
)
@pytest.mark.parametrize("key", [("a",), ("a", "b")])
def test_keys_are_the_text_forms_of_their_values(rows: list[Any], key: tuple[str, ...]) -> None:
    images = Images(table, key, "postgresql")
    logged = images.logged_keys(rows)
    assert logged == one_at_a_time(rows, len(key))
    assert all(type(k) is tuple for k in logged)
    assert images.logged_keys(iter(rows)) == logged  # any iterable


def test_rows_sent_are_tuples_of_the_values_copied() -> None:
    rows: list[Any] = [[1, "x", "c"], (2, "y", None)]
    merge = CopyMerge(
        target="t",
        stage="s",
        columns=("a", "b", "c"),
        direct="",
        create="",
        copy="",
        merge="",
        drop="",
        rows=rows,
        profile=(),
    )
    assert merge.sent(["a", "b", "c"]) == [(1, "x", "c"), (2, "y", None)]
    assert merge.sent(["c", "a"]) == [("c", 1), (None, 2)]
    assert merge.sent(["b"]) == [("x",), ("y",)]
