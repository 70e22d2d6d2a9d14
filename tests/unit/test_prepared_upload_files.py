"""The files an import of a prepared upload leaves in storage.

Preparing an XLSX workbook (its sheet unpacked) or a UTF-16 CSV (a UTF-8 copy)
writes a copy under ``work/`` that the run reads instead of the upload. A
refused file leaves no copy; retention removes a pruned run's copy. The upload
itself is no longer named by the run once the copy is planned: the dispatcher
deletes it then, or nothing ever would (a strict xfail pinned that leak before).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import xlsxwriter  # type: ignore[import-untyped]
from tests.conftest import MakeJobport

from jobport.demo.data import write_csv
from jobport.retention import Retention


def stored(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def workbook(path: Path, rows: list[list[str]]) -> Path:
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    for number, row in enumerate(rows):
        sheet.write_row(number, 0, row)
    book.close()
    return path


def customers_xlsx(folder: Path) -> Path:
    write_csv(folder / "c.csv", 20, seed=3)
    with open(folder / "c.csv", encoding="utf-8", newline="") as handle:
        return workbook(folder / "c.xlsx", list(csv.reader(handle)))


def customers_utf16(folder: Path) -> Path:
    write_csv(folder / "c.csv", 20, seed=3)
    path = folder / "c16.csv"
    path.write_bytes((folder / "c.csv").read_text(encoding="utf-8").encode("utf-16"))
    return path


def test_a_refused_workbook_leaves_only_its_upload(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    engine = make_jobport()
    run = engine.import_file("customers", workbook(tmp_path / "bad.xlsx", [["nope"], ["1"]]))
    assert run.status == "failed"
    assert [key.split("/")[0] for key in stored(tmp_path / "files")] == ["uploads"]


@pytest.mark.parametrize("make_file", [customers_xlsx, customers_utf16], ids=["xlsx", "utf-16"])
def test_the_copy_a_run_reads_goes_with_the_run(
    make_jobport: MakeJobport, tmp_path: Path, make_file: Callable[[Path], Path]
) -> None:
    engine = make_jobport()
    run = engine.import_file("customers", make_file(tmp_path))
    assert run.status == "completed", run.error
    assert run.source_key is not None
    assert run.source_key.startswith("work/")
    Retention(engine.store, engine.files).prune(
        timedelta(days=1), now=datetime.now(UTC) + timedelta(days=3)
    )
    assert not [key for key in stored(tmp_path / "files") if key.startswith("work/")]


@pytest.mark.parametrize("make_file", [customers_xlsx, customers_utf16], ids=["xlsx", "utf-16"])
def test_no_file_outlives_its_pruned_run(
    make_jobport: MakeJobport, tmp_path: Path, make_file: Callable[[Path], Path]
) -> None:
    engine = make_jobport()
    run = engine.import_file("customers", make_file(tmp_path))
    assert run.status == "completed", run.error
    report = Retention(engine.store, engine.files).prune(
        timedelta(days=1), now=datetime.now(UTC) + timedelta(days=3)
    )
    assert report.runs == 1
    assert stored(tmp_path / "files") == []
