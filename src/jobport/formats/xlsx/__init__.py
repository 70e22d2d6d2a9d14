"""XLSX reading in row ranges, with memory flat in the size of the workbook.

A workbook is a ZIP archive of XML parts. It is checked before anything is
unpacked (entry count, total uncompressed size, compression ratio: a ZIP bomb
is refused with a clear message). Preparing then unpacks, streaming:

* the chosen worksheet's XML, stored as is, so chunks can seek into it;
* the shared strings, stored as UTF-8 text plus an offset index, so a chunk
  looks up only the strings its rows use;
* the styles, reduced to the set of cell styles that show a date.

Planning walks the worksheet XML once, cutting it after every ``rows_per_chunk``
rows that hold a value. A chunk parses only its own bytes (expat, in C) and so
chunks of one workbook run in parallel. Row numbers are the spreadsheet's.

python-calamine reads the whole sheet into memory before the first row comes
out (about 170 MB for 200,000 rows of ten columns, measured), and so it is not
used here: memory would grow with the file and every chunk would load it all.

Cells reach validation as the text a CSV would hold: numbers without a
pointless ``.0``, dates (cells whose style shows a date) as ISO 8601, booleans
as ``true``/``false``, errors as their text (``#N/A``). Text our exports
neutralised (``'=x``) is restored (see ``formats.cells.unneutralise``).

The work is split by part: ``archive`` (the ZIP and its small parts), ``strings``
(shared strings), ``sheet`` (the worksheet's bytes, planning), ``rows`` (parsing
a chunk's rows) and ``values`` (a cell's text and its limits). This module is the
reader the registry knows, and what other code imports.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobport.errors import InputError
from jobport.formats.base import Prepared, ReadOptions, Record, discard
from jobport.formats.header_row import normalise
from jobport.formats.spec import FormatSpec
from jobport.formats.writers import XLSX_MAX_ROWS, XLSX_WRITER
from jobport.formats.xlsx.archive import (
    MAX_COMPRESSION_RATIO,
    MAX_ENTRIES,
    MAX_UNCOMPRESSED_BYTES,
    RATIO_FLOOR_BYTES,
    ZIP_MAGIC,
    Workbook,
    ZipLimits,
    check_archive,
    date_styles,
    is_date_format,
    locate,
)
from jobport.formats.xlsx.header import HeaderFinder
from jobport.formats.xlsx.rows import parse_rows
from jobport.formats.xlsx.sheet import (
    RowCutter,
    RowSpan,
    SheetLayout,
    copy_sheet,
    find_sheet_data,
)
from jobport.formats.xlsx.strings import (
    SharedStrings,
    SharedStringsWriter,
    extract_shared_strings,
)
from jobport.formats.xlsx.values import (
    CELL_MARKUP_BYTES,
    MAX_CELL_CHARS,
    MAX_HEADER_BYTES,
    MAX_SHEET_COLUMNS,
    MAX_SHEET_ROWS,
    XML_BYTES_PER_VALUE_BYTE,
    CellLimits,
    serial_to_text,
    unescape_text,
)

if TYPE_CHECKING:
    from jobport.files import FileStore

__all__ = [
    "CELL_MARKUP_BYTES",
    "FORMAT",
    "MAX_CELL_CHARS",
    "MAX_COMPRESSION_RATIO",
    "MAX_ENTRIES",
    "MAX_HEADER_BYTES",
    "MAX_SHEET_COLUMNS",
    "MAX_SHEET_ROWS",
    "MAX_UNCOMPRESSED_BYTES",
    "RATIO_FLOOR_BYTES",
    "XML_BYTES_PER_VALUE_BYTE",
    "ZIP_MAGIC",
    "CellLimits",
    "RowCutter",
    "RowSpan",
    "SharedStrings",
    "SharedStringsWriter",
    "SheetLayout",
    "Workbook",
    "XlsxFormat",
    "ZipLimits",
    "check_archive",
    "copy_sheet",
    "date_styles",
    "extract_shared_strings",
    "find_sheet_data",
    "is_date_format",
    "locate",
    "parse_rows",
    "serial_to_text",
    "unescape_text",
]


@dataclass(frozen=True)
class Unpacked:
    """What preparing took out of the archive, beside the sheet itself."""

    sheet_name: str
    date1904: bool
    #: The workbook's sheets, in tab order (bounded: see ``archive.MAX_LISTED_SHEETS``).
    sheets: tuple[str, ...]
    sheet_key: str
    strings_key: str | None
    index_key: str | None


# -- the format -------------------------------------------------------------------------------


#: What a damaged or unsupported archive raises while its entries are read.
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError)


class XlsxFormat:
    """Excel workbooks (``.xlsx``): the first sheet, or the one ``ReadOptions.sheet`` names
    (see :func:`~jobport.formats.xlsx.archive.choose_sheet`); the header on the row
    ``ReadOptions.header_row`` names, or found below any title rows (see
    :mod:`jobport.formats.header_row`)."""

    name = "xlsx"

    def __init__(self, limits: ZipLimits | None = None) -> None:
        self.limits = limits or ZipLimits()

    def sniff(self, head: bytes) -> bool:
        return head.startswith(ZIP_MAGIC) and (b"[Content_Types].xml" in head or b"xl/" in head)

    def prepare(self, files: FileStore, key: str, read: ReadOptions) -> Prepared:
        """The chosen sheet unpacked under ``work/`` and its header read.

        The unpacked parts are the run's to read later; a workbook refused here
        leaves none of them behind.
        """
        scratch: list[str] = []
        try:
            try:
                return self._prepare(files, key, read, scratch)
            except _DAMAGED as exc:
                raise InputError(
                    "the file is not a readable XLSX workbook (its ZIP structure is damaged: "
                    f"{type(exc).__name__})"
                ) from None
        except BaseException:
            discard(files, scratch)
            raise

    def _prepare(
        self, files: FileStore, key: str, read: ReadOptions, scratch: list[str]
    ) -> Prepared:
        book, styles = self._unpack(files, key, read, scratch)
        strings_key, index_key = book.strings_key, book.index_key
        strings = (
            SharedStrings(files, strings_key, index_key) if strings_key and index_key else None
        )
        with files.open(book.sheet_key) as stream:
            data_start, prefix, empty = find_sheet_data(stream)
        if empty:
            raise InputError(f"the sheet {book.sheet_name!r} is empty: expected a header row")
        layout = SheetLayout(prefix, (), frozenset(styles), book.date1904, None, None)
        names = frozenset(normalise(name) for name in read.mapping)
        with files.open(book.sheet_key) as stream, files.open(book.sheet_key) as rows_stream:
            finder = HeaderFinder(
                stream, rows_stream, layout, strings, book.sheet_name, MAX_HEADER_BYTES
            )
            found = finder.find(data_start, read.header_row, names)
        header = [("" if cell is None else str(cell)).strip() for cell in found.cells]
        while header and not header[-1]:
            header.pop()
        return Prepared(
            source_key=book.sheet_key,
            header=header,
            params={
                "sheet": book.sheet_name,
                "prefix": prefix,
                "data_offset": found.end,
                "header_row": found.number,
                "sheets": list(book.sheets),
                "date_styles": styles,
                "date1904": book.date1904,
                "strings": strings_key,
                "strings_index": index_key,
            },
            scratch=scratch,
        )

    def _unpack(
        self, files: FileStore, key: str, read: ReadOptions, scratch: list[str]
    ) -> tuple[Unpacked, list[int]]:
        """Check the archive, then copy out the shared strings and the sheet; every key
        is in ``scratch`` before anything is written to it."""
        with files.open(key) as stream:
            try:
                archive = zipfile.ZipFile(stream)
            except (zipfile.BadZipFile, OSError, EOFError):
                raise InputError(
                    "the file is not a readable XLSX workbook (its ZIP structure is damaged)"
                ) from None
            with archive:
                check_archive(archive, self.limits)
                book = locate(archive, read.sheet)
                styles = date_styles(archive.read(book.styles)) if book.styles else []
                strings_key = index_key = None
                if book.shared_strings:
                    strings_key = files.new_key("work", ".txt")
                    index_key = files.new_key("work", ".idx")
                    scratch += [strings_key, index_key]
                    with (
                        files.open(strings_key, "wb") as data,
                        files.open(index_key, "wb") as index,
                        archive.open(book.shared_strings) as source,
                    ):
                        extract_shared_strings(source, SharedStringsWriter(data, index))
                sheet_key = files.new_key("work", ".xml")
                scratch.append(sheet_key)
                with archive.open(book.sheet_part) as source, files.open(sheet_key, "wb") as out:
                    copy_sheet(source, out, self.limits.max_uncompressed_bytes)
        unpacked = Unpacked(
            book.sheet_name, book.date1904, book.sheets, sheet_key, strings_key, index_key
        )
        return unpacked, styles

    def plan(
        self, files: FileStore, prepared: Prepared, rows_per_chunk: int
    ) -> Iterator[dict[str, Any]]:
        """Chunks of ``rows_per_chunk`` rows holding a value, each naming the rows in it over
        the row limit (``long_rows``): those fail unread."""
        params = prepared.params
        row_bytes = SheetLayout.of(params, prepared.header).limits.row_bytes
        cutter = RowCutter(params["prefix"])
        start = previous = int(params["data_offset"])
        # Row numbers for rows without an ``r`` attribute: count every row element.
        first_row = next_row = int(params["header_row"]) + 1
        rows = 0
        long_rows: list[tuple[int, int, bool]] = []
        with files.open(prepared.source_key) as stream:
            for end, has_value in cutter.rows(stream, start):
                if end - previous > row_bytes:
                    long_rows.append((previous, end, has_value))
                previous = end
                rows += has_value
                next_row += 1
                if rows == rows_per_chunk:
                    yield _chunk(RowSpan(start, end, first_row, tuple(long_rows)), rows)
                    start, rows, first_row, long_rows = end, 0, next_row, []
            if rows:
                yield _chunk(RowSpan(start, previous, first_row, tuple(long_rows)), rows)

    def read(
        self, files: FileStore, source_key: str, params: dict[str, Any], spec: dict[str, Any]
    ) -> Iterator[Record]:
        layout = SheetLayout.of(params, params["header"])
        strings = (
            SharedStrings(files, layout.strings, layout.strings_index)
            if layout.strings and layout.strings_index
            else None
        )
        span = RowSpan(
            start=int(spec["start"]),
            end=int(spec["end"]),
            first_row=int(spec["first_row"]),
            long_rows=tuple((int(a), int(b), bool(v)) for a, b, v in spec.get("long_rows", ())),
        )
        with files.open(source_key) as stream:
            return iter(parse_rows(stream, span, layout, strings))


def _chunk(span: RowSpan, rows: int) -> dict[str, Any]:
    """A chunk spec (JSON) of ``rows`` rows holding a value."""
    spec: dict[str, Any] = {
        "start": span.start,
        "end": span.end,
        "rows": rows,
        "first_row": span.first_row,
    }
    if span.long_rows:
        spec["long_rows"] = [list(row) for row in span.long_rows]
    return spec


#: The XLSX format, as the registry knows it (see :mod:`jobport.formats.spec`).
FORMAT = FormatSpec(
    name="xlsx",
    suffixes=(".xlsx",),
    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    label="XLSX",
    reader=XlsxFormat(),
    writer=XLSX_WRITER,
    max_rows=XLSX_MAX_ROWS - 1,
)
