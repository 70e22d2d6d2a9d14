"""What an import changes: only what the file mentions, and only values the columns can hold.

A file with fewer columns than the row model updates existing rows in those
columns alone (new rows take the model's defaults); headers that feed no
field are named; a value its target column cannot hold fails its own row,
with the file's line and column, instead of the chunk and the run.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import xlsxwriter
from pydantic import BaseModel, ConfigDict, Field, field_validator
from tests.conftest import MakeJobport

from jobport import Importer, Jobport, JobportError, JobRegistry, JobType, StartRequest
from jobport.demo import Customer, customers
from jobport.demo.data import COLUMNS, write_csv
from jobport.kinds import PlanRequest
from jobport.kinds.preview import preview_import
from jobport.registry import NoOptions
from jobport.targets.capacity import trusted_columns

PARTIAL = ["id", "email", "last_name", "country"]


def write_file(fmt: str, path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    """``rows`` (text cells, '' for empty) as a file of ``fmt``."""
    if fmt == "csv":
        with open(path, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([header, *rows])
    elif fmt == "xlsx":
        book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": True})
        sheet = book.add_worksheet()
        for number, row in enumerate([header, *rows]):
            sheet.write_row(number, 0, [v if v != "" else None for v in row])
        book.close()
    elif fmt == "jsonl":
        lines = [json.dumps(dict(zip(header, row, strict=True))) for row in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        columns = {name: [row[i] or None for row in rows] for i, name in enumerate(header)}
        pq.write_table(pa.table(columns), path)
    return path


def customer_rows(engine: Jobport) -> dict[int, dict[str, Any]]:
    with engine.database.connect() as conn:
        rows = conn.execute(sa.select(customers)).mappings().all()
    return {row["id"]: dict(row) for row in rows}


def imported(engine: Jobport, path: Path, fmt: str, type_key: str = "customers") -> Any:
    request = StartRequest(type=type_key, format=fmt, source_name=path.name)
    return engine.run(engine.start(request, path=path).id)


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl", "parquet"])
def test_a_file_with_fewer_columns_updates_only_those(
    make_jobport: MakeJobport, tmp_path: Path, fmt: str
) -> None:
    engine = make_jobport()
    write_csv(tmp_path / "full.csv", 20, seed=3)
    assert engine.import_file("customers", tmp_path / "full.csv").status == "completed"
    before = customer_rows(engine)

    rows = [["1", "new1@example.com", "Newname", "FR"], ["999", "n@example.com", "Fresh", "DE"]]
    run = imported(engine, write_file(fmt, tmp_path / f"p.{fmt}", PARTIAL, rows), fmt)
    assert (run.status, run.processed, run.failed) == ("completed", 2, 0), run.error

    after = customer_rows(engine)
    untouched = ["first_name", "signup_date", "balance", "active", "age", "score"]
    assert {c: after[1][c] for c in untouched} == {c: before[1][c] for c in untouched}
    assert (after[1]["email"], after[1]["last_name"], after[1]["country"]) == (
        "new1@example.com",
        "Newname",
        "FR",
    )
    assert {k: v for k, v in after.items() if k not in (1, 999)} == {
        k: v for k, v in before.items() if k != 1
    }
    # A new row takes the model's defaults for what the file does not have.
    assert after[999]["active"] is True
    assert (after[999]["first_name"], after[999]["balance"]) == (None, None)


def test_unmatched_headers_are_named_and_leave_the_columns_alone(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    engine = make_jobport()
    write_csv(tmp_path / "full.csv", 5, seed=4)
    engine.import_file("customers", tmp_path / "full.csv")
    before = customer_rows(engine)
    header = ["id", "email", "Nickname", "last_name", "country", "Notes"]
    path = write_file(
        "csv", tmp_path / "renamed.csv", header, [["2", "a@example.com", "Ann", "Lee", "GB", "x"]]
    )
    run = engine.import_file("customers", path)
    assert run.status == "completed", run.error
    assert run.warnings == [
        "2 columns match no field of 'customers' and were ignored: Nickname, Notes"
    ]
    assert run.to_dict()["warnings"] == run.warnings
    assert customer_rows(engine)[2]["first_name"] == before[2]["first_name"]

    preview = preview_import(
        PlanRequest(
            job_type=engine.registry.get("customers"),
            options=NoOptions(),
            files=engine.files,
            database=engine.database,
            source_key=engine.dispatcher.store_path(path),
            format="csv",
        )
    )
    assert preview.ignored_columns == ["Nickname", "Notes"]
    assert preview.warnings == run.warnings


def test_a_file_without_the_key_column_is_refused(
    tmp_path: Path, make_jobport: MakeJobport
) -> None:
    """A key field with a default would give every row the same key: one row left standing."""

    class Counted(BaseModel):
        id: int = 0
        name: str

    engine = make_jobport(registry=_registry(Counted, sa.Column("name", sa.String(50))))
    path = write_file("csv", tmp_path / "k.csv", ["name"], [["a"], ["b"]])
    run = engine.import_file("things", path)
    assert run.status == "failed"
    assert run.error == "the file has no column for id, which 'things' matches rows on"


# -- values the target column cannot hold --------------------------------------------------------


class Thing(BaseModel):
    id: int
    name: str | None = None
    amount: Decimal | None = None
    ratio: float | None = None


class LooseThing(Thing):
    model_config = ConfigDict(allow_inf_nan=True)


def _registry(row: type[BaseModel], *columns: sa.Column[Any], transform: Any = None) -> JobRegistry:
    table = sa.Table(
        "things",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        *columns,
    )
    registry = JobRegistry()
    registry.add(
        JobType(
            type="things",
            label="Things",
            kind="import",
            model=table,
            handler=Importer(row=row, key="id", transform=transform),
            chunk_size=4,
        )
    )
    return registry


def thing_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("name", sa.String(5)),
        sa.Column("amount", sa.Numeric(6, 2)),
        sa.Column("ratio", sa.Float),
    ]


def things(engine: Jobport) -> dict[int, tuple[Any, ...]]:
    table = engine.registry.get("things").table
    assert table is not None
    with engine.database.connect() as conn:
        return {row[0]: tuple(row) for row in conn.execute(sa.select(table)).all()}


def test_a_value_the_column_cannot_hold_fails_only_its_row(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    engine = make_jobport(registry=_registry(Thing, *thing_columns()))
    rows = [
        ["1", "ok", "1.50", "0.5"],
        [str(10**20), "big", "", ""],  # over SQLite's 64-bit integers
        ["3", "toolong", "", ""],  # VARCHAR(5)
        ["4", "ok", "10000.00", ""],  # NUMERIC(6, 2) holds under 10,000
        ["5", "ok", "9999.995", ""],  # rounds up to 10,000.00
        ["6", "ok", "", "nan"],
        ["7", "ok", "", "1e400"],  # infinity
        ["8", "ok", "9999.99", "-2.5"],
    ]
    path = write_file("csv", tmp_path / "t.csv", ["id", "name", "amount", "ratio"], rows)
    run = engine.import_file("things", path)
    assert (run.status, run.processed, run.failed) == ("completed_with_errors", 8, 6), run.error
    failures, _ = engine.store.list_failures(run.id, limit=100)
    by_line = {f["line"]: (f["column"], f["message"]) for f in failures}
    assert by_line == {
        3: (
            "id",
            "id: 100000000000000000000 is outside the column's range "
            "(-9,223,372,036,854,775,808 to 9,223,372,036,854,775,807)",
        ),
        4: ("name", "name: is 7 characters long; the column holds at most 5"),
        5: (
            "amount",
            "amount: 10000.00 does not fit the column: at most 4 digits before the point "
            "and 2 after",
        ),
        6: (
            "amount",
            "amount: 9999.995 does not fit the column: at most 4 digits before the point "
            "and 2 after",
        ),
        7: ("ratio", "ratio: nan is not a finite number (NaN and infinities are refused)"),
        8: ("ratio", "ratio: inf is not a finite number (NaN and infinities are refused)"),
    }
    raw = {f["line"]: f["raw"] for f in failures}
    assert raw[4] == {"id": "3", "name": "toolong", "amount": "", "ratio": ""}
    assert set(things(engine)) == {1, 8}


def test_a_model_that_allows_nan_keeps_it(make_jobport: MakeJobport, tmp_path: Path) -> None:
    engine = make_jobport(registry=_registry(LooseThing, *thing_columns()))
    path = write_file("csv", tmp_path / "t.csv", ["id", "ratio"], [["1", "1e400"]])
    run = engine.import_file("things", path)
    assert (run.status, run.failed) == ("completed", 0), run.error
    assert math.isinf(things(engine)[1][3])


def test_out_of_range_values_from_a_transform_fail_their_rows(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    def widen(row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "name": row["name"] * 3}

    registry = _registry(Thing, *thing_columns(), transform=widen)
    engine = make_jobport(registry=registry)
    path = write_file("csv", tmp_path / "t.csv", ["id", "name"], [["1", "ab"], ["2", "a"]])
    run = engine.import_file("things", path)
    assert (run.status, run.failed) == ("completed_with_errors", 1), run.error
    failures, _ = engine.store.list_failures(run.id, limit=10)
    assert [(f["line"], f["column"]) for f in failures] == [(2, "name")]
    assert things(engine)[2][1] == "aaa"


def test_a_transform_updates_only_the_columns_it_sets(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    """Fields the file lacks reach the transform as defaults; passed through, they stay
    insert-only, and a row's missing column is never written as NULL for it."""

    def some(row: dict[str, Any]) -> dict[str, Any]:
        if row["name"] == "y":
            return {"id": row["id"], "name": row["name"]}  # no ratio at all
        return row  # ratio passed through as the model's default (None)

    registry = _registry(Thing, *thing_columns(), transform=some)
    engine = make_jobport(registry=registry)
    full = write_file(
        "csv", tmp_path / "a.csv", ["id", "name", "ratio"], [["1", "a", "0.5"], ["2", "b", "1.5"]]
    )
    assert engine.import_file("things", full).status == "completed"
    partial = write_file("csv", tmp_path / "b.csv", ["id", "name"], [["1", "x"], ["2", "y"]])
    assert engine.import_file("things", partial).status == "completed"
    stored = things(engine)
    assert (stored[1][1], stored[1][3]) == ("x", 0.5)
    assert (stored[2][1], stored[2][3]) == ("y", 1.5)


def test_messages_built_from_a_huge_header_stay_small(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    engine = make_jobport()
    header = [f"column {i} " + "x" * 900 for i in range(900)]
    (tmp_path / "wide.csv").write_text(",".join(header) + "\n" + ",".join("1" * 900) + "\n")
    run = engine.import_file("customers", tmp_path / "wide.csv")
    assert run.status == "failed"
    assert run.error is not None
    assert len(run.error) < 1_500
    assert run.error.startswith("missing required column(s): id, email, last_name, country;")
    assert run.error.endswith("and 890 more")

    (tmp_path / "long.csv").write_text("id," + "n" * 5_000 + "\n1,2\n")
    run = engine.import_file("customers", tmp_path / "long.csv")
    assert run.error == (
        "column 2 of the header is 5,000 characters long; a column name may be at most "
        "1,000 (is the first line a header?)"
    )


def test_unknown_names_in_errors_are_cut_short(make_jobport: MakeJobport) -> None:
    engine = make_jobport()
    with pytest.raises(JobportError) as caught:
        engine.registry.get("x" * 10_000)
    assert len(caught.value.message) < 400


def test_the_demo_columns_are_still_written_in_full(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    """The canonical file updates every column, as before."""
    engine = make_jobport()
    write_csv(tmp_path / "a.csv", 10, seed=1)
    engine.import_file("customers", tmp_path / "a.csv")
    write_csv(tmp_path / "b.csv", 10, seed=2)
    run = engine.import_file("customers", tmp_path / "b.csv")
    assert run.status == "completed"
    with open(tmp_path / "b.csv", encoding="utf-8") as handle:
        expected = {int(row["id"]): row for row in csv.DictReader(handle)}
    stored = customer_rows(engine)
    for key, row in expected.items():
        assert stored[key]["email"] == row["email"]
        assert stored[key]["signup_date"] == (
            dt.date.fromisoformat(row["signup_date"]) if row["signup_date"] else None
        )
    assert [c.name for c in customers.c] == COLUMNS


def test_columns_the_model_keeps_in_range_are_not_checked_again() -> None:
    """The demo's constrained fields cost no check per row; the others are checked."""
    trusted = trusted_columns(Customer, customers, "postgresql")
    assert trusted == {"email", "first_name", "last_name", "balance", "age"}
    # id (no upper bound), country (a validator function may change it) and score
    # (a float taking NaN) stay checked.

    class Widened(BaseModel):
        id: int = Field(ge=0, le=2**40)
        name: str = Field(max_length=10)

        @field_validator("name")
        @classmethod
        def doubled(cls, value: str) -> str:
            return value * 2

    table = sa.Table(
        "w", sa.MetaData(), sa.Column("id", sa.Integer), sa.Column("name", sa.String(10))
    )
    assert trusted_columns(Widened, table, "postgresql") == set()
    assert trusted_columns(Widened, table, "sqlite") == {"id"}
