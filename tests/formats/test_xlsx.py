"""XLSX: typed cells as text, sheets, row numbers, chunks, and refusals before unpacking."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook
from tests.formats.support import read_all, stored

from jobport.errors import InputError, LimitExceeded
from jobport.files import FileStore
from jobport.formats import ReadOptions, sniff_format
from jobport.formats.cells import as_text
from jobport.formats.xlsx import XlsxFormat, ZipLimits, is_date_format, serial_to_text


def typed_workbook(path: Path, **options: Any) -> Path:
    book = xlsxwriter.Workbook(str(path), options)
    sheet = book.add_worksheet("People")
    other = book.add_worksheet("Other")
    date = book.add_format({"num_format": "yyyy-mm-dd"})
    moment = book.add_format({"num_format": "dd/mm/yyyy hh:mm"})
    bold = book.add_format({"bold": True})
    sheet.write_row(0, 0, ["id", "name", "joined", "at", "amount", "ok", "zip"])
    sheet.write_number(1, 0, 1)
    sheet.write_rich_string(1, 1, "A", bold, "d", "a")
    sheet.write_datetime(1, 2, dt.date(2020, 1, 2), date)
    sheet.write_datetime(1, 3, dt.datetime(2020, 1, 2, 10, 30), moment)
    sheet.write_number(1, 4, 12.5)
    sheet.write_boolean(1, 5, True)
    sheet.write_number(1, 6, 12345)
    # Row 3 is left empty; row 4 has a formula with its cached value and a stray cell.
    sheet.write_number(3, 0, 2)
    sheet.write_string(3, 1, "Grace & <Hopper>")
    sheet.write_formula(3, 4, "=1+1", None, 2)
    sheet.write_string(3, 9, "beyond the header")
    # A formatted but empty row holds no value.
    sheet.write_blank(5, 0, None, bold)
    other.write_row(0, 0, ["a", "b"])
    other.write_row(1, 0, ["x", "y"])
    book.close()
    return path


@pytest.mark.parametrize("constant_memory", [False, True], ids=["shared", "inline"])
def test_typed_cells_become_text(files: FileStore, tmp_path: Path, constant_memory: bool) -> None:
    path = typed_workbook(tmp_path / "t.xlsx", constant_memory=constant_memory)
    header, records, specs = read_all(files, "xlsx", stored(files, path))
    assert header == ["id", "name", "joined", "at", "amount", "ok", "zip"]
    assert records == [
        (2, ["1", "Ada", "2020-01-02", "2020-01-02T10:30:00", "12.5", "true", "12345"]),
        (4, ["2", "Grace & <Hopper>", None, None, "2", None, None]),
    ]
    assert sum(spec["rows"] for spec in specs) == 2


def test_values_agree_with_calamine(files: FileStore, tmp_path: Path) -> None:
    """calamine (which loads whole sheets) as an oracle for the streaming reader."""
    path = typed_workbook(tmp_path / "o.xlsx")
    _, records, _ = read_all(files, "xlsx", stored(files, path))
    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("People").to_python()
    expected = {}
    for number, row in enumerate(sheet, start=1):
        cells = [as_text(v) if v != "" else None for v in row[:7]]
        if number > 1 and any(c is not None for c in cells):
            expected[number] = cells + [None] * (7 - len(cells))
    assert dict(records) == expected


def test_a_named_sheet_is_read(files: FileStore, tmp_path: Path) -> None:
    key = stored(files, typed_workbook(tmp_path / "n.xlsx"))
    header, records, _ = read_all(files, "xlsx", key, sheet="other")
    assert header == ["a", "b"]
    assert records == [(2, ["x", "y"])]


def test_an_unknown_sheet_names_the_sheets(files: FileStore, tmp_path: Path) -> None:
    key = stored(files, typed_workbook(tmp_path / "u.xlsx"))
    with pytest.raises(
        InputError, match=r"no sheet named 'Nope'; its sheets are 'People', 'Other'"
    ):
        read_all(files, "xlsx", key, sheet="Nope")


@pytest.mark.parametrize("size", [1, 3, 50])
def test_chunks_cover_every_row_once(files: FileStore, tmp_path: Path, size: int) -> None:
    path = tmp_path / "many.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["i", "label"])
    for i in range(1, 41):
        if i % 7:
            sheet.write_row(i, 0, [i, f"row {i}"])
    book.close()
    _, records, specs = read_all(files, "xlsx", stored(files, path), rows_per_chunk=size)
    wanted = [(i + 1, [str(i), f"row {i}"]) for i in range(1, 41) if i % 7]
    assert records == wanted
    assert all(spec["rows"] <= size for spec in specs)


def test_1904_dates(files: FileStore, tmp_path: Path) -> None:
    path = tmp_path / "mac.xlsx"
    book = xlsxwriter.Workbook(str(path), {"date_1904": True})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["day"])
    sheet.write_datetime(1, 0, dt.date(2021, 3, 4), book.add_format({"num_format": "d mmm yy"}))
    book.close()
    _, records, _ = read_all(files, "xlsx", stored(files, path))
    assert records == [(2, ["2021-03-04"])]


def test_date_serials_and_formats() -> None:
    assert serial_to_text(43832) == "2020-01-02"
    assert serial_to_text(43832.4375) == "2020-01-02T10:30:00"
    assert serial_to_text(0.5) == "12:00:00"
    assert is_date_format("yyyy-mm-dd")
    assert is_date_format("[h]:mm")
    assert is_date_format("d/m")
    assert not is_date_format("0.00")
    assert not is_date_format('#,##0 "days"')
    assert not is_date_format("General")


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_bomb_is_refused_before_unpacking(files: FileStore, tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(
        zip_of({"[Content_Types].xml": b"<x/>", "xl/worksheets/sheet1.xml": b"0" * (8 << 20)})
    )
    with pytest.raises(LimitExceeded, match="ZIP bomb"):
        read_all(files, "xlsx", stored(files, path))
    assert not list((tmp_path / "store").glob("work/*"))


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (ZipLimits(max_entries=3), "ZIP entries, over the limit of 3"),
        (ZipLimits(max_uncompressed_bytes=1000), "unpacks to .* bytes, over the limit of 1,000"),
    ],
)
def test_entry_count_and_size_limits(
    files: FileStore, tmp_path: Path, limits: ZipLimits, message: str
) -> None:
    key = stored(files, typed_workbook(tmp_path / "l.xlsx"))
    with pytest.raises(LimitExceeded, match=message):
        XlsxFormat(limits).prepare(files, key, ReadOptions())


def test_a_zip_that_is_not_a_workbook_is_refused(files: FileStore, tmp_path: Path) -> None:
    path = tmp_path / "doc.xlsx"
    path.write_bytes(zip_of({"[Content_Types].xml": b"<x/>", "word/document.xml": b"<w/>"}))
    with pytest.raises(InputError, match="not an Excel workbook"):
        read_all(files, "xlsx", stored(files, path))


def test_sniffing(tmp_path: Path) -> None:
    data = typed_workbook(tmp_path / "s.xlsx").read_bytes()
    assert sniff_format(data[:8192]) == "xlsx"
    assert not XlsxFormat().sniff(b"id,name\n1,a\n")
    assert not XlsxFormat().sniff(zip_of({"a.txt": b"x"})[:8192])
