"""Hostile workbooks through the real import path: refused clearly, or failing their row alone.

A workbook can claim what no spreadsheet holds: a cell at column ZZZZZZ, a row
numbered "x", a shared string that is not there. Each ends as a refused run
with the reason, or as a failure of the one row it damages, with memory
bounded by the sheet's own limits (never by a number the file wrote), and with
no unpacked copy left under ``work/`` by a workbook that will not run.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from tests.formats.crafted_xlsx import crafted_workbook, header_row, inline
from tests.hardening.support import (
    MiB,
    Note,
    UnexpectedErrors,
    failures,
    ids,
    import_bytes,
    make_engine,
    notes_table,
    peak_memory,
    refusal,
    table,
)

from jobport import Importer, Jobport, JobRegistry, JobType
from jobport.errors import LimitExceeded
from jobport.kinds.base import PlanRequest
from jobport.kinds.preview import preview_import
from jobport.registry import NoOptions

HEADER = header_row("id", "email", "last_name", "country")


def customer(row: int, key: int) -> str:
    """A valid demo customer at spreadsheet row ``row``."""
    cells = [f'<c r="A{row}"><v>{key}</v></c>']
    cells += [
        inline(f"{column}{row}", text)
        for column, text in zip("BCD", (f"c{key}@example.com", "Lovelace", "GB"), strict=True)
    ]
    return f'<row r="{row}">{"".join(cells)}</row>'


def work_files(root: Path) -> list[Path]:
    return sorted((root / "files" / "work").glob("*"))


def test_a_header_past_the_last_column_is_refused_in_bounded_memory(
    engine: Jobport, tmp_path: Path
) -> None:
    """The 1.3 KB workbook whose ZZZZZZ1 header made the process allocate 5 GB."""
    data = crafted_workbook(HEADER[:-6] + inline("ZZZZZZ1", "far") + "</row>" + customer(2, 1))
    with UnexpectedErrors().watching() as unexpected, peak_memory() as peak:
        message = refusal(engine, tmp_path, data, name="far.xlsx")
        used = peak()
    assert not unexpected.records, unexpected.describe()
    assert "the header row 1 cannot be read: the cell reference 'ZZZZZZ1'" in message
    assert used < 16 * MiB, f"peak {used / MiB:.1f} MiB"
    assert work_files(tmp_path) == []


def test_a_header_at_the_last_column_meets_the_column_limit(
    engine: Jobport, tmp_path: Path
) -> None:
    data = crafted_workbook(HEADER[:-6] + inline("XFD1", "far") + "</row>" + customer(2, 1))
    with peak_memory() as peak:
        message = refusal(engine, tmp_path, data, name="xfd.xlsx")
        used = peak()
    assert "the file has 16,384 columns, over the limit of 1,000" in message
    assert used < 16 * MiB, f"peak {used / MiB:.1f} MiB"
    assert work_files(tmp_path) == []


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ('<row r="3">' + inline("ZZZZZZ3", "x") + "</row>", "the cell reference 'ZZZZZZ3'"),
        ('<row r="3">' + inline("!3", "x") + "</row>", "the cell reference '!3'"),
        ('<row r="3">' + inline("abc", "x") + "</row>", "the cell reference 'abc'"),
        ('<row r="x"><c r="A3"><v>9</v></c></row>', "the row number 'x'"),
        ('<row r="99999999999"><c r="A3"><v>9</v></c></row>', "the row number '99999999999'"),
        ('<row r="3"><c r="A3" t="s"><v>5</v></c></row>', "names shared string 5, but the"),
        ('<row r="3"><c r="A3" t="s"><v>a</v></c></row>', "names shared string 'a'"),
    ],
)
def test_a_damaged_row_fails_alone_and_the_others_are_imported(
    engine: Jobport, tmp_path: Path, row: str, reason: str
) -> None:
    data = crafted_workbook(HEADER + customer(2, 1) + row + customer(4, 2), shared=["s"])
    with UnexpectedErrors().watching() as unexpected:
        run = import_bytes(engine, tmp_path, data, name="rows.xlsx")
    assert not unexpected.records, unexpected.describe()
    assert run.status == "completed_with_errors", run.error
    assert (run.total, run.processed, run.failed) == (3, 3, 1)
    [(line, message)] = failures(engine, run.id)
    assert line == 3
    assert reason in message
    assert ids(engine) == [1, 2]


def test_a_data_cell_far_past_the_header_is_left_out(engine: Jobport, tmp_path: Path) -> None:
    """A data row's cell at XFD is past the header: never a row padded to it."""
    far = customer(2, 1).replace("</row>", inline("XFD2", "far") + "</row>")
    with peak_memory() as peak:
        run = import_bytes(engine, tmp_path, crafted_workbook(HEADER + far), name="far.xlsx")
        used = peak()
    assert run.status == "completed", run.error
    assert ids(engine) == [1]
    assert used < 16 * MiB, f"peak {used / MiB:.1f} MiB"


def test_a_completed_import_keeps_its_sheet_for_resume_and_a_preview_keeps_nothing(
    engine: Jobport, tmp_path: Path
) -> None:
    data = crafted_workbook(HEADER + customer(2, 1), shared=["s"])
    run = import_bytes(engine, tmp_path, data, name="kept.xlsx")
    assert run.status == "completed", run.error
    kept = work_files(tmp_path)
    assert run.source_key is not None
    assert tmp_path / "files" / run.source_key in kept
    upload = engine.dispatcher.store_upload(io.BytesIO(data), "again.xlsx")
    preview = preview_import(
        PlanRequest(
            job_type=engine.registry.get("customers"),
            options=NoOptions(),
            files=engine.files,
            database=engine.database,
            source_key=upload,
            format="xlsx",
        )
    )
    assert [row.line for row in preview.rows] == [2]
    assert work_files(tmp_path) == kept


def preview_of(engine: Jobport, data: bytes, name: str, type_: str = "customers") -> Any:
    """The preview the service shows, with the type's limits as planning applies them."""
    job_type = engine.registry.get(type_)
    return preview_import(
        PlanRequest(
            job_type=job_type,
            options=NoOptions(),
            files=engine.files,
            database=engine.database,
            source_key=engine.dispatcher.store_upload(io.BytesIO(data), name),
            format="xlsx",
            limits=engine.dispatcher.limits_for(job_type),
        )
    )


def test_a_preview_meets_the_column_limit_as_planning_does(engine: Jobport, tmp_path: Path) -> None:
    """An XFD1 header made preview rows 16,384 cells wide; planning refused it."""
    data = crafted_workbook(HEADER[:-6] + inline("XFD1", "far") + "</row>" + customer(2, 1))
    with peak_memory() as peak:
        with pytest.raises(LimitExceeded, match="the file has 16,384 columns, over the limit"):
            preview_of(engine, data, "wide.xlsx")
        used = peak()
    assert used < 16 * MiB, f"peak {used / MiB:.1f} MiB"
    assert work_files(tmp_path) == []


def xlsx_notes() -> JobRegistry:
    """The ``notes`` type (an unbounded text field: only the field limit caps it), from XLSX."""
    registry = JobRegistry()
    registry.add(
        JobType(
            type="notes",
            label="Notes",
            kind="import",
            model=notes_table,
            handler=Importer(row=Note, key="code"),
            formats=("xlsx",),
        )
    )
    return registry


def note_row(number: int, code: str, body: str) -> str:
    return f'<row r="{number}">{inline(f"A{number}", code)}{inline(f"B{number}", body)}</row>'


def test_a_cell_over_the_field_limit_fails_its_row_in_the_import_and_the_preview(
    tmp_path: Path,
) -> None:
    data = crafted_workbook(
        header_row("code", "body")
        + note_row(2, "a", "x" * 1_000)
        + note_row(3, "b", "x" * 1_001)
        + note_row(4, "c", "fine")
    )
    expected = (
        "body: the field is over the limit of 1,000 bytes "
        "(raise it with the type's limits or JOBPORT_MAX_FIELD_BYTES)"
    )
    with make_engine(tmp_path, app=None, registry=xlsx_notes(), max_field_bytes=1_000) as engine:
        run = import_bytes(engine, tmp_path, data, "notes", name="notes.xlsx")
        assert run.status == "completed_with_errors", run.error
        assert failures(engine, run.id) == [(3, expected)]
        assert [row["code"] for row in table(engine, "notes", "code")] == ["a", "c"]
        preview = preview_of(engine, data, "again.xlsx", "notes")
        assert [(row.line, row.errors) for row in preview.rows][1] == (3, {"": expected})
