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
as ``true``/``false``, errors as their text (``#N/A``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import posixpath
import re
import zipfile
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any
from xml.parsers import expat

from jobport.errors import InputError, LimitExceeded
from jobport.formats.base import Prepared, ReadOptions, Record
from jobport.formats.cells import number_text

if TYPE_CHECKING:
    from jobport.files import FileStore

ZIP_MAGIC = b"PK\x03\x04"

#: Default limits checked before a workbook is unpacked.
MAX_ENTRIES = 10_000
MAX_UNCOMPRESSED_BYTES = 4 << 30
MAX_COMPRESSION_RATIO = 100
#: Entries smaller than this are not held to the ratio (tiny parts compress very well).
RATIO_FLOOR_BYTES = 1 << 20

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


# -- shared strings ---------------------------------------------------------------------------


class SharedStringsWriter:
    """Writes shared strings as UTF-8 text and an index of where each one starts."""

    def __init__(self, data: IO[bytes]) -> None:
        self._data = data
        self.offsets = array("Q", [0])
        self._position = 0

    def add(self, text: str) -> None:
        encoded = text.encode("utf-8")
        self._data.write(encoded)
        self._position += len(encoded)
        self.offsets.append(self._position)

    def index_bytes(self) -> bytes:
        return self.offsets.tobytes()


def extract_shared_strings(stream: IO[bytes], writer: SharedStringsWriter) -> None:
    """Stream ``sharedStrings.xml`` into ``writer``: one text per ``<si>``, runs joined,
    phonetic hints (``<rPh>``) left out."""
    parts: list[str] = []
    state = {"in_t": False, "skip": 0, "in_si": False}

    def start(name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        if local == "t":
            state["in_t"] = True
        elif local == "si":
            state["in_si"] = True
            parts.clear()
        elif local in ("rPh", "phoneticPr"):
            state["skip"] += 1

    def end(name: str) -> None:
        local = _local(name)
        if local == "t":
            state["in_t"] = False
        elif local == "si":
            state["in_si"] = False
            writer.add("".join(parts))
        elif local in ("rPh", "phoneticPr"):
            state["skip"] -= 1

    def text(data: str) -> None:
        if state["in_t"] and not state["skip"]:
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


class SharedStrings:
    """Looks up the shared strings a chunk needs, reading only their bytes."""

    def __init__(self, files: FileStore, data_key: str, index_key: str) -> None:
        self._files = files
        self._data_key = data_key
        with files.open(index_key) as stream:
            self._offsets = array("Q")
            self._offsets.frombytes(stream.read())
        self.count = len(self._offsets) - 1

    def lookup(self, indices: set[int]) -> dict[int, str]:
        """The strings at these indices; an index out of range is left out."""
        wanted = sorted(i for i in indices if 0 <= i < self.count)
        found: dict[int, str] = {}
        if not wanted:
            return found
        offsets = self._offsets
        with self._files.open(self._data_key) as stream:
            group_start = 0
            while group_start < len(wanted):
                # Read runs of strings that sit close together in one go.
                group_end = group_start
                while (
                    group_end + 1 < len(wanted)
                    and offsets[wanted[group_end + 1]] - offsets[wanted[group_end] + 1] < 65536
                ):
                    group_end += 1
                low = offsets[wanted[group_start]]
                high = offsets[wanted[group_end] + 1]
                stream.seek(low)
                block = stream.read(high - low)
                for index in wanted[group_start : group_end + 1]:
                    a, b = offsets[index] - low, offsets[index + 1] - low
                    found[index] = block[a:b].decode("utf-8")
                group_start = group_end + 1
        return found


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
    """Finds where rows end in the worksheet XML, and whether each holds a value."""

    def __init__(self, prefix: str) -> None:
        p = (prefix + ":") if prefix else ""
        self.row_end = f"</{p}row>".encode()
        self.data_end = f"</{p}sheetData>".encode()
        self.value_marks = (f"<{p}v>".encode(), f"<{p}t>".encode(), f"<{p}t ".encode())

    def rows(self, stream: IO[bytes], start: int) -> Iterator[tuple[int, bool]]:
        """(offset just past ``</row>``, whether the row holds a value) for each row."""
        stream.seek(start)
        row_end, data_end, marks = self.row_end, self.data_end, self.value_marks
        buffer = b""
        base = start
        while True:
            block = stream.read(_BLOCK)
            if block:
                buffer += block
            stop = buffer.find(data_end)
            position = 0
            while True:
                found = buffer.find(row_end, position)
                if found < 0 or (0 <= stop < found):
                    break
                end = found + len(row_end)
                row = buffer[position:end]
                yield base + end, any(mark in row for mark in marks)
                position = end
            if stop >= 0 or not block:
                return
            buffer = buffer[position:]
            base += position


@dataclass(frozen=True)
class SheetLayout:
    prefix: str
    width: int
    date_styles: frozenset[int]
    date1904: bool
    strings: str | None
    strings_index: str | None


def parse_rows(
    data: bytes, layout: SheetLayout, strings: SharedStrings | None, first_row: int
) -> list[tuple[int, list[Any]]]:
    """(row number, cell texts) of each row in ``data`` (whole ``<row>`` elements) holding
    a value. Cells past ``layout.width`` (when set) are left out; rows are padded to it.

    Only start tags and text are handled (no end-tag callbacks): a cell is
    complete when the next one starts, which halves the calls into Python.
    """
    p = (layout.prefix + ":") if layout.prefix else ""
    row_tag, cell_tag, value_tag, text_tag, phonetic_tag = (
        p + "row",
        p + "c",
        p + "v",
        p + "t",
        p + "rPh",
    )
    rows: list[tuple[int, list[Any]]] = []
    shared_refs: list[tuple[list[Any], int, int]] = []
    width = layout.width or 1 << 30
    dates = layout.date_styles
    epoch = _EPOCH_1904 if layout.date1904 else _EPOCH_1900
    column_of = _column_cache()
    digits = "0123456789"
    texts: list[str] = []
    row: list[Any] | None = None
    number = first_row - 1
    col = -1
    kind: str | None = None
    style: str | None = None
    collect = False
    skip = False

    def close_cell() -> None:
        # Called with a cell's text gathered: store its value in the row.
        raw = texts[0] if len(texts) == 1 else "".join(texts)
        texts.clear()
        assert row is not None
        if col >= width:
            return
        value: Any
        if kind is None or kind == "n":
            if style is not None and dates and style.isdigit() and int(style) in dates:
                value = _date_text(raw, epoch)
            elif raw.isdigit():
                value = raw
            else:
                value = _number_text(raw)
        elif kind == "s":
            try:
                index = int(raw)
            except ValueError:
                return
            value = None
            shared_refs.append((row, col, index))
        elif kind == "b":
            value = "true" if raw.strip() in ("1", "true") else "false"
        else:  # inlineStr, str (a formula's text), e (an error such as #N/A), d (ISO date)
            value = raw
        if len(row) <= col:
            row.extend([None] * (col + 1 - len(row)))
        row[col] = value

    def close_row() -> None:
        nonlocal row
        if texts:
            close_cell()
        if row:
            if len(row) < width and layout.width:
                row.extend([None] * (width - len(row)))
            rows.append((number, row))
        row = None

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal col, kind, style, collect, skip, number, row
        if name == cell_tag:
            if texts:
                close_cell()
            ref = attrs.get("r")
            col = column_of(ref.rstrip(digits)) if ref else col + 1
            kind = attrs.get("t")
            style = attrs.get("s")
            collect = skip = False
        elif name == value_tag:
            collect = True
        elif name == text_tag:
            collect = not skip
        elif name == row_tag:
            if row is not None:
                close_row()
            ref = attrs.get("r")
            number = int(ref) if ref else number + 1
            row = []
            col = -1
            texts.clear()
            collect = False
        elif name == phonetic_tag:
            skip = True
            collect = False

    def characters(data: str) -> None:
        nonlocal collect
        if collect:
            texts.append(data)
            collect = False

    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = start
    parser.CharacterDataHandler = characters
    try:
        parser.Parse(b"<jobport-rows>", False)
        parser.Parse(data, False)
        parser.Parse(b"</jobport-rows>", True)
    except expat.ExpatError as exc:
        raise InputError(f"the worksheet is damaged (malformed XML: {exc})") from None
    if row is not None:
        close_row()
    if shared_refs:
        found = strings.lookup({index for _, _, index in shared_refs}) if strings else {}
        for target, column, index in shared_refs:
            target[column] = found.get(index)
    return rows


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
    cache: dict[str, int] = {}

    def column_of(letters: str) -> int:
        index = cache.get(letters)
        if index is None:
            index = 0
            for char in letters.strip("$").upper():
                index = index * 26 + (ord(char) - 64)
            index -= 1
            cache[letters] = index
        return index

    return column_of


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
        try:
            return self._prepare(files, key, read)
        except _DAMAGED as exc:
            raise InputError(
                "the file is not a readable XLSX workbook (its ZIP structure is damaged: "
                f"{type(exc).__name__})"
            ) from None

    def _prepare(self, files: FileStore, key: str, read: ReadOptions) -> Prepared:
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
                    with (
                        files.open(strings_key, "wb") as data,
                        archive.open(book.shared_strings) as source,
                    ):
                        writer = SharedStringsWriter(data)
                        extract_shared_strings(source, writer)
                    with files.open(index_key, "wb") as index:
                        index.write(writer.index_bytes())
                sheet_key = files.new_key("work", ".xml")
                with archive.open(book.sheet_part) as source, files.open(sheet_key, "wb") as out:
                    copy_sheet(source, out, self.limits.max_uncompressed_bytes)
        with files.open(sheet_key) as stream:
            data_start, prefix, empty = find_sheet_data(stream)
            if empty:
                raise InputError(f"the sheet {book.sheet_name!r} is empty: expected a header row")
            layout = SheetLayout(prefix, 0, frozenset(styles), book.date1904, None, None)
            strings = (
                SharedStrings(files, strings_key, index_key) if strings_key and index_key else None
            )
            header_row = None
            position = data_start
            with files.open(sheet_key) as rows_stream:
                for end, has_value in RowCutter(prefix).rows(rows_stream, data_start):
                    if has_value:
                        stream.seek(position)
                        parsed = parse_rows(stream.read(end - position), layout, strings, 1)
                        if parsed:
                            header_row = (parsed[0], end)
                            break
                    position = end
        if header_row is None:
            raise InputError(f"the sheet {book.sheet_name!r} is empty: expected a header row")
        (header_number, cells), header_end = header_row
        header = [("" if cell is None else str(cell)).strip() for cell in cells]
        while header and not header[-1]:
            header.pop()
        return Prepared(
            source_key=sheet_key,
            header=header,
            params={
                "sheet": book.sheet_name,
                "prefix": prefix,
                "data_offset": header_end,
                "header_row": header_number,
                "date_styles": styles,
                "date1904": book.date1904,
                "strings": strings_key,
                "strings_index": index_key,
            },
        )

    def plan(
        self, files: FileStore, prepared: Prepared, rows_per_chunk: int
    ) -> Iterator[dict[str, Any]]:
        params = prepared.params
        cutter = RowCutter(params["prefix"])
        start = int(params["data_offset"])
        # Row numbers for rows without an ``r`` attribute: count every row element.
        first_row = next_row = int(params["header_row"]) + 1
        rows = 0
        with files.open(prepared.source_key) as stream:
            end = start
            for end, has_value in cutter.rows(stream, start):
                rows += has_value
                next_row += 1
                if rows == rows_per_chunk:
                    yield {"start": start, "end": end, "rows": rows, "first_row": first_row}
                    start, rows, first_row = end, 0, next_row
            if rows:
                yield {"start": start, "end": end, "rows": rows, "first_row": first_row}

    def read(
        self, files: FileStore, source_key: str, params: dict[str, Any], spec: dict[str, Any]
    ) -> Iterator[Record]:
        layout = SheetLayout(
            prefix=params["prefix"],
            width=len(params["header"]),
            date_styles=frozenset(params["date_styles"]),
            date1904=bool(params["date1904"]),
            strings=params["strings"],
            strings_index=params["strings_index"],
        )
        strings = (
            SharedStrings(files, layout.strings, layout.strings_index)
            if layout.strings and layout.strings_index
            else None
        )
        with files.open(source_key) as stream:
            stream.seek(spec["start"])
            data = stream.read(spec["end"] - spec["start"])
        return iter(parse_rows(data, layout, strings, int(spec["first_row"])))
