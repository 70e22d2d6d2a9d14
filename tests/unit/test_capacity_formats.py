"""A value its column cannot hold fails its own row from every format, not only CSV.

XLSX numbers, JSON Lines numbers and Parquet's typed columns reach the row
model as other Python values than CSV's text (a float 1e20, a JSON integer, a
float64 NaN): each must still be checked against the target column before
writing, and fail its row at its line and column instead of the chunk.
"""

from __future__ import annotations

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
from pydantic import BaseModel
from tests.conftest import MakeJobport

from jobport import Importer, Jobport, JobRegistry, JobType, StartRequest

FORMATS = ["csv", "xlsx", "jsonl", "parquet"]
HEADER = ["id", "name", "amount", "ratio"]
BIG = 10**20  # over SQLite's 64-bit integers and PostgreSQL's integer


class Thing(BaseModel):
    id: int
    name: str | None = None
    amount: Decimal | None = None
    ratio: float | None = None


def registry() -> JobRegistry:
    table = sa.Table(
        "things",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(5)),
        sa.Column("amount", sa.Numeric(6, 2)),
        sa.Column("ratio", sa.Float),
    )
    jobs = JobRegistry()
    jobs.add(
        JobType(
            type="things",
            label="Things",
            kind="import",
            model=table,
            handler=Importer(row=Thing, key="id"),
            chunk_size=3,
            formats=tuple(FORMATS),
        )
    )
    return jobs


def rows(big: int) -> list[tuple[Any, ...]]:
    """Each row as its format's own values: (id, name, amount, ratio); None is an empty cell."""
    return [
        (1, "ok", 1.5, 0.5),
        (big, "big", None, None),  # the id's range
        (3, "toolong", None, None),  # VARCHAR(5)
        (4, "ok", 10000.0, None),  # NUMERIC(6, 2) holds under 10,000
        (5, "ok", None, float("nan")),
        (6, "ok", None, float("inf")),
        (7, "ok", 9999.99, -2.5),
    ]


#: Where each bad row fails: its record (1 is the first after any header) -> column.
EXPECTED = {2: "id", 3: "name", 4: "amount", 5: "ratio", 6: "ratio"}
#: The line of a file's first record: CSV and XLSX have a header line, JSONL and Parquet none.
FIRST_LINE = {"csv": 2, "xlsx": 2, "jsonl": 1, "parquet": 1}


def write(fmt: str, path: Path, big: int) -> Path:
    """rows(big) as ``fmt`` writes them natively: numbers as numbers where the format has them."""
    records = rows(big)
    if fmt == "csv":
        lines = [",".join(HEADER)]
        lines += [",".join(_text(v) for v in row) for row in records]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif fmt == "xlsx":
        book = xlsxwriter.Workbook(str(path))
        sheet = book.add_worksheet()
        sheet.write_row(0, 0, HEADER)
        for number, row in enumerate(records, start=1):
            for column, value in enumerate(row):
                if _not_finite(value):
                    sheet.write_string(number, column, _text(value))  # a sheet has no NaN
                elif value is not None:
                    sheet.write(number, column, value)
        book.close()
    elif fmt == "jsonl":
        # JSON numbers for what JSON holds; NaN and infinity as the text people write.
        objects = [
            {name: _text(v) if _not_finite(v) else v for name, v in zip(HEADER, row, strict=True)}
            for row in records
        ]
        path.write_text("\n".join(json.dumps(o) for o in objects) + "\n", encoding="utf-8")
    else:
        columns = {
            "id": pa.array([str(row[0]) for row in records], pa.string()),  # int64 holds no 10**20
            "name": pa.array([row[1] for row in records], pa.string()),
            "amount": pa.array([row[2] for row in records], pa.float64()),
            "ratio": pa.array([row[3] for row in records], pa.float64()),  # NaN and inf as such
        }
        pq.write_table(pa.table(columns), path)
    return path


def _not_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value == float("inf"):
        return "1e400"
    return str(value)


def imported(engine: Jobport, path: Path, fmt: str) -> Any:
    request = StartRequest(type="things", format=fmt, source_name=path.name)
    return engine.run(engine.start(request, path=path).id)


def check(engine: Jobport, tmp_path: Path, fmt: str, big: int) -> None:
    """Import rows(big) as ``fmt``; only ids 1 and 7 land, each bad row fails at its cell."""
    run = imported(engine, write(fmt, tmp_path / f"things.{fmt}", big), fmt)
    assert (run.status, run.processed, run.failed) == ("completed_with_errors", 7, 5), run.error
    failures, _ = engine.store.list_failures(run.id, limit=100)
    first = FIRST_LINE[fmt]
    assert {f["line"] - first + 1: f["column"] for f in failures} == EXPECTED
    messages = {f["line"] - first + 1: f["message"] for f in failures}
    if fmt == "xlsx" and big > 10**16:
        # A sheet's number is a double: past 2**53 it is no exact whole number to check.
        assert "is not a whole number" in messages[2]
    else:
        assert "outside the column's range" in messages[2]
    assert "the column holds at most 5" in messages[3]
    assert "does not fit the column" in messages[4]
    assert "is not a finite number" in messages[5]
    assert "is not a finite number" in messages[6]
    table = engine.registry.get("things").table
    assert table is not None
    with engine.database.connect() as conn:
        stored = {row[0]: row for row in conn.execute(sa.select(table)).all()}
    assert set(stored) == {1, 7}
    assert (stored[7][1], stored[7][2], stored[7][3]) == ("ok", Decimal("9999.99"), -2.5)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_value_the_column_cannot_hold_fails_its_row_in_every_format(
    make_jobport: MakeJobport, tmp_path: Path, fmt: str
) -> None:
    check(make_jobport(registry=registry()), tmp_path, fmt, BIG)
