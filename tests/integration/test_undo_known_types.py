"""The undo log takes the types of a chunk's values from its write where the write knows them.

Making a record looks at the type of every value sent (which values the log
may keep as sent, whether JSON can hold them as they are): on a 20,000-row
chunk that look cost more than the record's JSON. The row model declares most
columns' types already, and PostgreSQL's COPY has looked at the others; the
record must come out the same as with the look taken again.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from jobport.store import make_engine
from jobport.store.migrations import upgrade
from jobport.store.undo import LogRecord, chunk_records
from jobport.targets.undoimages import column_types
from jobport.targets.undolog import undo_logged
from jobport.targets.upsert import PreparedUpsert, prepare_upsert

TABLE = sa.Table(
    "priced",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("amount", sa.Float),
    sa.Column("label", sa.String(20)),
    sa.Column("price", sa.Numeric(12, 2)),
    sa.Column("day", sa.Date),
    sa.Column("flag", sa.Boolean),
)
COLUMNS = ["id", "amount", "label", "price", "day", "flag"]
#: What a row model declares of each column (as ``field_value_types`` says it).
DECLARED = [
    frozenset({int}),
    frozenset({float}),
    frozenset({str}),
    frozenset({Decimal}),
    frozenset({datetime.date}),
    frozenset({bool}),
]
ROWS = [
    (
        i,
        None if i % 5 == 0 else i * 1.5,
        None if i % 7 == 0 else f"item {i}",
        None if i % 3 == 0 else Decimal(i) / 4,
        datetime.date(2024, 1, 1 + i % 28),
        i % 2 == 0,
    )
    for i in range(1, 61)
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
        upgrade(engine)
    else:
        engine = make_engine(request.getfixturevalue("postgres_schema_url"))
    TABLE.metadata.create_all(engine)
    yield engine
    engine.dispose()


def logged_import(database: Engine, run_id: str) -> LogRecord:
    """A first import's chunk of ROWS, its record made before the commit."""
    write = prepare_upsert(database.dialect, TABLE, ROWS, COLUMNS, ["id"], value_types=DECLARED)
    writer = undo_logged(
        write, TABLE, database.dialect, [(ROWS, COLUMNS, None)], ["id"],
        run_id=run_id, chunk_no=0, database=database,
    )  # fmt: skip
    with database.begin() as conn:
        writer(conn)
        (logged,) = chunk_records(conn, run_id, 0)
        conn.execute(TABLE.delete())
    return logged


def test_the_record_made_with_the_writes_types_is_the_record_made_by_looking(
    database: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_types = logged_import(database, "known")

    def knows_nothing(write: PreparedUpsert, names: Sequence[str]) -> list[None]:
        return [None] * len(names)

    monkeypatch.setattr(PreparedUpsert, "sent_types", knows_nothing)  # every value looked at
    looked = logged_import(database, "looked")
    assert with_types == looked
    assert (with_types.rows, with_types.inserted) == (len(ROWS), len(ROWS))


def test_the_write_knows_the_declared_types_its_driver_binds_as_validated(
    database: Engine,
) -> None:
    write = prepare_upsert(database.dialect, TABLE, ROWS, COLUMNS, ["id"], value_types=DECLARED)
    known = dict(zip(COLUMNS, write.sent_types(COLUMNS), strict=True))
    if database.dialect.name == "postgresql":
        # COPY looked at every column (psycopg binds the validated values as they are).
        assert known == dict(zip(COLUMNS, DECLARED, strict=True))
    else:
        # SQLite's bind processors turn decimals and dates into other values: not the
        # model's types, so those are looked at; the rest are bound as validated.
        assert known["price"] is None
        assert known["day"] is None
        assert known["id"] == frozenset({int})
        assert known["label"] == frozenset({str})
    undeclared = prepare_upsert(database.dialect, TABLE, ROWS, COLUMNS, ["id"])
    if database.dialect.name == "sqlite":
        assert undeclared.sent_types(COLUMNS) == [None] * len(COLUMNS)


def test_column_types_looks_only_at_the_columns_not_known() -> None:
    rows = [(1, "a", None), (2, None, 2.5)]
    assert column_types(rows, 3) == [{int}, {str, type(None)}, {type(None), float}]
    assert column_types(rows, 3, [frozenset({int}), None, None]) == [
        {int},
        {str, type(None)},
        {type(None), float},
    ]
    # A known column is taken at its word: its values are not looked at.
    assert column_types(rows, 3, [None, frozenset({bytes}), None])[1] == {bytes}
    with pytest.raises(ValueError, match="zip"):
        column_types(rows, 3, [frozenset({int})])
