"""PostgreSQL's binary COPY lands exactly what the text COPY lands, and only where it is exact.

The same rows go into two tables of the same shape, once in binary and once
with the binary path turned off; the rows read back must be identical, on
the direct path and on the staging merge. A spy on the format decision shows
the binary path was really taken. Binary COPY has no casts, so the column
types are read from the database, not the model, and anything without an
exact binary form (an int bound for a numeric column, an int4 out of range,
a timestamp) goes in text.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from jobport.store import upsert
from jobport.store.upsert import ColumnProfile, binary_copy_types, prepare_upsert

pytestmark = pytest.mark.postgres

metadata = sa.MetaData()
wide = sa.Table(
    "wide",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("small", sa.SmallInteger),
    sa.Column("big", sa.BigInteger),
    sa.Column("ratio", sa.Float),
    sa.Column("amount", sa.Numeric(20, 6)),
    sa.Column("free_amount", sa.Numeric),
    sa.Column("name", sa.String(50)),
    sa.Column("note", sa.Text),
    sa.Column("flag", sa.Boolean),
    sa.Column("day", sa.Date),
    sa.Column("token", sa.Uuid),
    sa.Column("blob", sa.LargeBinary),
)
wide_text = wide.to_metadata(metadata, name="wide_text")
COLUMNS = [c.name for c in wide.c]
TOKEN = uuid.UUID("12345678-1234-5678-1234-567812345678")

FIRST = [
    (1, -32768, -(2**63), float("nan"), Decimal("123456.123456"), Decimal("1E+10"), "",
     "tab\there\nnew line \\N back\\slash\r", True, dt.date(1, 1, 1), TOKEN, b"\x00\xff\\"),
    (2, 32767, 2**63 - 1, float("inf"), Decimal("-0.000001"), Decimal("NaN"), "é 中文 🚀",
     None, False, dt.date(9999, 12, 31), None, b""),
    (3, None, None, -0.0, None, Decimal("-Infinity"), "x", "", None, None, None, None),
    (4, 0, 0, 1e-300, Decimal("0.1234567"), Decimal("-12345678901234567890.0987654321"),
     "\\N", "\t", True, dt.date(2024, 2, 29), uuid.UUID(int=0), bytes(range(256))),
]  # fmt: skip
SECOND = [
    (2, 1, 2, 2.5, Decimal("7"), Decimal("0"), "updated", "now a note", True,
     dt.date(2000, 1, 1), TOKEN, b"new"),
    (5, None, 5, float("-inf"), Decimal("5.5"), None, "new row", None, False, None, None, None),
]  # fmt: skip


@pytest.fixture
def tables(pg_engine: sa.Engine) -> Iterator[sa.Engine]:
    metadata.create_all(pg_engine)
    upsert._conflicts.clear()
    yield pg_engine
    upsert._conflicts.clear()


@pytest.fixture
def formats(monkeypatch: pytest.MonkeyPatch) -> list[list[str] | None]:
    """What each COPY was decided to be: binary types, or None for text."""
    decided: list[list[str] | None] = []
    real = upsert.binary_copy_types

    def spy(*args: Any) -> list[str] | None:
        result = real(*args)
        decided.append(result)
        return result

    monkeypatch.setattr(upsert, "binary_copy_types", spy)
    return decided


def load(engine: sa.Engine, table: sa.Table, rows: list[tuple[Any, ...]]) -> None:
    with engine.begin() as conn:
        write = prepare_upsert(conn.dialect, table, rows, COLUMNS, ["id"])
        assert write.copy is not None, "these rows have a COPY form"
        write(conn)


def read(engine: sa.Engine, table: sa.Table) -> list[str]:
    """The rows as their repr: NaN never equals NaN, and -0.0 equals 0.0."""
    with engine.connect() as conn:
        return [repr(tuple(row)) for row in conn.execute(sa.select(table).order_by(table.c.id))]


def test_binary_copy_lands_what_text_copy_lands(
    tables: sa.Engine, formats: list[list[str] | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    load(tables, wide, FIRST)
    load(tables, wide, SECOND)  # existing key 2: the staging merge, also in binary
    assert formats, "no COPY was decided"
    assert None not in formats, formats
    assert formats[0] == [
        "int4", "int2", "int8", "float8", "numeric", "numeric", "text", "text", "bool", "date",
        "uuid", "bytea",
    ]  # fmt: skip

    monkeypatch.setattr(upsert, "binary_copy_types", lambda *args: None)
    load(tables, wide_text, FIRST)
    load(tables, wide_text, SECOND)

    binary_rows, text_rows = read(tables, wide), read(tables, wide_text)
    assert binary_rows == text_rows
    assert len(binary_rows) == 5
    with tables.connect() as conn:
        row = conn.execute(sa.select(wide).where(wide.c.id == 4)).one()
    # The column's scale applies to binary input too; bytes and '\N' come back as sent.
    assert row.amount == Decimal("0.123457")
    assert (row.name, row.note, row.blob) == ("\\N", "\t", bytes(range(256)))


def test_the_database_types_decide_not_the_model(
    tables: sa.Engine, formats: list[list[str] | None]
) -> None:
    """The model says Integer; the table holds bigint and numeric columns."""
    model = sa.Table(
        "drifted",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("count", sa.Integer),
    )
    with tables.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE drifted (id bigint PRIMARY KEY, count numeric)")
        prepare_upsert(conn.dialect, model, [(2**40, 7)], ["id", "count"], ["id"])(conn)
    # An int bound for numeric has no exact binary form: the chunk went in text.
    assert formats == [None]
    with tables.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE drifted ALTER COLUMN count TYPE bigint")
        prepare_upsert(conn.dialect, model, [(2**41, 2**33)], ["id", "count"], ["id"])(conn)
    assert formats[-1] == ["int8", "int8"]
    with tables.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, count FROM drifted ORDER BY id").all()
    assert [tuple(row) for row in rows] == [(2**40, Decimal(7)), (2**41, 2**33)]


def test_an_int_out_of_its_columns_range_gets_the_servers_own_error(
    tables: sa.Engine, formats: list[list[str] | None]
) -> None:
    rows = [(1, 2**15, None, None, None, None, "x", None, None, None, None, None)]
    with (
        pytest.raises(psycopg.errors.NumericValueOutOfRange, match="out of range"),
        tables.begin() as conn,
    ):
        prepare_upsert(conn.dialect, wide, rows, COLUMNS, ["id"])(conn)
    assert formats == [None]
    assert read(tables, wide) == []


@pytest.mark.parametrize(
    ("profile", "database_types", "expected"),
    [
        ([ColumnProfile(frozenset({int}), -5, 2**31 - 1)], ["int4"], ["int4"]),
        ([ColumnProfile(frozenset({int}), -(2**31) - 1, 0)], ["int4"], None),
        ([ColumnProfile(frozenset({int}), 0, 2**31)], ["int8"], ["int8"]),
        ([ColumnProfile(frozenset({bool}))], ["int4"], None),
        ([ColumnProfile(frozenset({int}), 0, 1)], ["numeric"], None),
        ([ColumnProfile(frozenset({Decimal}))], ["float8"], None),
        ([ColumnProfile(frozenset({float}))], ["float4"], None),
        ([ColumnProfile(frozenset({str}))], ["varchar"], ["text"]),
        ([ColumnProfile(frozenset({str, int}), 0, 1)], ["text"], None),
        ([ColumnProfile(frozenset({dt.datetime}))], ["timestamptz"], None),
        ([ColumnProfile(frozenset({dt.datetime}))], ["date"], None),
        ([ColumnProfile(frozenset())], ["timestamptz"], ["text"]),
        ([ColumnProfile(frozenset({str}))], [None], None),
    ],
)
def test_binary_is_chosen_only_for_exact_forms(
    profile: list[ColumnProfile], database_types: list[str | None], expected: list[str] | None
) -> None:
    assert binary_copy_types(profile, database_types) == expected
