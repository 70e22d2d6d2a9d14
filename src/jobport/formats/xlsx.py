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
"""

from __future__ import annotations

import contextlib
import datetime as dt
import posixpath
import re
import zipfile
import zlib
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any
from xml.parsers import expat

from jobport.errors import InputError, LimitExceeded
from jobport.formats.base import NUL_ROW, BadRecord, Prepared, ReadOptions, Record, discard
from jobport.formats.cells import number_text, unneutralise
from jobport.formats.spec import FormatSpec
from jobport.formats.writers import XLSX_WRITER

if TYPE_CHECKING:
    from jobport.files import FileStore

ZIP_MAGIC = b"PK\x03\x04"

#: Default limits checked before a workbook is unpacked.
MAX_ENTRIES = 10_000
MAX_UNCOMPRESSED_BYTES = 4 << 30
MAX_COMPRESSION_RATIO = 100
#: Entries smaller than this are not held to the ratio (tiny parts compress very well).
RATIO_FLOOR_BYTES = 1 << 20

#: Excel's own bounds: the last cell of a sheet is XFD1048576, and a cell holds at
#: most 32,767 characters. A reference past them is damage, never a reason to allocate.
MAX_SHEET_COLUMNS = 16_384
MAX_SHEET_ROWS = 1_048_576
MAX_CELL_CHARS = 32_767

#: Excel writes a character XML cannot hold as a seven-character escape (``_x000D_``) and
#: a literal ``_x`` as ``_x005F_x``: a cell's text may take seven times its characters.
_ESCAPE_CHARS = 7
#: XML bytes a row may take for each of its header's columns: a value at the field limit
#: with every byte escaped (no escape takes more than eight bytes for one), and markup.
XML_BYTES_PER_VALUE_BYTE = 8
CELL_MARKUP_BYTES = 1024
#: A header row holds column names, never data: past this many bytes of XML it is refused.
MAX_HEADER_BYTES = 16 << 20

_BLOCK = 1 << 20
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_REL_STRICT_NS = "http://purl.oclc.org/ooxml/officeDocument/relationships"

#: Built-in number formats that show a date or a time (as calamine and Excel read them).
_DATE_FORMAT_IDS = frozenset(
    [*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59), *range(71, 82)]
)
_EPOCH_1900 = dt.datetime(1899, 12, 30)
_EPOCH_1904 = dt.datetime(1904, 1, 1)


@dataclass(frozen=True)
class ZipLimits:
    max_entries: int = MAX_ENTRIES
    max_uncompressed_bytes: int = MAX_UNCOMPRESSED_BYTES
    max_ratio: float = MAX_COMPRESSION_RATIO


def check_archive(archive: zipfile.ZipFile, limits: ZipLimits) -> None:
    """Refuse an archive over the limits, from its directory alone (nothing is unpacked)."""
    entries = archive.infolist()
    if len(entries) > limits.max_entries:
        raise LimitExceeded(
            f"the workbook holds {len(entries):,} ZIP entries, over the limit of "
            f"{limits.max_entries:,}; it is not a plain spreadsheet"
        )
    total = sum(entry.file_size for entry in entries)
    if total > limits.max_uncompressed_bytes:
        raise LimitExceeded(
            f"the workbook unpacks to {total:,} bytes, over the limit of "
            f"{limits.max_uncompressed_bytes:,}; split it or export it as CSV"
        )
    for entry in entries:
        if entry.flag_bits & 0x1:
            raise InputError("the workbook is encrypted; save it without a password")
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size > RATIO_FLOOR_BYTES and ratio > limits.max_ratio:
            raise LimitExceeded(
                f"the workbook part {entry.filename} unpacks {ratio:,.0f} times its size, over "
                f"the limit of {limits.max_ratio:,.0f}: refused as a possible ZIP bomb"
            )


@dataclass(frozen=True)
class Workbook:
    """Where the parts of the chosen sheet are inside the archive."""

    sheet_name: str
    sheet_part: str
    shared_strings: str | None
    styles: str | None
    date1904: bool


def locate(archive: zipfile.ZipFile, sheet: str | None) -> Workbook:
    names = set(archive.namelist())
    workbook_part = _office_document(archive, names)
    if workbook_part is None or workbook_part not in names:
        raise InputError(
            "the file is a ZIP archive but not an Excel workbook (it has no xl/workbook.xml)"
        )
    sheets, date1904 = _workbook_sheets(archive.read(workbook_part))
    relations = _relations(archive, workbook_part, names)
    if not sheets:
        raise InputError("the workbook has no worksheet")
    if sheet is None:
        name, rel_id = sheets[0]
    else:
        matches = [s for s in sheets if s[0] == sheet] or [
            s for s in sheets if s[0].strip().lower() == sheet.strip().lower()
        ]
        if not matches:
            listing = ", ".join(repr(s[0]) for s in sheets)
            raise InputError(f"the workbook has no sheet named {sheet!r}; its sheets are {listing}")
        name, rel_id = matches[0]
    target = relations.get(rel_id, (None, ""))[0]
    if target is None or target not in names:
        raise InputError(f"the sheet {name!r} is missing from the workbook")
    by_type = {kind: part for part, kind in relations.values()}
    shared = by_type.get("sharedStrings")
    styles = by_type.get("styles")
    return Workbook(
        sheet_name=name,
        sheet_part=target,
        shared_strings=shared if shared in names else None,
        styles=styles if styles in names else None,
        date1904=date1904,
    )


def _office_document(archive: zipfile.ZipFile, names: set[str]) -> str | None:
    if "_rels/.rels" in names:
        for target, kind in _parse_relations(archive.read("_rels/.rels"), "").values():
            if kind == "officeDocument":
                return target
    return "xl/workbook.xml" if "xl/workbook.xml" in names else None


def _relations(archive: zipfile.ZipFile, part: str, names: set[str]) -> dict[str, tuple[str, str]]:
    folder, base = posixpath.split(part)
    rels = posixpath.join(folder, "_rels", base + ".rels")
    if rels not in names:
        return {}
    return _parse_relations(archive.read(rels), folder)


def _parse_relations(data: bytes, folder: str) -> dict[str, tuple[str, str]]:
    """Relationship id -> (part path in the archive, short type such as "worksheet")."""
    found: dict[str, tuple[str, str]] = {}

    def start(name: str, attrs: dict[str, str]) -> None:
        if _local(name) == "Relationship" and attrs.get("TargetMode") != "External":
            target = attrs.get("Target", "")
            path = (
                target.lstrip("/")
                if target.startswith("/")
                else posixpath.normpath(posixpath.join(folder, target))
            )
            found[attrs.get("Id", "")] = (path, attrs.get("Type", "").rsplit("/", 1)[-1])

    _parse(data, start)
    return found


def _workbook_sheets(data: bytes) -> tuple[list[tuple[str, str]], bool]:
    sheets: list[tuple[str, str]] = []
    date1904 = [False]

    def start(name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        if local == "sheet":
            rel_id = next(
                (v for k, v in attrs.items() if k.endswith(":id") or k in ("r:id", "id")), ""
            )
            sheets.append((attrs.get("name", ""), rel_id))
        elif local == "workbookPr":
            date1904[0] = attrs.get("date1904", "0").lower() in ("1", "true")

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = lambda n, a: start(
        n.rsplit(" ", 1)[-1], {_attr_name(k): v for k, v in a.items()}
    )
    _feed(parser, data)
    return sheets, date1904[0]


def _attr_name(name: str) -> str:
    uri, _, local = name.rpartition(" ")
    if uri in (_REL_NS, _REL_STRICT_NS):
        return "r:" + local
    return local


def date_styles(data: bytes) -> list[int]:
    """Indices of the cell styles (``s`` attributes) whose number format shows a date."""
    custom: dict[int, str] = {}
    xf_formats: list[int] = []
    depth = {"cellXfs": False}

    def start(name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        if local == "numFmt":
            with contextlib.suppress(ValueError):
                custom[int(attrs.get("numFmtId", "-1"))] = attrs.get("formatCode", "")
        elif local == "cellXfs":
            depth["cellXfs"] = True
        elif local == "xf" and depth["cellXfs"]:
            try:
                xf_formats.append(int(attrs.get("numFmtId", "0")))
            except ValueError:
                xf_formats.append(0)

    def end(name: str) -> None:
        if _local(name) == "cellXfs":
            depth["cellXfs"] = False

    _parse(data, start, end)
    dates = []
    for index, format_id in enumerate(xf_formats):
        code = custom.get(format_id)
        if (code is None and format_id in _DATE_FORMAT_IDS) or (
            code is not None and is_date_format(code)
        ):
            dates.append(index)
    return dates


_QUOTED = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]|_.|\*.')


def is_date_format(code: str) -> bool:
    """Whether a number format code shows a date or time (d, m, y, h, s outside literals)."""
    section = code.split(";", 1)[0]
    if re.search(r"\[h+\]|\[m+\]|\[s+\]", section, re.IGNORECASE):
        return True
    bare = _QUOTED.sub("", section).lower()
    if "general" in bare:
        return False
    return any(c in bare for c in "dmyhse") and not re.fullmatch(r"[#0.,%e+\- ]*", bare)


def _local(name: str) -> str:
    return name.rsplit(":", 1)[-1].rsplit(" ", 1)[-1]


def _parse(data: bytes, start: Any, end: Any = None) -> None:
    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    if end is not None:
        parser.EndElementHandler = end
    _feed(parser, data)


def _feed(parser: Any, data: bytes) -> None:
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise InputError(f"the workbook is damaged (malformed XML: {exc})") from None


# -- cell text --------------------------------------------------------------------------------


_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def unescape_text(text: str) -> str:
    """Cell text with Excel's ``_xHHHH_`` escapes decoded, as Excel and calamine read it.

    Excel writes a character XML cannot hold this way (``_x000D_`` for a carriage
    return) and escapes an underscore that would start one (``_x005F_``). A
    surrogate (``_xD83D_``) is no character: it stays as written, as calamine leaves it.
    """
    if "_x" not in text:
        return text
    return _ESCAPE.sub(_escaped_character, text)


def _escaped_character(match: re.Match[str]) -> str:
    code = int(match.group(1), 16)
    return match.group(0) if 0xD800 <= code <= 0xDFFF else chr(code)


@dataclass(frozen=True)
class CellLimits:
    """How large a cell's value, and a row's XML, may be in a sheet read under one header.

    A value over the field limit fails its row as a CSV field does; one over Excel's
    32,767 characters cannot be a cell's. A row's XML may hold each of the header's
    columns at the field limit, escaped: a longer row fails unread (and a header row
    over ``MAX_HEADER_BYTES`` refuses the file), so no row costs more memory than that.
    """

    #: The field limit in bytes (the type's limits or JOBPORT_MAX_FIELD_BYTES), if any.
    field_bytes: int | None
    #: A value of at most this many characters is within every limit: it needs no closer look.
    plain_chars: int
    #: The header's width (0 while reading the header itself) and the most XML a row takes.
    width: int
    row_bytes: int

    @classmethod
    def of(cls, width: int, field_bytes: int | None) -> CellLimits:
        plain = min(MAX_CELL_CHARS, field_bytes // 4) if field_bytes else MAX_CELL_CHARS
        if not width:
            return cls(field_bytes, plain, 0, MAX_HEADER_BYTES)
        value_bytes = field_bytes or MAX_CELL_CHARS * 4
        row_bytes = width * (XML_BYTES_PER_VALUE_BYTE * value_bytes + CELL_MARKUP_BYTES)
        return cls(field_bytes, plain, width, row_bytes)

    def problem(self, text: str, name: str) -> str | None:
        """Why ``text`` (escapes decoded) cannot be the value of the cell ``name``, if it cannot."""
        if len(text) > MAX_CELL_CHARS:
            return (
                f"{name}: the cell holds {len(text):,} characters, more than the "
                f"{MAX_CELL_CHARS:,} a cell can hold"
            )
        if self.field_bytes and len(text.encode("utf-8", "surrogatepass")) > self.field_bytes:
            return (
                f"{name}: the field is over the limit of {self.field_bytes:,} bytes "
                "(raise it with the type's limits or JOBPORT_MAX_FIELD_BYTES)"
            )
        return None

    def row_problem(self) -> str:
        return (
            f"the row is over the limit of {self.row_bytes:,} bytes of XML for "
            f"{self.width:,} columns (raise it with the type's limits or JOBPORT_MAX_FIELD_BYTES)"
        )


# -- shared strings ---------------------------------------------------------------------------


class SharedStringsWriter:
    """Writes shared strings as UTF-8 text, and where each one starts to an index file.

    The offsets go out in batches rather than staying in memory: a part of a
    hundred million tiny strings (a few MB zipped) would otherwise hold 800 MB.
    """

    _BATCH = 65_536

    def __init__(self, data: IO[bytes], index: IO[bytes]) -> None:
        self._data = data
        self._index = index
        self._pending = array("Q", [0])
        self._position = 0
        self.count = 0

    def add(self, text: str) -> None:
        encoded = text.encode("utf-8")
        self._data.write(encoded)
        self._position += len(encoded)
        self._pending.append(self._position)
        self.count += 1
        if len(self._pending) >= self._BATCH:
            self.flush()

    def flush(self) -> None:
        self._index.write(self._pending.tobytes())
        del self._pending[:]


def extract_shared_strings(stream: IO[bytes], writer: SharedStringsWriter) -> None:
    """Stream ``sharedStrings.xml`` into ``writer``: one text per ``<si>``, runs joined,
    phonetic hints (``<rPh>``) left out, Excel's ``_xHHHH_`` escapes decoded.

    A string longer than a cell can hold (Excel's 32,767 characters, decoded) is
    refused; as it grows past seven times that (every character escaped) already,
    so none is held whole.
    """
    parts: list[str] = []
    state = {"in_t": False, "skip": 0, "in_si": False, "length": 0}

    def start(name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        if local == "t":
            state["in_t"] = True
        elif local == "si":
            state["in_si"] = True
            state["length"] = 0
            parts.clear()
        elif local in ("rPh", "phoneticPr"):
            state["skip"] += 1

    def end(name: str) -> None:
        local = _local(name)
        if local == "t":
            state["in_t"] = False
        elif local == "si":
            state["in_si"] = False
            text = unescape_text("".join(parts))
            if len(text) > MAX_CELL_CHARS:
                _refuse_shared_string(writer.count)
            writer.add(text)
        elif local in ("rPh", "phoneticPr"):
            state["skip"] -= 1

    def text(data: str) -> None:
        if state["in_t"] and not state["skip"]:
            state["length"] += len(data)
            if state["length"] > _ESCAPE_CHARS * MAX_CELL_CHARS:
                _refuse_shared_string(writer.count)
            parts.append(data)

    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.ParseFile(stream)
    except expat.ExpatError as exc:
        raise InputError(
            f"the workbook's shared strings are damaged (malformed XML: {exc})"
        ) from None
    writer.flush()


def _refuse_shared_string(number: int) -> None:
    raise InputError(
        f"the workbook's shared string {number:,} holds more than {MAX_CELL_CHARS:,} "
        "characters, more than a cell can hold: the workbook is damaged"
    )


class SharedStrings:
    """Looks up the shared strings a chunk needs, reading only their bytes and offsets.

    Offsets are read in windows of ``_WINDOW``: memory stays flat however many
    strings the workbook holds.
    """

    _WINDOW = 65_536

    def __init__(self, files: FileStore, data_key: str, index_key: str) -> None:
        self._files = files
        self._data_key = data_key
        self._index_key = index_key
        self.count = max(files.size(index_key) // 8 - 1, 0)

    def lookup(self, indices: set[int]) -> dict[int, str]:
        """The strings at these indices; an index out of range is left out."""
        wanted = sorted(i for i in indices if 0 <= i < self.count)
        found: dict[int, str] = {}
        if not wanted:
            return found
        with self._files.open(self._index_key) as index:
            spans = self._spans(index, wanted)
        with self._files.open(self._data_key) as stream:
            group_start = 0
            while group_start < len(spans):
                # Read runs of strings that sit close together in one go.
                group_end = group_start
                while (
                    group_end + 1 < len(spans)
                    and spans[group_end + 1][1] - spans[group_end][2] < 65536
                ):
                    group_end += 1
                low = spans[group_start][1]
                stream.seek(low)
                block = stream.read(spans[group_end][2] - low)
                for number, a, b in spans[group_start : group_end + 1]:
                    found[number] = block[a - low : b - low].decode("utf-8")
                group_start = group_end + 1
        return found

    def _spans(self, index: IO[bytes], wanted: list[int]) -> list[tuple[int, int, int]]:
        """(string number, start, end) of each wanted string, ``wanted`` sorted."""
        spans = []
        window = array("Q")
        first = 0
        for number in wanted:
            if not first <= number < first + len(window) - 1:
                first = number
                index.seek(number * 8)
                window = array("Q")
                window.frombytes(index.read(min(self._WINDOW, self.count + 1 - number) * 8))
            spans.append((number, window[number - first], window[number - first + 1]))
        return spans


# -- the worksheet ----------------------------------------------------------------------------


_SHEET_DATA = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?sheetData\b[^>]*?(/?)>")


def copy_sheet(source: IO[bytes], target: IO[bytes], limit: int) -> int:
    """Copy the worksheet XML; refuses to unpack more than ``limit`` bytes."""
    size = 0
    while block := source.read(_BLOCK):
        size += len(block)
        if size > limit:
            raise LimitExceeded(f"the worksheet unpacks to more than {limit:,} bytes")
        target.write(block)
    return size


def find_sheet_data(stream: IO[bytes]) -> tuple[int, str, bool]:
    """Byte offset just after the ``<sheetData>`` start tag, the tag's prefix, and
    whether the sheet is empty (``<sheetData/>``)."""
    stream.seek(0)
    window = b""
    consumed = 0
    while block := stream.read(_BLOCK):
        window += block
        match = _SHEET_DATA.search(window)
        if match:
            prefix = (match.group(1) or b"").decode("ascii")
            return consumed + match.end(), prefix, match.group(2) == b"/"
        keep = min(len(window), 512)
        consumed += len(window) - keep
        window = window[-keep:]
    return 0, "", True


class RowCutter:
    """Finds where rows end in the worksheet XML, and whether each holds a value.

    The XML is read a block at a time and no row is ever held: of a row running
    past its block only the last few bytes are carried over (a tag cut in two),
    with whether the bytes before them held a value. A row as long as the sheet
    costs a block of memory and one pass.
    """

    def __init__(self, prefix: str) -> None:
        p = (prefix + ":") if prefix else ""
        self.row_end = f"</{p}row>".encode()
        self.data_end = f"</{p}sheetData>".encode()
        # A value or text element, whatever follows its name (">", "/>", attributes):
        # the reader emits a row exactly when one of these starts in it.
        self.value_mark = re.compile(b"<" + re.escape(p.encode()) + rb"[vt][\s/>]")
        self.carried = len(self.data_end)

    def rows(self, stream: IO[bytes], start: int) -> Iterator[tuple[int, bool]]:
        """(offset just past ``</row>``, whether the row holds a value) for each row."""
        stream.seek(start)
        row_end, data_end, value_mark = self.row_end, self.data_end, self.value_mark
        buffer = b""
        base = start  # where buffer[0] lies in the sheet
        valued = False  # the unfinished row held a value in bytes no longer in ``buffer``
        while True:
            block = stream.read(_BLOCK)
            buffer += block
            stop = buffer.find(data_end)
            position = 0
            while True:
                found = buffer.find(row_end, position)
                if found < 0 or (0 <= stop < found):
                    break
                end = found + len(row_end)
                yield base + end, valued or value_mark.search(buffer, position, end) is not None
                valued = False
                position = end
            if stop >= 0 or not block:
                return
            kept = max(position, len(buffer) - self.carried)
            if kept > position:
                valued = valued or value_mark.search(buffer, position) is not None
            buffer = buffer[kept:]
            base += kept


@dataclass(frozen=True)
class SheetLayout:
    """What reading rows needs to know of the sheet: found while preparing, kept in params."""

    prefix: str
    #: The header's names; empty while reading the header row itself.
    header: tuple[str, ...]
    date_styles: frozenset[int]
    date1904: bool
    strings: str | None
    strings_index: str | None
    field_bytes: int | None = None

    @classmethod
    def of(cls, params: dict[str, Any], header: Sequence[str]) -> SheetLayout:
        return cls(
            prefix=params["prefix"],
            header=tuple(header),
            date_styles=frozenset(params["date_styles"]),
            date1904=bool(params["date1904"]),
            strings=params["strings"],
            strings_index=params["strings_index"],
            field_bytes=params.get("max_field_bytes"),
        )

    @property
    def limits(self) -> CellLimits:
        return CellLimits.of(len(self.header), self.field_bytes)


@dataclass(frozen=True)
class RowSpan:
    """Where a chunk's rows lie in the sheet XML, and which of them are too long to read."""

    start: int
    end: int
    #: The number of the first row, for rows without an ``r``.
    first_row: int
    #: (start, end, holds a value) of each row over the row limit: it fails unread.
    long_rows: tuple[tuple[int, int, bool], ...] = ()


def parse_rows(
    stream: IO[bytes], span: RowSpan, layout: SheetLayout, strings: SharedStrings | None
) -> list[Record]:
    """(row number, cell texts) of each row of ``span`` (whole ``<row>`` elements) holding
    a value. Cells past the header are left out; rows are padded to it.

    The bytes are parsed a block at a time (expat, in C) and a long row is never
    parsed at all: its row fails. A row whose ``r``, a cell reference, a shared
    string index or a value is not one a sheet can hold becomes a ``BadRecord``
    saying so: the damage is the row's alone. No row is ever longer than the
    header, or than the last column of a sheet when reading the header.
    """
    rows: list[Record] = []
    #: (position in ``rows``, column, shared string number, cell reference) of each shared cell.
    shared_refs: list[tuple[int, int, int, str | None]] = []
    limits = layout.limits
    parser, finish, skip_row = _row_parser(layout, limits, rows, shared_refs, span.first_row)
    try:
        parser.Parse(b"<jobport-rows>", False)
        position = span.start
        for start, end, valued in (*span.long_rows, (span.end, span.end, False)):
            _feed_range(parser, stream, position, start)
            if end > start:
                skip_row(_row_attribute(stream, start, layout.prefix), valued)
            position = end
        parser.Parse(b"</jobport-rows>", True)
        finish()
    except expat.ExpatError as exc:
        raise InputError(f"the worksheet is damaged (malformed XML: {exc})") from None
    if shared_refs:
        _fill_shared(rows, shared_refs, strings, layout.header, limits)
    return rows


def _feed_range(parser: Any, stream: IO[bytes], start: int, end: int) -> None:
    """Parse the sheet's bytes from ``start`` to ``end``, a block at a time."""
    stream.seek(start)
    remaining = end - start
    while remaining > 0:
        block = stream.read(min(_BLOCK, remaining))
        if not block:
            return
        remaining -= len(block)
        parser.Parse(block, False)


def _row_parser(
    layout: SheetLayout,
    limits: CellLimits,
    rows: list[Record],
    shared_refs: list[tuple[int, int, int, str | None]],
    first_row: int,
) -> tuple[Any, Callable[[], None], Callable[[str | None, bool], None]]:
    """An expat parser appending each row it reads to ``rows``; how to close the last row
    once the bytes end; and how to count in a row that is not parsed (a long one).

    Only start tags call into Python. Character data and end tags go straight into
    one list (C calls, where an end tag is its name), so a ``<v>`` or ``<t>``'s text
    is whatever the parser handed over before its end tag, in as many pieces as it
    likes (long text, entities, CDATA): ``_text_before_end`` finds it. A cell is
    stored when the next cell or row starts, a row when the next row starts.
    """
    p = (layout.prefix + ":") if layout.prefix else ""
    row_tag, cell_tag, value_tag, text_tag, inline_tag, phonetic_tag = (
        p + "row",
        p + "c",
        p + "v",
        p + "t",
        p + "is",
        p + "rPh",
    )
    header = layout.header
    width = len(header) or MAX_SHEET_COLUMNS
    plain = limits.plain_chars
    dates = layout.date_styles
    epoch = _EPOCH_1904 if layout.date1904 else _EPOCH_1900
    columns, column_of = _column_cache()
    digits = "0123456789"
    texts: list[str] = []  # character data and end tag names since the cell's text began
    runs: list[str] = []  # an inline string's runs before its last
    row: list[Any] | None = None
    number = first_row - 1
    col = -1
    ref: str | None = None
    kind: str | None = None
    style: str | None = None
    in_text = False  # a <v> or <t> of the cell has begun
    skip = False  # a phonetic hint (<rPh>) has begun: none of the rest is the cell's text
    filled = False
    problem: str | None = None

    def close_cell() -> None:
        nonlocal in_text, problem
        in_text = False
        # The common shapes, in one piece: <v>x</v></c> and <is><t>x</t></is></c>.
        count = len(texts)
        common = (count == 3 and texts[1] == value_tag) or (count == 4 and texts[1] == text_tag)
        if common and not (runs or skip):
            raw = texts[0]
        else:
            raw = _cell_text(texts, runs, skip, value_tag, text_tag)
        texts.clear()
        if not raw or col >= width or col < 0:
            return
        if len(raw) > plain or ("_x" in raw and (kind == "inlineStr" or kind == "str")):
            raw, trouble = _unusual_text(raw, kind, limits, _cell_name(header, col, ref))
            if trouble is not None:
                problem = problem or trouble
                return
        value: Any
        if kind == "s":
            try:
                index = int(raw)
            except ValueError:
                problem = problem or f"the cell {ref or ''} names shared string {raw[:20]!r}"
                return
            value = None
            shared_refs.append((len(rows), col, index, ref))
        elif kind is None or kind == "n":
            if style is not None and dates and style.isdecimal() and int(style) in dates:
                value = _date_text(raw, epoch)
            elif raw.isdigit():
                value = raw
            else:
                value = _number_text(raw)
        elif kind == "inlineStr":
            value = unneutralise(raw) if raw[:1] == "'" else raw
        elif kind == "b":
            value = "true" if raw.strip() in ("1", "true") else "false"
        else:  # str (a formula's text), e (an error such as #N/A), d (ISO date)
            value = raw
        assert row is not None
        if len(row) <= col:  # the header's row grows; a data row has its width from the start
            row.extend([None] * (col + 1 - len(row)))
        row[col] = value

    def close_row() -> None:
        nonlocal row
        if in_text:
            close_cell()
        texts.clear()
        assert row is not None
        if problem is not None:
            if filled:  # planning counted only rows holding a value
                rows.append((number, BadRecord(problem)))
        elif filled if header else row:
            # A data row whose values all lie past the header still counts (planning did).
            rows.append((number, row))
        row = None

    def start(name: str, attrs: list[str]) -> None:
        nonlocal col, ref, kind, style, in_text, skip, number, row, filled, problem
        if name == cell_tag:
            if in_text:
                close_cell()
            skip = False
            # Attributes come as [name, value, ...]: no dict is built for each element.
            # Writers put r first, then s, then t; any other order takes the long way.
            count = len(attrs)
            if count == 4 and attrs[0] == "r" and attrs[2] == "t":
                ref, kind, style = attrs[1], attrs[3], None
            elif count == 2 and attrs[0] == "r":
                ref, kind, style = attrs[1], None, None
            elif count == 6 and attrs[0] == "r" and attrs[2] == "s" and attrs[4] == "t":
                ref, kind, style = attrs[1], attrs[5], attrs[3]
            elif count == 4 and attrs[0] == "r" and attrs[2] == "s":
                ref, kind, style = attrs[1], None, attrs[3]
            else:
                ref, kind, style = _cell_attributes(attrs)
            if ref is None:
                col += 1
            else:
                letters = ref.rstrip(digits)
                col = columns.get(letters)
                if col is None:
                    col = column_of(letters)
                if col < 0 or not 0 < len(ref) - len(letters) <= 7:
                    problem = problem or _bad_reference(ref)
        elif name == value_tag or name == text_tag:  # noqa: SIM109 (faster than a tuple)
            filled = True
            if in_text and not skip:  # the next run of a rich inline string
                runs.append(_text_before_end(texts, value_tag, text_tag))
            in_text = True
            if texts:
                texts.clear()
        elif name == inline_tag:
            return
        elif name == row_tag:
            if row is not None:
                close_row()
            row = [None] * width if header else []
            col, filled, in_text, skip = -1, False, False, False
            r = attrs[1] if attrs and attrs[0] == "r" else _attribute(attrs, "r")
            number, problem = _row_number(r, number + 1)
        elif name == phonetic_tag:
            if in_text and not skip:
                runs.append(_text_before_end(texts, value_tag, text_tag))
                texts.clear()
            skip = True

    def finish() -> None:
        if row is not None:
            close_row()

    def skip_row(r: str | None, valued: bool) -> None:
        nonlocal number
        finish()
        number, _ = _row_number(r, number + 1)
        if valued:
            rows.append((number, BadRecord(limits.row_problem())))

    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.ordered_attributes = True
    parser.StartElementHandler = start
    parser.CharacterDataHandler = texts.append
    parser.EndElementHandler = texts.append
    return parser, finish, skip_row


def _attribute(attrs: list[str], name: str) -> str | None:
    """The value of the attribute ``name`` in ``attrs`` ([name, value, ...]), if there."""
    for index in range(0, len(attrs) - 1, 2):
        if attrs[index] == name:
            return attrs[index + 1]
    return None


def _cell_attributes(attrs: list[str]) -> tuple[str | None, str | None, str | None]:
    """A cell's ``r``, ``t`` and ``s``, whatever the order of its attributes."""
    return _attribute(attrs, "r"), _attribute(attrs, "t"), _attribute(attrs, "s")


def _cell_text(texts: list[str], runs: list[str], skip: bool, value_tag: str, text_tag: str) -> str:
    """A cell's text in any shape: its runs, and the text before its last end tag (unless
    that was a phonetic hint's)."""
    if not skip:
        runs.append(_text_before_end(texts, value_tag, text_tag))
    text = "".join(runs)
    runs.clear()
    return text


def _text_before_end(texts: list[str], value_tag: str, text_tag: str) -> str:
    """The text ``texts`` holds before its last ``</v>`` or ``</t>`` (end tags are there as
    their names): searched from the end, so a piece of text reading "v" is still text."""
    index = len(texts) - 1
    while index >= 0 and texts[index] != value_tag and texts[index] != text_tag:
        index -= 1
    if index == 1:
        return texts[0]
    return "".join(texts[:index]) if index > 0 else ""


def _unusual_text(
    raw: str, kind: str | None, limits: CellLimits, name: str
) -> tuple[str, str | None]:
    """A long text or one holding ``_x``: its escapes decoded (a text cell's), and what is
    wrong with it (a NUL, a size over the limits), if anything."""
    if kind == "inlineStr" or kind == "str":
        raw = unescape_text(raw)
        if "\x00" in raw:
            return raw, NUL_ROW
    if len(raw) > limits.plain_chars:
        return raw, limits.problem(raw, name)
    return raw, None


def _cell_name(header: tuple[str, ...], col: int, ref: str | None) -> str:
    """How a message names a cell: its column's name, else its reference."""
    if col < len(header) and header[col]:
        return header[col]
    return ref or f"#{col + 1}"


#: Bytes read from the start of a long row to find its number: its start tag and more.
_ROW_HEAD = 4096
_R_ATTRIBUTE = re.compile(rb"""(?:^|\s)r\s*=\s*(["'])([^"'<>]*)\1""")


def _row_attribute(stream: IO[bytes], start: int, prefix: str) -> str | None:
    """The ``r`` of the row starting at ``start``, read from the row's start tag alone."""
    stream.seek(start)
    head = stream.read(_ROW_HEAD)
    tag = re.search(
        b"<" + re.escape(f"{prefix}:row".encode() if prefix else b"row") + rb"\b([^<>]*)>", head
    )
    found = _R_ATTRIBUTE.search(tag.group(1)) if tag else None
    return found.group(2).decode("ascii", "replace") if found else None


def _row_number(r: str | None, counted: int) -> tuple[int, str | None]:
    """A row's number from its ``r`` (or counted when it has none), and what is wrong with it."""
    if r is None:
        return counted, None
    if r.isascii() and r.isdigit() and len(r) <= 7 and 1 <= int(r) <= MAX_SHEET_ROWS:
        return int(r), None
    return counted, (
        f"the row number {r[:20]!r} is not a row of a sheet (1 to {MAX_SHEET_ROWS:,}); "
        "the workbook is damaged"
    )


def _bad_reference(ref: str) -> str:
    return (
        f"the cell reference {ref[:20]!r} is not a cell of a sheet (A1 to XFD{MAX_SHEET_ROWS}); "
        "the workbook is damaged"
    )


def _fill_shared(
    rows: list[Record],
    shared_refs: list[tuple[int, int, int, str | None]],
    strings: SharedStrings | None,
    header: tuple[str, ...],
    limits: CellLimits,
) -> None:
    """Put the shared strings in their cells; a row naming one the workbook lacks, or one
    over the limits (or holding a NUL), is refused.

    Each string is checked once, however many cells name it: those that fail move
    from ``found`` to ``unfit``, so a cell of a fit string costs one look-up.
    """
    found = strings.lookup({index for _, _, index, _ in shared_refs}) if strings else {}
    unfit = {
        index: text
        for index, text in found.items()
        if len(text) > limits.plain_chars or "\x00" in text
    }
    for index in unfit:
        del found[index]
    count = strings.count if strings else 0
    for position, column, index, ref in shared_refs:
        number, values = rows[position]
        if type(values) is not list:
            continue
        text = found.get(index)
        if text is None:
            name = _cell_name(header, column, ref)
            trouble = _shared_trouble(unfit.get(index), index, ref, count, limits, name)
            if trouble is not None:
                rows[position] = (number, BadRecord(trouble))
                continue
            text = unfit[index]  # long, but within the limits
        values[column] = unneutralise(text) if text[:1] == "'" else text


def _shared_trouble(
    text: str | None, index: int, ref: str | None, count: int, limits: CellLimits, name: str
) -> str | None:
    """Why a cell naming shared string ``index`` (``text``, None where the workbook holds
    no such string) fails its row, if it does."""
    if text is None:
        return (
            f"the cell {ref or ''} names shared string {index:,}, but the workbook "
            f"holds {count:,}; the workbook is damaged"
        )
    if "\x00" in text:
        return NUL_ROW
    return limits.problem(text, name)


def _date_text(raw: str, epoch: dt.datetime) -> str:
    try:
        return serial_to_text(float(raw), epoch)
    except (ValueError, OverflowError):
        return raw.strip()


def _number_text(raw: str) -> str:
    raw = raw.strip()
    if raw[:1] == "-" and raw[1:].isdigit():
        return raw
    try:
        return number_text(float(raw))
    except ValueError:
        return raw


def serial_to_text(serial: float, epoch: dt.datetime = _EPOCH_1900) -> str:
    """An Excel date serial as ISO 8601: a date, a time, or a date and time."""
    milliseconds = round(serial * 86_400_000)
    days, rest = divmod(milliseconds, 86_400_000)
    if epoch == _EPOCH_1900 and 0 < serial < 60:
        days += 1  # Excel counts a 29 February 1900 that never was
    moment = epoch + dt.timedelta(days=days, milliseconds=rest)
    if rest == 0 and serial >= 1:
        return moment.date().isoformat()
    if serial < 1:
        return moment.time().isoformat(timespec="milliseconds" if rest % 1000 else "seconds")
    return moment.isoformat(timespec="milliseconds" if rest % 1000 else "seconds")


def _column_cache() -> Any:
    """Column index (0 for A) of a reference's letters, -1 for letters no sheet has; and
    its cache, which a caller may look in first (a call saved on each cell)."""
    cache: dict[str, int] = {}

    def column_of(letters: str) -> int:
        index = cache.get(letters)
        if index is None:
            bare = letters.replace("$", "")
            if not (0 < len(bare) <= 3 and bare.isascii() and bare.isalpha()):
                return -1
            index = -1
            for char in bare.upper():
                index = (index + 1) * 26 + (ord(char) - 65)
            if index >= MAX_SHEET_COLUMNS:
                return -1
            cache[letters] = index
        return index

    return cache, column_of


@dataclass(frozen=True)
class Unpacked:
    """What preparing took out of the archive, beside the sheet itself."""

    sheet_name: str
    date1904: bool
    sheet_key: str
    strings_key: str | None
    index_key: str | None


def _header_row(
    files: FileStore,
    book: Unpacked,
    data_start: int,
    layout: SheetLayout,
    strings: SharedStrings | None,
) -> tuple[int, list[Any], int]:
    """(row number, cells, offset past it) of the first row holding a value: the header.

    The header is the file's own: a header row the sheet cannot hold, or one over
    ``MAX_HEADER_BYTES`` of XML, refuses the file.
    """
    position = data_start
    with files.open(book.sheet_key) as stream, files.open(book.sheet_key) as rows_stream:
        for end, has_value in RowCutter(layout.prefix).rows(rows_stream, data_start):
            if has_value:
                if end - position > MAX_HEADER_BYTES:
                    raise InputError(
                        f"the header row is over the limit of {MAX_HEADER_BYTES:,} bytes of "
                        "XML; a row of column names never takes that much"
                    )
                parsed = parse_rows(stream, RowSpan(position, end, 1), layout, strings)
                if parsed:
                    number, cells = parsed[0]
                    if type(cells) is not list:
                        raise InputError(f"the header row {number} cannot be read: {cells}")
                    return number, cells, end
            position = end
    raise InputError(f"the sheet {book.sheet_name!r} is empty: expected a header row")


# -- the format -------------------------------------------------------------------------------


#: What a damaged or unsupported archive raises while its entries are read.
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError)


class XlsxFormat:
    """Excel workbooks (``.xlsx``): the first sheet, or the one named by ``ReadOptions.sheet``."""

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
        number, cells, header_end = _header_row(files, book, data_start, layout, strings)
        header = [("" if cell is None else str(cell)).strip() for cell in cells]
        while header and not header[-1]:
            header.pop()
        return Prepared(
            source_key=book.sheet_key,
            header=header,
            params={
                "sheet": book.sheet_name,
                "prefix": prefix,
                "data_offset": header_end,
                "header_row": number,
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
        unpacked = Unpacked(book.sheet_name, book.date1904, sheet_key, strings_key, index_key)
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
)
