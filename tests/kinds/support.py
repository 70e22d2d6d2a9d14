"""Helpers of the kind tests: demo data in an engine, reading result files back."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from python_calamine import CalamineWorkbook

from jobport import Jobport, RunRecord
from jobport.demo.data import write_csv


def load_customers(engine: Jobport, tmp_path: Path, rows: int = 300) -> None:
    path = tmp_path / "customers.csv"
    write_csv(path, rows)
    run = engine.import_file("customers", path)
    assert run.status == "completed", run.error


def result_bytes(engine: Jobport, run: RunRecord) -> bytes:
    assert run.result_key, run.result
    with engine.files.open(run.result_key) as stream:
        return stream.read()


def rows_of(fmt: str, data: bytes, tmp_path: Path) -> list[dict[str, Any]]:
    """A result file's rows as dicts of text (None for an empty cell)."""
    if fmt == "csv":
        return [
            {k: (v if v != "" else None) for k, v in row.items()}
            for row in csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""))
        ]
    if fmt == "jsonl":
        return [json.loads(line) for line in data.decode("utf-8").splitlines()]
    path = tmp_path / f"result.{fmt}"
    path.write_bytes(data)
    if fmt == "xlsx":
        sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
        header = [str(h) for h in sheet[0]]
        return [
            {h: (v if v != "" else None) for h, v in zip(header, row, strict=True)}
            for row in sheet[1:]
        ]
    table = pq.read_table(path)
    return list(table.to_pylist())


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
