"""The export kind on the inline executor: files in four formats, chunks, safety, expiry."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import MakeJobport
from tests.kinds.support import load_customers, result_bytes, rows_of, sha256

from jobport import Column, Exporter, JobRegistry, JobType, StartRequest
from jobport.demo import customers
from jobport.executors.base import ExecutorBase
from jobport.formats import FORMATS as SPECS
from jobport.principal import Principal
from jobport.service import JobService
from jobport.store import JobStore
from jobport.worker import run_chunk

FORMATS = ["csv", "xlsx", "jsonl", "parquet"]


class Held(ExecutorBase):
    """An executor that runs nothing: the test runs the chunks itself."""

    def submit(self, run_id: str, chunks: Any) -> None:
        pass


def db_rows(engine: Any, where: Any = None) -> list[dict[str, Any]]:
    query = sa.select(customers).order_by(customers.c.id)
    if where is not None:
        query = query.where(where)
    with engine.database.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_row_is_exported_in_key_order(
    make_jobport: MakeJobport, tmp_path: Path, fmt: str
) -> None:
    engine = make_jobport()
    load_customers(engine, tmp_path, rows=300)
    run = engine.start(StartRequest(type="customers-export", format=fmt, options={"country": "fr"}))
    run = engine.run(run.id)
    assert run.status == "completed", run.error
    data = result_bytes(engine, run)
    expected = db_rows(engine, customers.c.country == "FR")
    assert 0 < len(expected) < 300
    got = rows_of(fmt, data, tmp_path)
    assert [int(row["id"]) for row in got] == [row["id"] for row in expected]
    first, want = got[0], expected[0]
    assert first["email"] == want["email"]
    assert Decimal(str(first["balance"])).quantize(Decimal("0.01")) == want["balance"]
    assert str(first["signup_date"])[:10] == want["signup_date"].isoformat()
    result = run.result or {}
    assert result["rows"] == len(expected)
    assert result["size"] == len(data)
    assert result["checksum"] == sha256(data)
    assert result["format"] == fmt
    assert result["filename"] == f"customers-{dt.date.today().isoformat()}.{fmt}"
    assert dt.datetime.fromisoformat(result["expires_at"]) > dt.datetime.now(dt.UTC)
    assert run.result_key is not None
    assert run.result_key.startswith("results/")


def test_parquet_columns_keep_their_types(make_jobport: MakeJobport, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    engine = make_jobport()
    load_customers(engine, tmp_path, rows=20)
    run = engine.run(engine.start(StartRequest(type="customers-export", format="parquet")).id)
    path = tmp_path / "t.parquet"
    path.write_bytes(result_bytes(engine, run))
    schema = pq.read_schema(path)
    assert schema.field("id").type == pa.int64()
    assert schema.field("signup_date").type == pa.date32()
    assert schema.field("balance").type == pa.decimal128(12, 2)
    assert schema.field("active").type == pa.bool_()


def small_exports(chunk_size: int, **exporter: Any) -> JobRegistry:
    registry = JobRegistry()
    registry.add(
        JobType(
            type="people-out",
            label="People",
            kind="export",
            model=customers,
            handler=Exporter(query=sa.select(customers), **exporter),
            formats=("csv", "xlsx", "jsonl", "parquet"),
            chunk_size=chunk_size,
        )
    )
    return registry


def insert(engine: Any, rows: list[dict[str, Any]]) -> None:
    with engine.database.begin() as conn:
        conn.execute(customers.insert(), rows)


def person(i: int, **values: Any) -> dict[str, Any]:
    return {
        "id": i,
        "email": f"p{i}@example.com",
        "last_name": values.pop("last_name", f"L{i}"),
        "country": "FR",
        "active": True,
        **values,
    }


@pytest.mark.parametrize("chunk_size", [1, 7, 50, 1000])
def test_chunks_split_without_loss_or_overlap(
    make_jobport: MakeJobport, tmp_path: Path, chunk_size: int
) -> None:
    engine = make_jobport(app=None, registry=small_exports(chunk_size))
    ids = [3, 5, 8, 13, 21, 34, 55, 89, *list(range(100, 142))]
    insert(engine, [person(i) for i in ids])
    run = engine.run(engine.start(StartRequest(type="people-out", format="csv")).id)
    assert run.chunks_total == max(1, -(-len(ids) // chunk_size))
    got = rows_of("csv", result_bytes(engine, run), tmp_path)
    assert [int(r["id"]) for r in got] == ids


def test_an_empty_export_is_a_file_with_its_header(make_jobport: MakeJobport) -> None:
    engine = make_jobport(app=None, registry=small_exports(10, columns=["id", "email"]))
    run = engine.run(engine.start(StartRequest(type="people-out", format="csv")).id)
    assert run.status == "completed"
    assert result_bytes(engine, run) == b"id,email\r\n"
    assert (run.result or {})["rows"] == 0


def test_text_is_neutralised_in_csv_and_xlsx_and_numbers_are_not(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    columns = ["id", "last_name", "first_name", "age", "score"]
    engine = make_jobport(app=None, registry=small_exports(2, columns=columns))
    dangerous = ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx", "safe"]
    insert(
        engine,
        [
            person(i + 1, last_name=text, first_name="=1+1", age=-5, score=-1.5)
            for i, text in enumerate(dangerous)
        ],
    )
    for fmt in ("csv", "xlsx"):
        run = engine.run(engine.start(StartRequest(type="people-out", format=fmt)).id)
        got = rows_of(fmt, result_bytes(engine, run), tmp_path)
        names = [row["last_name"] for row in got]
        assert names == ["'" + t for t in dangerous[:-1]] + ["safe"], fmt
        assert {row["first_name"] for row in got} == {"'=1+1"}
        assert {float(row["age"]) for row in got} == {-5.0}
        assert {float(row["score"]) for row in got} == {-1.5}


def test_xlsx_cells_are_values_never_formulas(make_jobport: MakeJobport, tmp_path: Path) -> None:
    import zipfile

    engine = make_jobport(app=None, registry=small_exports(10, columns=["id", "last_name"]))
    insert(engine, [person(1, last_name="=1+1"), person(2, last_name="http://x.test")])
    run = engine.run(engine.start(StartRequest(type="people-out", format="xlsx")).id)
    path = tmp_path / "f.xlsx"
    path.write_bytes(result_bytes(engine, run))
    with zipfile.ZipFile(path) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
        names = archive.namelist()
    assert "<f>" not in sheet
    assert not any("hyperlink" in name.lower() for name in names)


def test_columns_headers_and_formatters(make_jobport: MakeJobport, tmp_path: Path) -> None:
    columns = [
        Column("id", "Customer"),
        Column("email", "E-mail", formatter=lambda v: v.upper()),
    ]
    engine = make_jobport(app=None, registry=small_exports(10, columns=columns))
    insert(engine, [person(1)])
    run = engine.run(engine.start(StartRequest(type="people-out", format="csv")).id)
    assert result_bytes(engine, run) == b"Customer,E-mail\r\n1,P1@EXAMPLE.COM\r\n"
    run = engine.run(engine.start(StartRequest(type="people-out", format="jsonl")).id)
    assert result_bytes(engine, run) == b'{"id": 1, "email": "P1@EXAMPLE.COM"}\n'


def test_parts_are_removed_once_assembled(make_jobport: MakeJobport, tmp_path: Path) -> None:
    engine = make_jobport(app=None, registry=small_exports(3))
    insert(engine, [person(i) for i in range(1, 11)])
    run = engine.run(engine.start(StartRequest(type="people-out", format="parquet")).id)
    assert run.status == "completed"
    work = tmp_path / "files" / "work"
    assert work.is_dir()
    assert not list(work.glob("*"))


class Recorder:
    def __init__(self) -> None:
        self.submitted: list[tuple[str, list[int]]] = []

    def submit(self, run_id: str, chunks: Any) -> None:
        self.submitted.append((run_id, list(chunks)))

    def close(self) -> None:
        return None


def test_the_file_is_assembled_once_whatever_the_delivery_order(
    make_jobport: MakeJobport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_jobport(app=None, registry=small_exports(4))
    insert(engine, [person(i) for i in range(1, 13)])
    engine.dispatcher.executor = Recorder()
    calls: list[str] = []
    original = JobStore.complete_run

    def counting(self: JobStore, run_id: str, key: str, result: dict[str, Any]) -> Any:
        calls.append(key)
        return original(self, run_id, key, result)

    monkeypatch.setattr(JobStore, "complete_run", counting)
    run = engine.start(StartRequest(type="people-out", format="csv"))
    ctx = engine.worker_context()
    for no in (2, 0, 1, 2, 0):
        run_chunk(ctx, run.id, no)
    run = engine.run(run.id)
    assert run.status == "completed"
    assert len(calls) == 1
    got = rows_of("csv", result_bytes(engine, run), tmp_path)
    assert [int(r["id"]) for r in got] == list(range(1, 13))
    assert len(list((tmp_path / "files" / "results").glob("*"))) == 1


def limit(monkeypatch: pytest.MonkeyPatch, name: str, rows: int) -> None:
    """Declare ``name`` a format whose files hold ``rows`` rows, for this test."""
    monkeypatch.setitem(SPECS.by_name, name, replace(SPECS.writable(name), max_rows=rows))


def test_a_format_declares_the_rows_one_file_holds() -> None:
    assert SPECS.writable("xlsx").max_rows == 1_048_575  # a sheet's rows, the header aside
    assert [SPECS.writable(name).max_rows for name in ("csv", "jsonl", "parquet")] == [None] * 3


def test_too_many_rows_for_the_formats_file_are_refused_when_planned(
    make_jobport: MakeJobport, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kind asks the format's declaration, whatever the format."""
    limit(monkeypatch, "xlsx", 6)
    limit(monkeypatch, "jsonl", 5)
    engine = make_jobport(app=None, registry=small_exports(10))
    insert(engine, [person(i) for i in range(1, 8)])
    run = engine.start(StartRequest(type="people-out", format="jsonl"))
    assert run.status == "failed"
    assert run.error == (
        "7 rows do not fit one JSON Lines file (5 at most); export as CSV or Parquet, "
        "or narrow the export with its options"
    )
    assert engine.start(StartRequest(type="people-out", format="xlsx")).status == "failed"
    done = engine.run(engine.start(StartRequest(type="people-out", format="csv")).id)
    assert done.status == "completed"


def test_the_last_step_asks_the_formats_declaration_too(
    make_jobport: MakeJobport, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is made from the parts' own row counts, checked again before it is written."""
    engine = make_jobport(app=None, registry=small_exports(10))
    insert(engine, [person(i) for i in range(1, 8)])
    engine.dispatcher.executor = Held()
    run = engine.start(StartRequest(type="people-out", format="jsonl"))
    assert run.status == "queued"  # planned with no limit
    limit(monkeypatch, "jsonl", 5)
    run_chunk(engine.worker_context(), run.id, 0)
    run = engine.run(run.id)
    assert (run.status, run.result_key) == ("failed", None)
    assert run.error == (
        "7 rows do not fit one JSON Lines file (5 at most); export as CSV, XLSX or Parquet"
    )


def test_expired_files_are_cleaned_up(make_jobport: MakeJobport) -> None:
    engine = make_jobport(app=None, registry=small_exports(10))
    insert(engine, [person(1)])
    old = engine.run(engine.start(StartRequest(type="people-out", format="csv")).id)
    fresh = engine.run(engine.start(StartRequest(type="people-out", format="csv")).id)
    assert old.result
    assert old.result_key
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    engine.store.set_result(old.id, old.result_key, {**old.result, "expires_at": past})
    assert JobService(engine).delete_expired_results(Principal.operator()) == [old.id]
    assert not engine.files.exists(old.result_key)
    assert fresh.result_key
    assert engine.files.exists(fresh.result_key)
    after = engine.run(old.id)
    assert after.result_key == ""
    assert (after.result or {})["expired"] is True
    assert JobService(engine).delete_expired_results(Principal.operator()) == []


def test_a_default_format_outside_the_types_formats_is_a_configuration_error(
    make_jobport: MakeJobport,
) -> None:
    registry = JobRegistry()
    registry.add(
        JobType(
            type="bad",
            label="Bad",
            kind="export",
            model=customers,
            handler=Exporter(query=sa.select(customers), default_format="xlsx"),
        )
    )
    engine = make_jobport(app=None, registry=registry)
    run = engine.start(StartRequest(type="bad"))
    assert run.status == "failed"
    assert "default format 'xlsx' is not one of its formats" in (run.error or "")
