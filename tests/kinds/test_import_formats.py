"""XLSX, JSON Lines and Parquet imports go through the same validation, failures and upserts
as CSV: the same dirty rows fail, with the row's number in its own file."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xlsxwriter
from tests.conftest import MakeJobport

from jobport import StartRequest
from jobport.demo.data import COLUMNS, generate


def write_file(fmt: str, path: Path, rows: list[list[str]]) -> Path:
    if fmt == "xlsx":
        book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": True})
        sheet = book.add_worksheet()
        sheet.write_row(0, 0, COLUMNS)
        for number, row in enumerate(rows, start=1):
            sheet.write_row(number, 0, [value if value != "" else None for value in row])
        book.close()
    elif fmt == "jsonl":
        lines = [json.dumps(dict(zip(COLUMNS, row, strict=True))) for row in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        columns = {name: [row[i] or None for row in rows] for i, name in enumerate(COLUMNS)}
        pq.write_table(pa.table(columns), path, row_group_size=7)
    return path


@pytest.mark.parametrize("fmt", ["xlsx", "jsonl", "parquet"])
def test_the_same_rows_fail_as_in_csv(make_jobport: MakeJobport, tmp_path: Path, fmt: str) -> None:
    engine = make_jobport()
    generated = list(generate(60, dirty=0.3, seed=5))
    path = write_file(fmt, tmp_path / f"c.{fmt}", [g.values for g in generated])
    run = engine.run(
        engine.start(
            StartRequest(type="customers", format=fmt, source_name=path.name), path=path
        ).id
    )
    assert run.status == "completed_with_errors", run.error
    bad = {g.line: g.defect for g in generated if g.defect}
    # CSV line numbers count the header; XLSX rows do too; JSON Lines and Parquet do not.
    shift = 0 if fmt == "xlsx" else 1
    failures, count = engine.store.list_failures(run.id, limit=1000)
    assert count == len(bad)
    assert {f["line"] + shift for f in failures} == set(bad)
    assert run.processed == 60
    assert run.failed == len(bad)


@pytest.mark.parametrize(
    ("declared", "content", "message"),
    [
        ("csv", "xlsx", "sent as CSV but its content looks like XLSX"),
        ("xlsx", "csv", "sent as XLSX but its content looks like CSV"),
        ("parquet", "jsonl", "sent as PARQUET but its content looks like JSONL"),
        ("jsonl", "parquet", "sent as JSONL but its content looks like PARQUET"),
    ],
)
def test_content_that_does_not_match_the_format_is_refused(
    make_jobport: MakeJobport, tmp_path: Path, declared: str, content: str, message: str
) -> None:
    engine = make_jobport()
    rows = [g.values for g in generate(3)]
    if content == "csv":
        path = tmp_path / "c.csv"
        path.write_text(",".join(COLUMNS) + "\n" + ",".join(rows[0]) + "\n", encoding="utf-8")
    else:
        path = write_file(content, tmp_path / f"c.{content}", rows)
    run = engine.start(StartRequest(type="customers", format=declared), path=path)
    assert run.status == "failed"
    assert message in (run.error or "")
