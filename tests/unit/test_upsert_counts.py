"""The upsert's counts on SQLite against a count made by hand, whatever the keys look like.

The key lookup takes shortcuts (keys past the column's range are not looked
up, a run of consecutive integers is one range scan, other keys go as one JSON
array, keys with no JSON form as bound parameters): each must count exactly
what a plain reading of the table says, for the upsert and for its dry run,
which must leave the table as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from random import Random
from typing import Any

import sqlalchemy as sa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from jobport.store.records import RowCounts
from jobport.targets.upsert import prepare_upsert

metadata = sa.MetaData()
by_int = sa.Table(
    "by_int",
    metadata,
    sa.Column("k", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("v", sa.String(10)),
)
by_text = sa.Table(
    "by_text",
    metadata,
    sa.Column("k", sa.String(10), primary_key=True),
    sa.Column("v", sa.String(10)),
)
by_bytes = sa.Table(
    "by_bytes",
    metadata,
    sa.Column("k", sa.LargeBinary(8), primary_key=True),
    sa.Column("v", sa.String(10)),
)
by_pair = sa.Table(
    "by_pair",
    metadata,
    sa.Column("a", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("b", sa.String(5), primary_key=True),
    sa.Column("v", sa.String(10)),
)

KEYS: dict[str, Callable[[int], Any]] = {
    "by_int": lambda n: n,
    "by_text": lambda n: f"k{n:03d}",
    "by_bytes": lambda n: n.to_bytes(2, "big"),
    "by_pair": lambda n: (n // 3, "ab"[n % 2]),
}


def _key_columns(table: sa.Table) -> list[str]:
    return [c.name for c in table.primary_key.columns]


def _rows(
    table: sa.Table, numbers: list[int], value: Callable[[int], str]
) -> list[tuple[Any, ...]]:
    make = KEYS[table.name]
    out = []
    for n in numbers:
        key = make(n)
        out.append((*key, value(n)) if isinstance(key, tuple) else (key, value(n)))
    return out


def _table_rows(conn: sa.Connection, table: sa.Table) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(sa.select(table).order_by(*table.primary_key))]


@settings(max_examples=60)
@example("by_int", set(range(11)), set(range(5, 11)), {7}, Random(0))  # one range scan
@example("by_int", set(range(11)), {5, 6, 8, 9, 10}, {9}, Random(0))  # a scan, less 7
@example("by_int", set(), set(range(5)), set(), Random(0))  # an empty table
@example("by_int", set(range(5)), {2, 9, 30}, {2}, Random(0))  # spread out, past the end
@example("by_text", set(range(11)), set(range(5, 15)), {7}, Random(0))
@example("by_pair", set(range(11)), set(range(5, 15)), {7}, Random(0))
@example("by_bytes", set(range(11)), set(range(5, 15)), {7}, Random(0))
@given(
    name=st.sampled_from(sorted(KEYS)),
    there=st.sets(st.integers(0, 30), max_size=20),
    sent=st.sets(st.integers(0, 40), min_size=1, max_size=25),
    changed=st.sets(st.integers(0, 40)),
    shuffle=st.randoms(use_true_random=False),
)
def test_counts_match_the_table(
    name: str, there: set[int], sent: set[int], changed: set[int], shuffle: Any
) -> None:
    table = metadata.tables[name]
    engine = sa.create_engine("sqlite://")
    metadata.create_all(engine, tables=[table])
    columns = [c.name for c in table.c]
    key = _key_columns(table)
    # Pair keys collide (n // 3): only one n per key is sent and kept.
    sent_rows = {KEYS[name](n): n for n in sorted(sent)}
    there_rows = {KEYS[name](n): n for n in sorted(there)}
    numbers = list(sent_rows.values())
    shuffle.shuffle(numbers)
    expected = RowCounts(
        created=sum(k not in there_rows for k in sent_rows),
        updated=sum(k in there_rows and sent_rows[k] in changed for k in sent_rows),
        unchanged=sum(k in there_rows and sent_rows[k] not in changed for k in sent_rows),
    )
    with engine.begin() as conn:
        first = _rows(table, list(there_rows.values()), lambda n: "old")
        prepare_upsert(engine.dialect, table, first, columns, key)(conn)
    # A sent row's value: "new" if its number is to change, else what is there for its key.
    rows = _rows(table, numbers, lambda n: "new" if n in changed else "old")
    with engine.begin() as conn:
        before = _table_rows(conn, table)
        dry = prepare_upsert(engine.dialect, table, rows, columns, key, dry_run=True)(conn)
        assert _table_rows(conn, table) == before
        real = prepare_upsert(engine.dialect, table, rows, columns, key)(conn)
    assert dry == real == expected
    engine.dispose()
