"""How an export reads its rows: the driver's values, converted only where the output needs
it, written exactly as SQLAlchemy's values would be; formatters get SQLAlchemy's values;
planning in one pass over the key's index, or one numbering query without an index."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import MakeJobport
from tests.kinds.support import result_bytes, rows_of

from jobport import Column, Exporter, Jobport, JobRegistry, JobType, Settings, StartRequest
from jobport.demo import customers
from jobport.formats.writers import csv_text
from jobport.kinds.export_keys import keys_indexed

NAMES = [c.name for c in customers.c]

#: Stored the way other programs might have stored them in SQLite: a decimal as an
#: integer, an infinite one, ISO and week dates, booleans as 0, 1 and 2.
EDGE_ROWS: list[tuple[Any, ...]] = [
    (1, "=cmd@x.org", None, "+1", "FR", "2020-09-11", 450.7, 1, None, None),
    (2, "a@b.c", "-x", "@SUM(A1)", "FR", None, 100, 0, 18, -0.0),
    (3, "q@b.c", "\tx", 'quote"and,comma\nline', "DE", "1999-12-31", -0.0, 1, 120, 1e300),
    (4, "u@b.c", "Zoë ☃", "\rcr", "DE", "2000-W09-2", None, 2, 30, 2.5e-7),
    (5, "v@b.c", "", "x", "DE", "2000-02-29", 1.005, 1, 30, 0.1),
    (6, "w@b.c", "y", "-5", "DE", "2000-02-28", float("inf"), 0, 30, 3),
    (7, "z@b.c", "y", "0", "DE", "2000-02-27", -1234.5678, 1, 30, 3.0),
]


def store_raw(engine: Jobport, rows: list[tuple[Any, ...]]) -> None:
    """Rows stored by the DB-API itself, bypassing SQLAlchemy's bind processing."""
    marks = ", ".join("?" for _ in NAMES)
    with engine.database.begin() as conn:
        conn.exec_driver_sql(f"INSERT INTO customers ({', '.join(NAMES)}) VALUES ({marks})", rows)


def exports(chunk_size: int = 3, **exporter: Any) -> JobRegistry:
    registry = JobRegistry()
    registry.add(
        JobType(
            type="out",
            label="Out",
            kind="export",
            model=customers,
            handler=Exporter(query=exporter.pop("query", sa.select(customers)), **exporter),
            formats=("csv", "xlsx", "jsonl", "parquet"),
            chunk_size=chunk_size,
        )
    )
    return registry


def export(engine: Jobport, fmt: str) -> bytes:
    run = engine.run(engine.start(StartRequest(type="out", format=fmt)).id)
    assert run.status == "completed", run.error
    return result_bytes(engine, run)


def sqlalchemy_rows(engine: Jobport) -> list[tuple[Any, ...]]:
    with engine.database.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(customers).order_by(customers.c.id))]


def reference_csv(rows: list[tuple[Any, ...]]) -> bytes:
    """What writing SQLAlchemy's values row by row gives (the export's former way)."""
    types = {c.name: c.type for c in customers.c}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(NAMES)
    for row in rows:
        values = []
        for name, value in zip(NAMES, row, strict=True):
            if isinstance(types[name], sa.String):
                value = csv_text(value)
            elif isinstance(types[name], sa.Boolean) and value is not None:
                value = "true" if value else "false"
            values.append(value)
        writer.writerow(values)
    return out.getvalue().encode()


def test_csv_is_what_sqlalchemys_values_give_whatever_was_stored(
    make_jobport: MakeJobport,
) -> None:
    engine = make_jobport(app=None, registry=exports())
    store_raw(engine, EDGE_ROWS)
    data = export(engine, "csv")
    assert data == reference_csv(sqlalchemy_rows(engine))
    lines = data.decode().splitlines()
    assert lines[1] == "1,'=cmd@x.org,,'+1,FR,2020-09-11,450.70,true,,"
    assert "2000-02-29,,true" in data.decode()  # "2000-W09-2" read as a date; 2 is true
    assert ",Infinity,false," in data.decode()  # an infinite decimal, as Decimal writes it
    assert "2000-02-27,-1234.57,true" in data.decode()


def test_json_lines_are_what_sqlalchemys_values_give(make_jobport: MakeJobport) -> None:
    engine = make_jobport(app=None, registry=exports())
    store_raw(engine, EDGE_ROWS)
    got = [json.loads(line) for line in export(engine, "jsonl").decode().splitlines()]
    expected = [
        json.loads(
            json.dumps(
                dict(zip(NAMES, row, strict=True)),
                default=lambda v: format(v, "f") if isinstance(v, Decimal) else v.isoformat(),
            )
        )
        for row in sqlalchemy_rows(engine)
    ]
    assert got == expected
    assert got[0]["balance"] == "450.70"
    assert got[3]["signup_date"] == "2000-02-29"
    assert got[3]["active"] is True
    assert got[5]["balance"] == "Infinity"


@pytest.mark.parametrize("fmt", ["xlsx", "parquet"])
def test_typed_formats_get_sqlalchemys_values(
    make_jobport: MakeJobport, tmp_path: Path, fmt: str
) -> None:
    rows = [r for r in EDGE_ROWS if r[6] != float("inf") and r[9] != 1e300]
    engine = make_jobport(app=None, registry=exports())
    store_raw(engine, rows)
    got = rows_of(fmt, export(engine, fmt), tmp_path)
    want = sqlalchemy_rows(engine)
    assert [int(r["id"]) for r in got] == [r[0] for r in want]
    for row, expected in zip(got, want, strict=True):
        assert (row["signup_date"] or None) == expected[5]  # a real date, not text
        assert row["active"] is expected[7]
        balance = row["balance"]
        assert balance == (expected[6] if fmt == "parquet" else float(expected[6] or 0) or None)


def test_formatters_get_sqlalchemys_values_in_every_format(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    def kind(value: Any) -> str:
        return type(value).__name__

    columns = [
        "id",
        Column("balance", formatter=kind),
        Column("signup_date", formatter=kind),
        Column("active", formatter=kind),
        Column("first_name", formatter=kind),
    ]
    engine = make_jobport(app=None, registry=exports(columns=columns))
    rows = [r for r in EDGE_ROWS if r[6] != float("inf")]
    store_raw(engine, rows)
    for fmt in ("csv", "jsonl", "xlsx", "parquet"):
        got = rows_of(fmt, export(engine, fmt), tmp_path)
        assert got[0] == {
            "id": got[0]["id"],
            "balance": "Decimal",
            "signup_date": "date",
            "active": "bool",
            "first_name": "NoneType",
        }, fmt
        assert got[1]["signup_date"] == "NoneType", fmt
        assert got[1]["first_name"] == "str", fmt


class Shouting(sa.TypeDecorator[str]):
    """A type whose reading changes the stored value: it must never be skipped."""

    impl = sa.String
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return None if value is None else value.upper()


class LaterDate(sa.TypeDecorator[dt.date]):
    impl = sa.Date
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return None if value is None else value + dt.timedelta(days=1)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_types_with_their_own_reading_are_read_by_it(make_jobport: MakeJobport, fmt: str) -> None:
    query = sa.select(
        customers.c.id,
        sa.type_coerce(customers.c.last_name, Shouting()).label("last_name"),
        sa.type_coerce(customers.c.signup_date, LaterDate()).label("signup_date"),
    )
    engine = make_jobport(app=None, registry=exports(query=query, key="id"))
    store_raw(engine, EDGE_ROWS[:1])
    data = export(engine, fmt).decode()
    if fmt == "csv":
        assert data.splitlines()[1] == "1,'+1,2020-09-12"
    else:
        assert json.loads(data) == {"id": 1, "last_name": "+1", "signup_date": "2020-09-12"}


def test_a_stored_date_sqlalchemy_refuses_fails_the_export_as_it_would(
    make_jobport: MakeJobport,
) -> None:
    engine = make_jobport(app=None, registry=exports())
    store_raw(engine, [(1, "a@b.c", None, "x", "FR", "2020-13-45", None, 1, None, None)])
    run = engine.run(engine.start(StartRequest(type="out", format="csv")).id)
    assert run.status == "failed"
    assert "ValueError" in (run.error or "")


def test_a_single_column_or_reordered_columns_are_picked(make_jobport: MakeJobport) -> None:
    for columns, expected in (
        (["email"], "email\r\na@b.c\r\n"),
        (["active", "id"], "active,id\r\nfalse,2\r\n"),
    ):
        engine = make_jobport(app=None, registry=exports(columns=columns))
        store_raw(engine, EDGE_ROWS[1:2])
        assert export(engine, "csv").decode() == expected
        with engine.database.begin() as conn:
            conn.execute(customers.delete())


# -- planning ---------------------------------------------------------------------------------

pairs_metadata = sa.MetaData()
pairs = sa.Table(
    "pairs",
    pairs_metadata,
    sa.Column("a", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("b", sa.String(10), primary_key=True),
    sa.Column("note", sa.String(20)),
    sa.Column("code", sa.String(20), unique=True),
    sa.Column("tag", sa.String(20), index=True),
)


def test_keys_with_an_index_are_recognised() -> None:
    assert keys_indexed([customers.c.id])
    assert not keys_indexed([customers.c.email])
    assert keys_indexed([pairs.c.a, pairs.c.b])
    assert keys_indexed([pairs.c.a])  # leads the primary key
    assert not keys_indexed([pairs.c.b])
    assert not keys_indexed([pairs.c.b, pairs.c.a])
    assert keys_indexed([pairs.c.code])
    assert keys_indexed([pairs.c.tag])
    assert not keys_indexed([customers.c.id.label("x")])


def pairs_exports(chunk_size: int, key: Any = None) -> JobRegistry:
    registry = JobRegistry()
    registry.add(
        JobType(
            type="pairs-out",
            label="Pairs",
            kind="export",
            model=pairs,
            handler=Exporter(query=sa.select(pairs).where(pairs.c.note != "skip"), key=key),
            formats=("csv",),
            chunk_size=chunk_size,
        )
    )
    return registry


@pytest.mark.parametrize("chunk_size", [1, 3, 10, 100])
@pytest.mark.parametrize("key", [None, ("note", "a", "b")])
def test_indexed_and_numbered_plans_split_without_loss_or_overlap(
    make_jobport: MakeJobport, tmp_path: Path, chunk_size: int, key: Any
) -> None:
    engine = make_jobport(app=None, registry=pairs_exports(chunk_size, key))
    rows = [
        {"a": a, "b": b, "note": "skip" if (a + len(b)) % 5 == 0 else f"n{a % 4}"}
        for a in range(1, 13)
        for b in ("x", "yy")
    ]
    with engine.database.begin() as conn:
        conn.execute(pairs.insert(), rows)
    kept = [r for r in rows if r["note"] != "skip"]
    order = ["note", "a", "b"] if key else ["a", "b"]
    kept.sort(key=lambda r: tuple(r[k] for k in order))
    run = engine.run(engine.start(StartRequest(type="pairs-out", format="csv")).id)
    assert run.status == "completed", run.error
    assert run.total == len(kept)
    assert run.chunks_total == max(1, -(-len(kept) // chunk_size))
    got = rows_of("csv", result_bytes(engine, run), tmp_path)
    assert [(int(r["a"]), r["b"]) for r in got] == [(r["a"], r["b"]) for r in kept]


def test_planning_an_empty_export(make_jobport: MakeJobport) -> None:
    for key in (None, "email"):
        engine = make_jobport(app=None, registry=exports(key=key))
        run = engine.run(engine.start(StartRequest(type="out", format="csv")).id)
        assert run.status == "completed"
        assert run.total == 0
        assert run.chunks_total == 1


# -- PostgreSQL: rows streamed through a server-side cursor ------------------------------------


@pytest.mark.postgres
def test_an_export_on_postgresql_streams_and_formats_alike(
    postgres_schema_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("jobport.kinds.export_rows.FETCH_ROWS", 4)
    columns = [
        "id",
        "last_name",
        "signup_date",
        "balance",
        "active",
        Column("score", formatter=lambda v: type(v).__name__),
    ]
    settings = Settings(
        database_url=postgres_schema_url,
        storage_url=str(tmp_path / "files"),
        executor="inline",
        app=None,
    )
    with Jobport(settings, registry=exports(chunk_size=7, columns=columns)) as engine:
        customers.create(engine.database, checkfirst=True)
        with engine.database.begin() as conn:
            conn.execute(
                customers.insert(),
                [
                    {
                        "id": i,
                        "email": f"p{i}@x.org",
                        "last_name": "=x" if i == 3 else f"L{i}",
                        "country": "FR",
                        "signup_date": dt.date(2020, 1, 1) + dt.timedelta(days=i),
                        "balance": Decimal(i) / 4,
                        "active": i % 2 == 0,
                        "score": 0.5 if i % 3 else None,
                    }
                    for i in range(1, 21)
                ],
            )
        data = export(engine, "csv").decode().splitlines()
    assert data[0] == "id,last_name,signup_date,balance,active,score"
    assert len(data) == 21
    assert data[1] == "1,L1,2020-01-02,0.25,false,float"
    assert data[3] == "3,'=x,2020-01-04,0.75,false,NoneType"
