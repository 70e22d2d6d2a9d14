"""XLSX workbooks as people send them: several sheets, and title rows above the header.

The sheet is chosen by name or 1-based position (a name first); the header is
found below title rows or named by its row; rows keep the sheet's numbers in
records, failures and the preview.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter
from tests.formats.crafted_xlsx import crafted_workbook, header_row, inline
from tests.formats.support import read_all, stored
from tests.unit.test_dashboard_pages import sign_in, site  # noqa: F401 (site: a fixture)

from jobport import Jobport, StartRequest
from jobport.errors import InputError
from jobport.files import FileStore
from jobport.formats import ReadOptions, reader_for
from jobport.formats.header_row import RowShape, choose_header
from jobport.principal import Principal
from jobport.service import JobService

CUSTOMERS = ["id", "email", "last_name", "country"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    """A workbook of the named sheets, each given as rows (None: an empty cell or row)."""
    book = xlsxwriter.Workbook(str(path))
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for number, row in enumerate(rows):
            for column, value in enumerate(row or []):
                if value is not None:
                    sheet.write(number, column, value)
    book.close()
    return path


def report(title_rows: list[list[Any]] | None = None) -> list[list[Any]]:
    """A customers sheet as a report: a title and an empty row above the header."""
    above = title_rows if title_rows is not None else [["Customers, March 2024"], []]
    return [
        *above,
        CUSTOMERS,
        [1, "ada@example.com", "Lovelace", "GB"],
        [2, "grace@example.com", "Hopper", "US"],
    ]


@pytest.fixture
def book(files: FileStore, tmp_path: Path) -> str:
    sheets = {
        "Notes": [["read me"], ["nothing to import here"]],
        "Data": report(),
        "1": [["a", "b"], ["x", "y"]],
    }
    return stored(files, workbook(tmp_path / "book.xlsx", sheets))


@pytest.mark.parametrize(
    ("sheet", "header"),
    [
        ("Data", CUSTOMERS),
        ("  data ", CUSTOMERS),  # case and surrounding spaces aside
        ("2", CUSTOMERS),  # a 1-based position, no sheet being named "2"
        ("1", ["a", "b"]),  # the sheet named "1" wins over the first sheet
        (None, ["read me"]),  # the first sheet by default
    ],
)
def test_a_sheet_is_chosen_by_name_then_position(
    files: FileStore, book: str, sheet: str | None, header: list[str]
) -> None:
    read = {} if sheet is None else {"sheet": sheet}
    found, _, _ = read_all(files, "xlsx", book, **read)
    assert found == header


def test_an_unknown_sheet_lists_the_sheets_and_the_positions(files: FileStore, book: str) -> None:
    with pytest.raises(InputError) as refused:
        read_all(files, "xlsx", book, sheet="Customers")
    assert refused.value.message == (
        "the workbook has no sheet named 'Customers'; its sheets are 'Notes', 'Data', '1' "
        "(or give a position, 1 to 3)"
    )
    with pytest.raises(InputError, match="no sheet named '4'"):
        read_all(files, "xlsx", book, sheet="4")


def test_the_list_of_sheets_is_bounded(files: FileStore, tmp_path: Path) -> None:
    many = {f"S{n}": [["a"], [n]] for n in range(1, 131)}
    key = stored(files, workbook(tmp_path / "many.xlsx", many))
    with pytest.raises(InputError) as refused:
        read_all(files, "xlsx", key, sheet="nope")
    assert "'S10' and 120 more (or give a position, 1 to 130)" in refused.value.message
    prepared = reader_for("xlsx").prepare(files, key, ReadOptions(sheet="130"))
    assert prepared.params["sheet"] == "S130"
    assert prepared.params["sheets"] == [f"S{n}" for n in range(1, 101)]


def test_title_rows_above_the_header_are_skipped_and_rows_keep_their_numbers(
    files: FileStore, book: str
) -> None:
    header, records, _ = read_all(files, "xlsx", book, sheet="Data")
    assert header == CUSTOMERS
    assert records == [
        (4, ["1", "ada@example.com", "Lovelace", "GB"]),
        (5, ["2", "grace@example.com", "Hopper", "US"]),
    ]


def test_a_header_row_is_chosen_by_its_number(files: FileStore, tmp_path: Path) -> None:
    """One column under a one-cell title: no rule can tell them apart; the number does."""
    rows = [["Exported 2024-03-01"], ["id"], [7], [8]]
    key = stored(files, workbook(tmp_path / "one.xlsx", {"Sheet1": rows}))
    assert read_all(files, "xlsx", key)[0] == ["Exported 2024-03-01"]
    header, records, _ = read_all(files, "xlsx", key, header_row=2)
    assert (header, records) == (["id"], [(3, ["7"]), (4, ["8"])])


def test_a_header_row_that_holds_nothing_is_refused(files: FileStore, book: str) -> None:
    for row in (2, 40):
        with pytest.raises(InputError, match=f"row {row} of the sheet 'Data' holds no value"):
            read_all(files, "xlsx", book, sheet="Data", header_row=row)


def test_the_headers_of_a_mapping_find_their_row(files: FileStore, tmp_path: Path) -> None:
    """Without them the wide title row would win; with them the row holding them does."""
    rows = [["Region", "North", "Quarter", "Q1"], ["Customer", "Mail"], ["Ada", "a@b.c"]]
    key = stored(files, workbook(tmp_path / "m.xlsx", {"Sheet1": rows}))
    assert read_all(files, "xlsx", key)[0] == ["Region", "North", "Quarter", "Q1"]
    header, records, _ = read_all(files, "xlsx", key, mapping={"mail": "email"})
    assert (header, records) == (["Customer", "Mail"], [(3, ["Ada", "a@b.c"])])


def test_a_damaged_first_row_refuses_the_file_rather_than_skipping_it(
    files: FileStore, tmp_path: Path
) -> None:
    rows = header_row("id")[:-6] + inline("ZZZZZZ1", "far") + "</row>"
    rows += '<row r="2">' + inline("A2", "name") + inline("B2", "mail") + "</row>"
    path = tmp_path / "damaged.xlsx"
    path.write_bytes(crafted_workbook(rows))
    with pytest.raises(InputError, match="header row 1 cannot be read"):
        read_all(files, "xlsx", stored(files, path))


@pytest.mark.parametrize(
    ("rows", "header"),
    [
        ([["id", "name"], [1, "a"]], 0),  # no title
        ([["Report"], [], ["id", "name"], [1, "a"]], 1),  # rows holding a value
        ([["Report", "2024-03-01"], ["a", "b", "c", "d"]], 1),  # a title and its date
        ([["id", "name"], ["a", "b", "extra note"]], 0),  # data a column wider is kept
        ([["id", "id", "name"], [1, "a", "b"]], 0),  # repeated names stay the header
        ([[2023, 2024, 2025], [1, 2, 3]], 0),  # nothing like a header: the first row
        ([["x" * 101, "y" * 101], ["a", "b"]], 1),  # long text is data, not names
    ],
)
def test_the_header_rule(rows: list[list[Any]], header: int) -> None:
    shapes = [RowShape.of(str(cell) for cell in row) for row in rows if row]
    assert choose_header(shapes) == header


# -- through the import and the preview ------------------------------------------------------


def test_an_import_of_a_second_sheet_below_a_title_reports_the_sheets_row_numbers(
    make_jobport: Any, tmp_path: Path
) -> None:
    engine: Jobport = make_jobport()
    rows = report([["Customers"], [None, "exported by the CRM"], []])
    rows.insert(4, [3, "not an address", "Bad", "GB"])
    path = workbook(tmp_path / "crm.xlsx", {"Summary": [["total", 3]], "Customers": rows})
    request = StartRequest(type="customers", source_name="crm.xlsx", read={"sheet": "2"})
    run = engine.start(request, stream=io.BytesIO(path.read_bytes()))
    run = engine.run(run.id)
    assert (run.status, run.total, run.failed) == ("completed_with_errors", 3, 1)
    items, _ = engine.store.list_failures(run.id)
    assert [item["line"] for item in items] == [5]


def test_the_preview_lists_the_sheets_and_says_which_one_and_where_its_header_is(
    make_jobport: Any, tmp_path: Path
) -> None:
    service = JobService(make_jobport())
    path = workbook(tmp_path / "p.xlsx", {"Notes": [["x"]], "Data": report()})
    key = service.store_file(service.job_type("customers"), path)
    preview = service.preview(
        Principal.operator(), "customers", key, source_name="p.xlsx", read={"sheet": "data"}
    )
    assert (preview.sheets, preview.sheet, preview.header_row) == (["Notes", "Data"], "Data", 3)
    assert [row.line for row in preview.rows] == [4, 5]
    assert all(row.valid for row in preview.rows)


def two_sheets() -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    book.add_worksheet("Read me").write_row(0, 0, ["Exported from the CRM"])
    sheet = book.add_worksheet("Customers")
    sheet.write_row(0, 0, ["Customers, March"])
    sheet.write_row(2, 0, ["id", "email", "last_name", "country"])
    sheet.write_row(3, 0, [1, "ada@example.com", "Lovelace", "GB"])
    book.close()
    return out.getvalue()


def test_the_preview_offers_the_sheets_and_previews_the_one_chosen(site: Any) -> None:  # noqa: F811
    csrf = sign_in(site, "bob")
    sent = site.post(
        "/import/preview",
        data={"csrf_token": csrf, "type": "customers", "sheet": "2"},
        files={"file": ("crm.xlsx", two_sheets(), XLSX)},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    page = site.get(sent.headers["location"]).text
    assert '<option value="Read me">Read me</option>' in page
    assert '<option value="Customers" selected>Customers</option>' in page
    assert "The header was found on row 3." in page
    assert 'id="line-4"' in page
    start_read = re.search(r'name="read" value="([^"]+)"', page)
    assert start_read is not None
    assert "&#34;sheet&#34;: &#34;2&#34;" in start_read.group(1)

    other = site.get(sent.headers["location"].replace("sheet=2", "sheet=Read+me"))
    assert "missing required column(s)" in other.text  # that sheet has no customers
