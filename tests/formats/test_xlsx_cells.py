"""XLSX cell text: read whole, Excel's ``_xHHHH_`` escapes decoded, and held to the limits.

calamine (which reads whole sheets into memory) is the oracle for what a cell
holds: the streaming reader must agree with it on text split into many pieces
by the XML parser, on pretty-printed sheets and on escapes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from python_calamine import CalamineWorkbook
from tests.formats.crafted_xlsx import crafted_workbook, header_row, inline
from tests.formats.support import stored
from tests.hardening.support import MiB, peak_memory

from jobport.errors import InputError
from jobport.files import FileStore
from jobport.formats import BadRecord, ReadOptions, reader_for
from jobport.formats import xlsx as xlsx_module
from jobport.formats.cells import as_text
from jobport.formats.xlsx import MAX_CELL_CHARS, XlsxFormat, ZipLimits, unescape_text
from jobport.formats.xlsx import sheet as xlsx_sheet

#: Longer than expat's 8 KiB text buffer, with entities inside, so the parser hands it over
#: in many pieces; it ends in a word that only a whole read keeps.
LONG_TEXT = "Tom &amp; Jerry &lt;3 " * 700 + "&#233;" * 10 + "end"
WHOLE = "Tom & Jerry <3 " * 700 + "é" * 10 + "end"


def workbook_file(tmp_path: Path, rows: str, **parts: Any) -> Path:
    path = tmp_path / "cells.xlsx"
    path.write_bytes(crafted_workbook(rows, **parts))
    return path


def read_sheet(
    files: FileStore,
    path: Path,
    *,
    field_limit: int | None = None,
    rows_per_chunk: int = 1_000,
    reader: Any = None,
) -> tuple[list[str], list[tuple[int, Any]]]:
    """(header, records) as an import reads them, with the field limit planning passes on."""
    reader = reader or reader_for("xlsx")
    prepared = reader.prepare(files, stored(files, path), ReadOptions())
    if field_limit is not None:
        prepared.params["max_field_bytes"] = field_limit
    specs = list(reader.plan(files, prepared, rows_per_chunk))
    layout = {**prepared.params, "header": prepared.header}
    records = [r for spec in specs for r in reader.read(files, prepared.source_key, layout, spec)]
    assert sum(spec["rows"] for spec in specs) == len(records)
    return prepared.header, records


def calamine_rows(path: Path) -> list[list[str | None]]:
    """The data rows as calamine reads them, each cell as the text a CSV would hold."""
    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    return [[as_text(v) if v != "" else None for v in row] for row in sheet[1:]]


# -- text read whole ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "shared"),
    [
        (inline("A2", LONG_TEXT), None),
        (f'<c r="A2" t="str"><v>{LONG_TEXT}</v></c>', None),
        ('<c r="A2" t="s"><v>0</v></c>', [LONG_TEXT]),
    ],
    ids=["inline", "formula-text", "shared"],
)
def test_long_text_in_many_parser_pieces_is_read_whole(
    files: FileStore, tmp_path: Path, cell: str, shared: list[str] | None
) -> None:
    path = workbook_file(tmp_path, header_row("text") + f'<row r="2">{cell}</row>', shared=shared)
    _, records = read_sheet(files, path)
    assert records == [(2, [WHOLE])]
    assert calamine_rows(path) == [[WHOLE]]


@pytest.mark.parametrize(
    "cell",
    [
        inline("A2", LONG_TEXT + "<![CDATA[ a<b & c ]]>" + LONG_TEXT),
        f'<c r="A2" t="str"><v>{LONG_TEXT}<![CDATA[ a<b & c ]]>{LONG_TEXT}</v></c>',
    ],
    ids=["inline", "formula-text"],
)
def test_a_cdata_section_is_text_of_its_cell(files: FileStore, tmp_path: Path, cell: str) -> None:
    """As XML reads it (calamine agrees for ``<t>``, and leaves CDATA out of ``<v>``)."""
    path = workbook_file(tmp_path, header_row("text") + f'<row r="2">{cell}</row>')
    _, records = read_sheet(files, path)
    assert records == [(2, [WHOLE + " a<b & c " + WHOLE])]


def test_text_cut_across_every_block_boundary_is_read_whole(
    files: FileStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks of a few bytes: every tag, entity and text is cut somewhere, and rows too."""
    rows = header_row("a", "b") + "".join(
        f'<row r="{n}">{inline(f"A{n}", "x &amp; y " * n)}<c r="B{n}"><v>{n}.5</v></c></row>'
        for n in range(2, 40)
    )
    expected = [(n, ["x & y " * n, f"{n}.5"]) for n in range(2, 40)]
    path = workbook_file(tmp_path, rows)
    monkeypatch.setattr(xlsx_sheet, "_BLOCK", 7)
    _, records = read_sheet(files, path, rows_per_chunk=5)
    assert records == expected


PRETTY = """
<row r="2">
  <c r="A2" t="inlineStr">
    <is>
      <t>plain</t>
    </is>
  </c>
  <c r="B2" t="inlineStr">
    <is>
      <r><t>rich</t></r>
      <r><t xml:space="preserve"> runs </t></r>
    </is>
  </c>
  <c r="C2">
    <v>12</v>
  </c>
  <c r="D2" t="inlineStr">
    <is>
      <t></t>
    </is>
  </c>
</row>
"""


def test_a_pretty_printed_sheet_keeps_only_the_text_of_its_cells(
    files: FileStore, tmp_path: Path
) -> None:
    path = workbook_file(tmp_path, header_row("a", "b", "c", "d") + PRETTY)
    _, records = read_sheet(files, path)
    assert records == [(2, ["plain", "rich runs ", "12", None])]
    assert calamine_rows(path) == [["plain", "rich runs ", "12", None]]


def test_pretty_printed_shared_strings_keep_only_their_text(
    files: FileStore, tmp_path: Path
) -> None:
    # crafted_workbook wraps each <si>'s text in <t>...</t>: these close and reopen it.
    shared = ["</t>\n  <t>one</t>\n<t>", "</t>\n  <r><t>t</t></r>\n  <r><t>wo</t></r>\n<t>"]
    rows = header_row("a", "b") + '<row r="2"><c r="A2" t="s"><v>0</v></c>'
    rows += '<c r="B2" t="s"><v>1</v></c></row>'
    path = workbook_file(tmp_path, rows, shared=shared)
    _, records = read_sheet(files, path)
    assert records == [(2, ["one", "two"])]
    assert calamine_rows(path) == [["one", "two"]]


# -- Excel's escapes ---------------------------------------------------------------------------


ESCAPED = [
    ("line_x000D__x000A_break", "line\r\nbreak"),
    ("tab_x0009_here", "tab\there"),
    ("under_x005F_x0041_score", "under_x0041_score"),
    ("lower_x00e9_hex", "lower\u00e9hex"),
    ("_x0041__x0042_", "AB"),
    ("not_x41_an_X0041_escape_x0041", "not_x41_an_X0041_escape_x0041"),
    ("half_xD83D__xDE00_pair", "half_xD83D__xDE00_pair"),
    ("plain_text_", "plain_text_"),
]


@pytest.mark.parametrize(("written", "text"), ESCAPED)
@pytest.mark.parametrize("where", ["inline", "shared", "formula-text"])
def test_excel_escapes_are_decoded_as_calamine_decodes_them(
    files: FileStore, tmp_path: Path, written: str, text: str, where: str
) -> None:
    cell = {
        "inline": inline("B2", written),
        "shared": '<c r="B2" t="s"><v>0</v></c>',
        "formula-text": f'<c r="B2" t="str"><v>{written}</v></c>',
    }[where]
    rows = header_row("id", "text") + f'<row r="2"><c r="A2"><v>1</v></c>{cell}</row>'
    path = workbook_file(tmp_path, rows, shared=[written])
    _, records = read_sheet(files, path)
    assert records == [(2, ["1", text])]
    assert calamine_rows(path) == [["1", text]]


def test_escapes_in_the_header_are_decoded(files: FileStore, tmp_path: Path) -> None:
    path = workbook_file(tmp_path, header_row("first_x005F_name", "b_x0041_") + "")
    header, _ = read_sheet(files, path)
    assert header == ["first_name", "bA"]


def test_an_escaped_nul_fails_its_row_alone(files: FileStore, tmp_path: Path) -> None:
    rows = header_row("a") + '<row r="2">' + inline("A2", "a_x0000_b") + "</row>"
    rows += '<row r="3">' + inline("A3", "fine") + "</row>"
    _, records = read_sheet(files, workbook_file(tmp_path, rows))
    assert records[1] == (3, ["fine"])
    assert records[0][0] == 2
    assert isinstance(records[0][1], BadRecord)
    assert "NUL" in records[0][1]


def test_unescape_text_leaves_text_without_escapes_as_it_is() -> None:
    text = "no escapes here"
    assert unescape_text(text) is text
    assert unescape_text("_x005F_x005F_") == "_x005F_"


# -- cells held to the limits -------------------------------------------------------------------


def over_the_limit(name: str, limit: int) -> str:
    return (
        f"{name}: the field is over the limit of {limit:,} bytes "
        "(raise it with the type's limits or JOBPORT_MAX_FIELD_BYTES)"
    )


@pytest.mark.parametrize(
    "cell",
    [
        inline("B3", "é" * 501),  # 1,002 bytes of UTF-8 in 501 characters
        f'<c r="B3" t="str"><v>{"x" * 1_001}</v></c>',
        f'<c r="B3"><v>{"1" * 1_001}</v></c>',
        '<c r="B3" t="s"><v>1</v></c>',
    ],
    ids=["inline", "formula-text", "number", "shared"],
)
def test_a_cell_over_the_field_limit_fails_its_row_as_a_csv_field_does(
    files: FileStore, tmp_path: Path, cell: str
) -> None:
    rows = (
        header_row("code", "body")
        + '<row r="2">'
        + inline("A2", "a")
        + inline("B2", "x" * 1_000)
        + "</row>"
        + '<row r="3">'
        + inline("A3", "b")
        + cell
        + "</row>"
        + '<row r="4">'
        + inline("A4", "c")
        + "</row>"
    )
    path = workbook_file(tmp_path, rows, shared=["short", "y" * 1_001])
    _, records = read_sheet(files, path, field_limit=1_000)
    assert records[0] == (2, ["a", "x" * 1_000])
    assert records[1] == (3, BadRecord(over_the_limit("body", 1_000)))
    assert records[2] == (4, ["c", None])


@pytest.mark.parametrize(
    "cell",
    [
        inline("A2", "x" * (MAX_CELL_CHARS + 1)),
        f'<c r="A2" t="str"><v>{"x" * (MAX_CELL_CHARS + 1)}</v></c>',
    ],
    ids=["inline", "formula-text"],
)
def test_a_cell_longer_than_excel_allows_fails_its_row(
    files: FileStore, tmp_path: Path, cell: str
) -> None:
    rows = header_row("a") + f'<row r="2">{cell}</row><row r="3"><c r="A3"><v>1</v></c></row>'
    _, records = read_sheet(files, workbook_file(tmp_path, rows))
    assert records[1] == (3, ["1"])
    assert isinstance(records[0][1], BadRecord)
    assert (
        "a: the cell holds 32,768 characters, more than the 32,767 a cell can hold"
        in (records[0][1])
    )


def test_a_cell_of_escapes_is_measured_once_decoded(files: FileStore, tmp_path: Path) -> None:
    """Excel writes a cell of 32,767 carriage returns as 229,369 characters of escapes."""
    rows = header_row("a") + '<row r="2">' + inline("A2", "_x000D_" * MAX_CELL_CHARS) + "</row>"
    _, records = read_sheet(files, workbook_file(tmp_path, rows))
    assert records == [(2, ["\r" * MAX_CELL_CHARS])]


def test_a_shared_string_of_escapes_is_measured_once_decoded(
    files: FileStore, tmp_path: Path
) -> None:
    rows = header_row("a") + '<row r="2"><c r="A2" t="s"><v>0</v></c></row>'
    shared = ["_x000D_" * MAX_CELL_CHARS]
    _, records = read_sheet(files, workbook_file(tmp_path, rows, shared=shared))
    assert records == [(2, ["\r" * MAX_CELL_CHARS])]


def test_a_header_name_longer_than_a_cell_refuses_the_file(
    files: FileStore, tmp_path: Path
) -> None:
    path = workbook_file(tmp_path, header_row("id", "n" * (MAX_CELL_CHARS + 1)))
    with pytest.raises(InputError, match="header row 1 cannot be read: B1: the cell holds"):
        read_sheet(files, path)


# -- rows held to a size ------------------------------------------------------------------------


def huge_row(number: int, size: int) -> str:
    """A row of about ``size`` bytes: cells past a two-column header, each holding a value."""
    cell = f'<c r="XFD{number}"><v>1</v></c>'
    return (
        f'<row r="{number}"><c r="A{number}"><v>{number}</v></c>'
        + cell * (size // len(cell))
        + "</row>"
    )


def test_a_row_over_the_size_limit_fails_alone_in_bounded_memory(
    files: FileStore, tmp_path: Path
) -> None:
    """A row may take as many bytes as its header's columns at the field limit, escaped;
    past that it fails without ever being held, planned or parsed whole."""
    rows = (
        header_row("a", "b")
        + '<row r="2"><c r="A2"><v>2</v></c></row>'
        + huge_row(3, 24 * MiB)
        + '<row r="4"><c r="A4"><v>4</v></c></row>'
    )
    path = workbook_file(tmp_path, rows)
    reader = XlsxFormat(ZipLimits(max_ratio=10_000))
    with peak_memory() as peak:
        _, records = read_sheet(files, path, field_limit=1_000, reader=reader)
        used = peak()
    assert records[0] == (2, ["2", None])
    assert records[2] == (4, ["4", None])
    assert records[1][0] == 3
    assert isinstance(records[1][1], BadRecord)
    assert "the row is over the limit of 18,048 bytes of XML" in records[1][1]
    assert used < 6 * MiB, f"peak {used / MiB:.1f} MiB"


def test_a_row_within_the_size_limit_is_read(files: FileStore, tmp_path: Path) -> None:
    rows = header_row("a", "b") + huge_row(2, 16_000)
    _, records = read_sheet(files, workbook_file(tmp_path, rows), field_limit=1_000)
    assert records == [(2, ["2", None])]


def test_a_header_row_over_its_size_limit_refuses_the_file_in_bounded_memory(
    files: FileStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xlsx_module, "MAX_HEADER_BYTES", 4 * MiB)
    header = header_row("a", "b")[:-6] + f'<c r="XFD1"><f>{"x" * 8 * MiB}</f></c></row>'
    path = workbook_file(tmp_path, header)
    with peak_memory() as peak:
        with pytest.raises(InputError, match="the header row is over the limit of 4,194,304"):
            read_sheet(files, path, reader=XlsxFormat(ZipLimits(max_ratio=100_000)))
        used = peak()
    assert used < 6 * MiB, f"peak {used / MiB:.1f} MiB"
    assert not list((tmp_path / "store").glob("work/*"))
