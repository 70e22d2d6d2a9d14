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
from tests.formats.crafted_xlsx import crafted_workbook, header_row, inline
from tests.formats.support import read_all, stored
from tests.hardening.support import MiB, peak_memory

from jobport.errors import InputError, LimitExceeded
from jobport.files import FileStore
from jobport.formats import BadRecord, ReadOptions, sniff_format
from jobport.formats.cells import as_text
from jobport.formats.xlsx import (
    SharedStrings,
    SharedStringsWriter,
    XlsxFormat,
    ZipLimits,
    is_date_format,
    serial_to_text,
)


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


# -- hostile sheets: references, row numbers and shared strings no sheet holds ------------


def crafted(files: FileStore, tmp_path: Path, rows: str, **parts: Any) -> str:
    path = tmp_path / "crafted.xlsx"
    path.write_bytes(crafted_workbook(rows, **parts))
    return stored(files, path)


def test_a_header_cell_past_the_last_column_is_refused_without_allocating(
    files: FileStore, tmp_path: Path
) -> None:
    """ZZZZZZ1 is column 321,272,406: padding the header to it took 5 GB."""
    row = '<row r="1">' + inline("A1", "id") + inline("ZZZZZZ1", "x") + "</row>"
    key = crafted(files, tmp_path, row)
    with peak_memory() as peak:
        with pytest.raises(InputError) as refused:
            read_all(files, "xlsx", key)
        used = peak()
    assert "header row 1 cannot be read: the cell reference 'ZZZZZZ1'" in refused.value.message
    assert used < 4 * MiB
    assert not list((tmp_path / "store").glob("work/*"))


def test_a_header_at_the_last_column_of_a_sheet_is_read_within_its_bounds(
    files: FileStore, tmp_path: Path
) -> None:
    key = crafted(files, tmp_path, header_row("id")[:-6] + inline("XFD1", "far") + "</row>")
    with peak_memory() as peak:
        header, _, _ = read_all(files, "xlsx", key)
        used = peak()
    assert (len(header), header[0], header[-1]) == (16_384, "id", "far")
    assert used < 4 * MiB


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        (inline("!1", "x"), "the cell reference '!1' is not a cell of a sheet"),
        (inline("abc", "x"), "the cell reference 'abc' is not a cell of a sheet"),
        (inline("XFE2", "x"), "the cell reference 'XFE2' is not a cell of a sheet"),
        (inline("ZZZZZZ2", "x"), "the cell reference 'ZZZZZZ2' is not a cell of a sheet"),
        (inline("A123456789", "x"), "the cell reference 'A123456789' is not a cell"),
        ('<c r="B2" t="s"><v>7</v></c>', "the cell B2 names shared string 7, but the workbook"),
        ('<c r="B2" t="s"><v>-1</v></c>', "the cell B2 names shared string -1, but"),
        ('<c r="B2" t="s"><v>one</v></c>', "the cell B2 names shared string 'one'"),
    ],
)
def test_a_cell_no_sheet_holds_fails_its_row_alone(
    files: FileStore, tmp_path: Path, cell: str, reason: str
) -> None:
    rows = (
        header_row("id", "name")
        + f'<row r="2"><c r="A2"><v>1</v></c>{cell}</row>'
        + '<row r="3"><c r="A3"><v>2</v></c><c r="B3" t="s"><v>0</v></c></row>'
    )
    _, records, specs = read_all(files, "xlsx", crafted(files, tmp_path, rows, shared=["ok"]))
    assert [number for number, _ in records] == [2, 3]
    assert isinstance(records[0][1], BadRecord)
    assert reason in records[0][1]
    assert records[1] == (3, ["2", "ok"])
    assert sum(spec["rows"] for spec in specs) == len(records)


@pytest.mark.parametrize("r", ["x", "0", "-4", "1048577", "99999999999999999999999", "²"])
def test_a_row_number_no_sheet_holds_fails_that_row_under_its_counted_number(
    files: FileStore, tmp_path: Path, r: str
) -> None:
    rows = header_row("id") + f'<row r="{r}"><c><v>1</v></c></row><row><c><v>2</v></c></row>'
    _, records, _ = read_all(files, "xlsx", crafted(files, tmp_path, rows))
    assert records[0][0] == 2
    assert isinstance(records[0][1], BadRecord)
    assert f"the row number {r[:20]!r} is not a row of a sheet" in records[0][1]
    assert records[1] == (3, ["2"])


def test_sparse_lowercase_duplicated_and_unordered_references_keep_rows_at_header_width(
    files: FileStore, tmp_path: Path
) -> None:
    rows = (
        header_row("a", "b")
        + '<row r="2">'
        + inline("XFD2", "far")  # past the header: left out, never padded to
        + inline("b2", "lower")
        + inline("A2", "first")
        + inline("A2", "again")
        + "</row>"
        + '<row r="3">'
        + inline("XFD3", "only far")  # a row of values past the header still counts
        + "</row>"
    )
    _, records, specs = read_all(files, "xlsx", crafted(files, tmp_path, rows))
    assert records == [(2, ["again", "lower"]), (3, [None, None])]
    assert sum(spec["rows"] for spec in specs) == 2


@pytest.mark.parametrize("style", ["abc", "-1", "²", "99999999999999999999", ""])
def test_a_style_index_no_workbook_holds_leaves_the_number_as_it_is(
    files: FileStore, tmp_path: Path, style: str
) -> None:
    rows = header_row("n") + f'<row r="2"><c r="A2" s="{style}"><v>43832</v></c></row>'
    styles = '<xf numFmtId="0"/><xf numFmtId="14"/>'
    _, records, _ = read_all(files, "xlsx", crafted(files, tmp_path, rows, styles=styles))
    assert records == [(2, ["43832"])]


def test_a_shared_string_longer_than_a_cell_is_refused_as_it_grows(
    files: FileStore, tmp_path: Path
) -> None:
    key = crafted(files, tmp_path, header_row("a"), shared=["ok", "x" * 40_000])
    with pytest.raises(InputError, match="shared string 1 holds more than 32,767 characters"):
        read_all(files, "xlsx", key)
    assert not list((tmp_path / "store").glob("work/*"))


def test_shared_strings_are_found_across_windows_of_offsets(
    files: FileStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SharedStrings, "_WINDOW", 16)
    monkeypatch.setattr(SharedStringsWriter, "_BATCH", 16)
    wanted = (0, 1, 14, 15, 16, 17, 1_001, 2_999)
    cells = "".join(f'<row r="{n + 2}"><c r="A{n + 2}" t="s"><v>{n}</v></c></row>' for n in wanted)
    shared = [f"s{n}" for n in range(3_000)]
    key = crafted(files, tmp_path, header_row("a") + cells, shared=shared)
    _, records, _ = read_all(files, "xlsx", key)
    assert [values for _, values in records] == [[f"s{n}"] for n in wanted]


def test_shared_string_offsets_are_never_held_whole(
    files: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A few MB of ``<si>`` name millions of strings: 8 bytes of offset each stay on disk,
    written in batches and read in windows (both made small here, for a small test)."""
    monkeypatch.setattr(SharedStrings, "_WINDOW", 1024)
    monkeypatch.setattr(SharedStringsWriter, "_BATCH", 1024)
    count = 40_000  # 320,000 bytes of offsets
    text_key, index_key = files.new_key("work", ".txt"), files.new_key("work", ".idx")
    with files.open(text_key, "wb") as data, files.open(index_key, "wb") as index:
        writer = SharedStringsWriter(data, index)
        with peak_memory() as peak:
            for n in range(count):
                writer.add(f"s{n}")
            writer.flush()
            writing = peak()
    strings = SharedStrings(files, text_key, index_key)
    with peak_memory() as peak:
        found = strings.lookup({0, 20_000, count - 1})
        reading = peak()
    assert found == {0: "s0", 20_000: "s20000", count - 1: f"s{count - 1}"}
    assert strings.count == count
    assert writing < 100_000
    assert reading < 100_000


def test_planning_and_reading_agree_on_which_rows_hold_a_value(
    files: FileStore, tmp_path: Path
) -> None:
    """Damage in a row without a value is no row at all; an empty ``<v/>`` is a row."""
    rows = (
        header_row("a")
        + '<row r="x"></row><row><c r="!1"/></row>'
        + '<row r="4"><c r="A4"><v/></c></row>'
        + '<row r="5"><c r="!5"><v>1</v></c></row>'
    )
    _, records, specs = read_all(files, "xlsx", crafted(files, tmp_path, rows))
    assert [number for number, _ in records] == [4, 5]
    assert records[0] == (4, [None])
    assert isinstance(records[1][1], BadRecord)
    assert sum(spec["rows"] for spec in specs) == len(records)
