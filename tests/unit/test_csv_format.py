"""CSV reading in byte ranges: the same records as one csv.reader pass, with line numbers."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobport.errors import InputError
from jobport.files import FileStore
from jobport.formats import ReadOptions, Record, reader_for, sniff_format
from jobport.formats.base import BadRecord, undecodable_row
from jobport.formats.cells import unneutralise_row
from jobport.formats.csvfile import (
    CsvFormat,
    CsvLayout,
    detect_bom,
    plan_ranges,
    read_layout,
    read_range,
)

# -- helpers ------------------------------------------------------------------------------------


def ranges_and_records(
    data: bytes, rows_per_range: int, *, delimiter: str | None = None
) -> tuple[CsvLayout, list[Any], list[Record]]:
    """Plan ``data`` (UTF-8) into ranges and read every range on its own, in order."""
    stream = io.BytesIO(data)
    _, bom = detect_bom(data)
    layout = read_layout(stream, encoding="utf-8", delimiter=delimiter)
    assert layout.data_offset >= bom
    ranges = list(plan_ranges(stream, layout, rows_per_range))
    records = [record for r in ranges for record in read_range(io.BytesIO(data), layout, r)]
    return layout, ranges, records


@pytest.fixture
def files(tmp_path: Path) -> FileStore:
    return FileStore(str(tmp_path / "files"))


def through_format(
    files: FileStore, data: bytes, rows_per_chunk: int = 2, **read: Any
) -> tuple[Any, list[dict[str, Any]], list[Record]]:
    """Store ``data`` and read it the way the import kind does: prepare, plan, read chunks."""
    key, _ = files.put_stream(io.BytesIO(data), extension=".csv")
    fmt = CsvFormat()
    prepared = fmt.prepare(files, key, ReadOptions(**read))
    specs = list(fmt.plan(files, prepared, rows_per_chunk))
    records = [
        record
        for spec in specs
        for record in fmt.read(files, prepared.source_key, prepared.params, spec)
    ]
    return prepared, specs, records


# -- property: ranges read alike to one pass --------------------------------------------------

FIELD_CHARS = st.sampled_from(list("ab ,;|\t\"'\n\r\\éß€😀x0"))
field_text = st.text(FIELD_CHARS, max_size=8)


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[str, str, list[tuple[int, list[str]]]]:
    """A CSV text, its delimiter, and each record with the line it starts on.

    Line numbers are computed while writing: one plus the newlines before it.
    """
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    terminator = draw(st.sampled_from(["\n", "\r\n"]))
    width = draw(st.integers(1, 4))
    records = draw(
        st.lists(st.lists(field_text, min_size=1, max_size=width + 1), min_size=0, max_size=12)
    )
    blanks = draw(st.lists(st.integers(0, 2), min_size=len(records), max_size=len(records)))
    final_newline = draw(st.booleans())

    def row(values: list[str]) -> str:
        # The writer quotes fields holding characters of its line terminator: CR and LF.
        out = io.StringIO()
        csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerow(values)
        return out.getvalue().removesuffix("\r\n")

    header = [f"col{i}" for i in range(width)]
    parts = [row(header) + terminator]
    line = 2
    expected: list[tuple[int, list[str]]] = []
    for values, blank in zip(records, blanks, strict=True):
        parts.extend([terminator] * blank)
        line += blank
        text = row(values)
        expected.append((line, values))
        parts.append(text + terminator)
        line += text.count("\n") + 1
    if not final_newline and parts:
        parts[-1] = parts[-1][: -len(terminator)]
    return "".join(parts), delimiter, expected


@given(sample=csv_files(), rows_per_range=st.integers(1, 5))
def test_ranges_read_the_same_records_as_one_csv_reader_pass(
    sample: tuple[str, str, list[tuple[int, list[str]]]], rows_per_range: int
) -> None:
    text, delimiter, expected = sample
    data = text.encode("utf-8")
    layout, ranges, records = ranges_and_records(data, rows_per_range, delimiter=delimiter)

    one_pass = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if r]
    # Cells an export neutralised (an apostrophe before =, +, -, @, TAB, CR) lose it on import.
    assert [values for _, values in records] == [unneutralise_row(r) for r in one_pass[1:]]
    assert records == [(line, unneutralise_row(list(values))) for line, values in expected]
    assert sum(r.rows for r in ranges) == len(expected)
    assert all(0 < r.rows <= rows_per_range for r in ranges)
    # The ranges tile the data: each starts where the previous one ended (blank lines aside).
    assert all(a.end <= b.start for a, b in itertools.pairwise(ranges))
    assert layout.header == [f"col{i}" for i in range(len(layout.header))]


@given(sample=csv_files())
def test_sniffed_delimiter_matches_the_writer(
    sample: tuple[str, str, list[tuple[int, list[str]]]],
) -> None:
    text, delimiter, _ = sample
    layout = read_layout(io.BytesIO(text.encode()), encoding="utf-8", delimiter=None)
    if len(layout.header) > 1 or delimiter == ",":
        assert layout.delimiter == delimiter


# -- examples -----------------------------------------------------------------------------------


def test_quoted_fields_with_newlines_delimiters_and_quotes() -> None:
    data = (
        b"id,note,tail\n"
        b'1,"two\nlines, with a comma",x\n'
        b'2,"a ""quoted"" word",y\n'
        b"3,plain,z\n"
        b'4,"three\r\nline\nfield",w\n'
        b"5,last,v\n"
    )
    for rows in (1, 2, 10):
        _, _, records = ranges_and_records(data, rows)
        assert records == [
            (2, ["1", "two\nlines, with a comma", "x"]),
            (4, ["2", 'a "quoted" word', "y"]),
            (5, ["3", "plain", "z"]),
            (6, ["4", "three\r\nline\nfield", "w"]),
            (9, ["5", "last", "v"]),
        ]


def test_header_spanning_two_lines_shifts_the_line_numbers() -> None:
    data = b'"first\nname",age\nAda,36\nAlan,41\n'
    layout, _, records = ranges_and_records(data, 1)
    assert layout.header == ["first\nname", "age"]
    assert layout.header_lines == 2
    assert records == [(3, ["Ada", "36"]), (4, ["Alan", "41"])]


def test_header_names_are_stripped() -> None:
    layout, _, _ = ranges_and_records(b" id , Name \n1,x\n", 5)
    assert layout.header == ["id", "Name"]


@pytest.mark.parametrize(("ending", "name"), [(b"\n", "LF"), (b"\r\n", "CRLF"), (b"\r", "bare CR")])
def test_line_endings(files: FileStore, ending: bytes, name: str) -> None:
    lines = [b"id,name", b"1,Ada", b"2,Alan", b"3,Grace"]
    data = ending.join(lines) + ending
    prepared, specs, records = through_format(files, data, rows_per_chunk=2)
    assert prepared.header == ["id", "name"], name
    assert records == [(2, ["1", "Ada"]), (3, ["2", "Alan"]), (4, ["3", "Grace"])], name
    assert [s["rows"] for s in specs] == [2, 1]


def test_bare_cr_file_with_a_quoted_multiline_field(files: FileStore) -> None:
    data = b'id,note\r1,"a\rb"\r2,c\r'
    _, _, records = through_format(files, data, rows_per_chunk=1)
    assert [values for _, values in records] == [["1", "a\nb"], ["2", "c"]]
    assert [line for line, _ in records] == [2, 4]


def test_utf8_bom_is_not_part_of_the_first_column(files: FileStore) -> None:
    data = codecs.BOM_UTF8 + "id,name\n1,Zoë\n".encode()
    prepared, _, records = through_format(files, data)
    assert prepared.header == ["id", "name"]
    assert records == [(2, ["1", "Zoë"])]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom_is_transcoded(files: FileStore, encoding: str) -> None:
    text = 'id,name,note\r\n1,Zoë,"multi\r\nline"\r\n2,Łukasz,😀\r\n'
    raw = text.encode(encoding)
    if encoding != "utf-16":  # these codecs write no BOM: add the matching one
        raw = (codecs.BOM_UTF16_LE if encoding.endswith("le") else codecs.BOM_UTF16_BE) + raw
    key, _ = files.put_stream(io.BytesIO(raw), extension=".csv")
    prepared, _, records = through_format(files, raw, rows_per_chunk=1)
    assert prepared.source_key != key  # a rewritten copy, readable in byte ranges
    assert prepared.params["encoding"] == "utf-8"
    assert prepared.header == ["id", "name", "note"]
    assert records == [(2, ["1", "Zoë", "multi\nline"]), (4, ["2", "Łukasz", "😀"])]


def test_utf16_without_bom_needs_the_declared_encoding(files: FileStore) -> None:
    raw = "id,name\n1,Zoë\n".encode("utf-16-le")
    prepared, _, records = through_format(files, raw, encoding="utf-16-le")
    assert prepared.header == ["id", "name"]
    assert records == [(2, ["1", "Zoë"])]


def test_utf8_bom_with_bare_cr_endings(files: FileStore) -> None:
    data = codecs.BOM_UTF8 + "id,name\r1,Zoë\r2,Ana\r".encode()
    prepared, _, records = through_format(files, data)
    assert prepared.header == ["id", "name"]
    assert records == [(2, ["1", "Zoë"]), (3, ["2", "Ana"])]


def test_a_lone_utf16_surrogate_fails_its_row_only(files: FileStore) -> None:
    raw = (
        codecs.BOM_UTF16_LE
        + "id,name\n1,a\n".encode("utf-16-le")
        + b"\x00\xd8\x41\x00"  # a high surrogate with no low one, then "A"
        + "\n3,c\n".encode("utf-16-le")
    )
    _, _, records = through_format(files, raw)
    assert records == [(2, ["1", "a"]), (3, undecodable_row()), (4, ["3", "c"])]


def test_truncated_utf16_is_an_input_error(files: FileStore) -> None:
    raw = codecs.BOM_UTF16_LE + "id,name\n1,a\n".encode("utf-16-le") + b"\x41"
    with pytest.raises(InputError, match="not valid utf-16"):
        through_format(files, raw)


def test_declared_single_byte_encoding(files: FileStore) -> None:
    data = "id,name\n1,Zoë\n2,Ærø\n".encode("latin-1")
    prepared, _, records = through_format(files, data, encoding="latin-1")
    assert prepared.params["encoding"] == "iso8859-1"
    assert records == [(2, ["1", "Zoë"]), (3, ["2", "Ærø"])]


def test_unknown_encoding_is_an_input_error(files: FileStore) -> None:
    with pytest.raises(InputError, match="encoding: unknown encoding 'klingon'"):
        ReadOptions.checked({"encoding": "klingon"})
    # The format refuses it too, should read options reach it unchecked.
    key, _ = files.put_stream(io.BytesIO(b"id\n1\n"), extension=".csv")
    with pytest.raises(InputError, match="unknown encoding 'klingon'"):
        CsvFormat().prepare(files, key, ReadOptions.model_construct(encoding="klingon"))


def test_blank_lines_are_skipped_and_still_counted() -> None:
    data = b"id,name\n\n1,Ada\n\n\n2,Alan\r\n\r\n3,Grace\n\n"
    for rows in (1, 2, 3):
        _, ranges, records = ranges_and_records(data, rows)
        assert records == [(3, ["1", "Ada"]), (6, ["2", "Alan"]), (8, ["3", "Grace"])]
        assert sum(r.rows for r in ranges) == 3


def test_header_only_file_plans_no_ranges() -> None:
    _, ranges, records = ranges_and_records(b"id,name\n", 10)
    assert ranges == []
    assert records == []


@pytest.mark.parametrize("data", [b"", b"\n\n", b"   \r\n", codecs.BOM_UTF8])
def test_empty_file_is_an_input_error(data: bytes) -> None:
    with pytest.raises(InputError, match="the file is empty"):
        read_layout(io.BytesIO(data), encoding="utf-8", delimiter=None)


def test_unbalanced_quote_names_the_line_it_opened_on() -> None:
    data = b'id,name\n1,Ada\n2,"Alan\n3,Grace\n4,Linus\n'
    with pytest.raises(InputError, match=r"quoted field opened on line 3 never closes"):
        ranges_and_records(data, 2)


def test_unbalanced_quote_on_the_last_line() -> None:
    with pytest.raises(InputError, match="line 4"):
        ranges_and_records(b'id,name\n1,Ada\n2,Alan\n3,"Grace', 10)


def test_malformed_quoting_inside_a_record_names_its_line() -> None:
    data = b'id,name\n1,Ada\n2,"Al"an\n3,Grace\n'
    with pytest.raises(InputError, match="malformed CSV at line 3"):
        ranges_and_records(data, 10)


def test_a_line_break_in_an_unquoted_header_field_is_said_in_the_files_terms(
    files: FileStore,
) -> None:
    """The csv module's advice about opening files in universal-newline mode is not for users."""
    with pytest.raises(InputError) as refused:
        through_format(files, b"id,em\rail,last_name\n1,a@b.example,x\n")
    assert refused.value.message == (
        "malformed header on line 1: a line break inside an unquoted field (is the file CSV text?)"
    )


def test_an_invalid_utf8_record_is_refused_with_its_cells_and_its_neighbours_survive() -> None:
    data = b"id,name\n1,Ada\n2,Al\xffan\n3,Grace\n"
    for rows in (1, 3):
        _, _, records = ranges_and_records(data, rows)
        assert records == [(2, ["1", "Ada"]), (3, undecodable_row()), (4, ["3", "Grace"])]
        refused = records[1][1]
        assert isinstance(refused, BadRecord)
        assert (refused.cells, refused.column) == (["2", "Al\ufffdan"], 1)


def test_invalid_utf8_inside_a_multiline_quoted_record() -> None:
    data = b'id,note\n1,"fine\nstill fine"\n2,"first line\nbad \xc3\x28 line"\n3,"ok"\n'
    _, _, records = ranges_and_records(data, 10)
    assert records == [
        (2, ["1", "fine\nstill fine"]),
        (4, undecodable_row()),
        (6, ["3", "ok"]),
    ]


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [(b"id;name;age", ";"), (b"id\tname\tage", "\t"), (b"id|name|age", "|"), (b"id", ",")],
)
def test_delimiter_is_sniffed_from_the_header(header: bytes, delimiter: str) -> None:
    row = delimiter.encode().join([b"1", b"Ada", b"36"]) if header != b"id" else b"1"
    layout, _, records = ranges_and_records(header + b"\n" + row + b"\n", 5)
    assert layout.delimiter == delimiter
    assert records[0][1] == ["1", "Ada", "36"][: len(layout.header)]


def test_semicolon_file_with_commas_in_values() -> None:
    data = b"id;price;label\n1;3,50;a, b\n2;4,00;c\n"
    layout, _, records = ranges_and_records(data, 1)
    assert layout.delimiter == ";"
    assert records == [(2, ["1", "3,50", "a, b"]), (3, ["2", "4,00", "c"])]


def test_explicit_delimiter_wins_over_sniffing(files: FileStore) -> None:
    data = b"id;name,x\n1;Ada,y\n"
    prepared, _, records = through_format(files, data, delimiter=",")
    assert prepared.header == ["id;name", "x"]
    assert records == [(2, ["1;Ada", "y"])]


# -- content sniffing ---------------------------------------------------------------------------


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("customers.csv", "id,name\n1,Ada\n")
    return out.getvalue()


def test_sniff_tells_csv_from_binary() -> None:
    fmt = CsvFormat()
    assert fmt.sniff(b"id,name\n1,Ada\n")
    assert fmt.sniff("id,name\n".encode("utf-16"))
    assert not fmt.sniff(zip_bytes())
    assert not fmt.sniff(b"PAR1\x00\x00")
    assert not fmt.sniff(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")


def test_sniff_format() -> None:
    assert sniff_format(b"id,name\n") == "csv"
    assert sniff_format(zip_bytes()) is None


def test_reader_for_an_unknown_format_lists_the_known_ones() -> None:
    assert reader_for("csv").name == "csv"
    with pytest.raises(InputError, match="cannot read 'dbase' files; readable formats: csv"):
        reader_for("dbase")
