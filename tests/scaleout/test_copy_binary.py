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
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import psycopg
import pytest
import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel, Field

from jobport import Importer, Jobport, JobRegistry, JobType, Settings
from jobport.demo import Customer
from jobport.errors import InputError
from jobport.kinds.batch import field_value_types
from jobport.targets import pgcopy as upsert
from jobport.targets.pgcopy import ColumnProfile, binary_copy_types
from jobport.targets.upsert import prepare_upsert

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


# -- types the row model declares ---------------------------------------------------------


class Declared(BaseModel):
    id: int
    name: str
    note: str | None = None
    amount: Decimal | None = None
    cents: Decimal = 0  # type: ignore[assignment]  # a default pydantic never validates
    tags: list[str] = Field(default_factory=list)
    code: Annotated[str, AfterValidator(str.upper)]


def test_declared_types_are_the_plain_fields_whose_values_cannot_be_anything_else() -> None:
    assert field_value_types(Declared) == {
        "id": frozenset({int}),
        "name": frozenset({str}),
        "note": frozenset({str}),
        "amount": frozenset({Decimal}),
    }
    assert field_value_types(Customer) == {
        "id": frozenset({int}),
        "email": frozenset({str}),
        "first_name": frozenset({str}),
        "last_name": frozenset({str}),
        "signup_date": frozenset({dt.date}),
        "balance": frozenset({Decimal}),
        "active": frozenset({bool}),
        "age": frozenset({int}),
        "score": frozenset({float}),
    }  # not country: a function of the model's own makes its values


def test_declared_types_skip_the_type_scan_but_not_the_int_range(
    tables: sa.Engine, formats: list[list[str] | None]
) -> None:
    declared = [frozenset({int}), frozenset({int}), *[None] * (len(COLUMNS) - 2)]
    rows = [(1, 2**15, *[None] * (len(COLUMNS) - 2))]  # out of int2's range
    with (
        pytest.raises(psycopg.errors.NumericValueOutOfRange),
        tables.begin() as conn,
    ):
        prepare_upsert(conn.dialect, wide, rows, COLUMNS, ["id"], value_types=declared)(conn)
    assert formats == [None], "the range still decides: text, and the server's own error"


@pytest.mark.parametrize("with_timestamp", [False, True], ids=["binary", "text"])
def test_a_nul_in_a_json_string_fails_its_row_and_the_rest_lands(
    pg_url: str, tmp_path: Path, with_timestamp: bool
) -> None:
    """JSON can carry a NUL, which PostgreSQL text cannot hold: that row is refused."""
    columns = [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(50), nullable=False),
    ]
    if with_timestamp:  # a column without a binary form here: the chunk goes in text
        columns.append(sa.Column("seen", sa.DateTime(timezone=True)))
    table = sa.Table("named", sa.MetaData(), *columns)

    class Named(BaseModel):
        id: int
        name: str
        seen: dt.datetime | None = None

    registry = JobRegistry()
    registry.add(
        JobType(
            type="named",
            label="Named",
            kind="import",
            model=table,
            handler=Importer(row=Named, key="id"),
            formats=("jsonl",),
        )
    )
    path = tmp_path / "named.jsonl"
    lines: list[dict[str, Any]] = [{"id": 1, "name": "fine"}, {"id": 2, "name": "nul\u0000in"}]
    if with_timestamp:
        lines[0]["seen"] = "2024-01-02T03:04:05+00:00"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    settings = Settings(database_url=pg_url, storage_url=str(tmp_path / "files"), executor="inline")
    with Jobport(settings, registry=registry) as jobport:
        run = jobport.run(jobport.import_file("named", path).id)
        assert (run.status, run.processed, run.failed) == ("completed_with_errors", 2, 1)
        [failure], _ = jobport.store.list_failures(run.id)
        assert failure["line"] == 2
        assert "NUL" in failure["message"]
        with jobport.database.connect() as conn:
            assert conn.execute(sa.select(table.c.id, table.c.name)).all() == [(1, "fine")]


def test_a_nul_in_a_declared_string_column_is_refused_in_either_format(
    tables: sa.Engine, formats: list[list[str] | None]
) -> None:
    """Declared strings are not searched for NUL: each COPY format refuses one itself."""
    declared = [frozenset({int}), *[None] * 5, frozenset({str}), *[None] * 5]
    row = (1, *[None] * 5, "nul\x00in", *[None] * 5)
    with pytest.raises(psycopg.errors.CharacterNotInRepertoire), tables.begin() as conn:
        prepare_upsert(conn.dialect, wide, [row], COLUMNS, ["id"], value_types=declared)(conn)
    assert formats[-1] is not None, "binary: the server refused it"
    with tables.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE wide ALTER COLUMN small TYPE numeric")
    rows = [(1, 5, *[None] * 4, "nul\x00in", *[None] * 5)]  # an int for numeric: text
    with pytest.raises(InputError, match="NUL"), tables.begin() as conn:
        prepare_upsert(conn.dialect, wide, rows, COLUMNS, ["id"], value_types=declared)(conn)
    assert formats[-1] is None
    assert read(tables, wide) == []
