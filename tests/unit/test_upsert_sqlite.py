"""Bulk upserts on SQLite store exactly what SQLAlchemy's own insert would store."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from jobport.targets.upsert import upsert_rows


def _table(metadata: sa.MetaData, name: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("day", sa.Date),
        sa.Column("amount", sa.Numeric(12, 2)),
        sa.Column("ratio", sa.Float),
        sa.Column("flag", sa.Boolean),
        sa.Column("stamp", sa.DateTime),
        sa.Column("label", sa.String(20)),
    )


maybe = st.none
value_row = st.tuples(
    st.one_of(maybe(), st.dates()),
    st.one_of(maybe(), st.decimals(places=2, min_value=-(10**9), max_value=10**9)),
    st.one_of(maybe(), st.floats(allow_nan=False), st.integers(-1000, 1000)),
    st.one_of(maybe(), st.booleans()),
    st.one_of(maybe(), st.datetimes()),
    st.one_of(maybe(), st.text(max_size=5)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(value_row, min_size=1, max_size=30))
def test_stored_values_match_sqlalchemy(values: list[tuple[Any, ...]]) -> None:
    engine = sa.create_engine("sqlite://")
    metadata = sa.MetaData()
    ours, reference = _table(metadata, "ours"), _table(metadata, "reference")
    metadata.create_all(engine)
    columns = [c.name for c in ours.c]
    rows = [(index, *row) for index, row in enumerate(values)]
    with engine.begin() as conn:
        upsert_rows(conn, ours, rows, columns, ["id"])
        conn.execute(reference.insert(), [dict(zip(columns, row, strict=True)) for row in rows])
        raw = "SELECT {} FROM {} ORDER BY id"
        names = ", ".join(f"{c}, typeof({c})" for c in columns)
        stored = conn.exec_driver_sql(raw.format(names, "ours")).all()
        expected = conn.exec_driver_sql(raw.format(names, "reference")).all()
    assert stored == expected


def test_an_upsert_overwrites_on_the_key() -> None:
    engine = sa.create_engine("sqlite://")
    table = _table(sa.MetaData(), "t")
    table.metadata.create_all(engine)
    columns = ["id", "day", "amount"]
    with engine.begin() as conn:
        upsert_rows(conn, table, [(1, dt.date(2024, 1, 2), Decimal("1.50"))], columns, ["id"])
        upsert_rows(conn, table, [(1, None, Decimal("2.25")), (2, None, None)], columns, ["id"])
        stored = conn.execute(sa.select(table.c.id, table.c.day, table.c.amount)).all()
    assert stored == [(1, None, Decimal("2.25")), (2, None, None)]
