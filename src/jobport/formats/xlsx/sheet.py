"""The worksheet's XML as bytes: copied out of the archive, its rows found and cut into
chunks, and a chunk's bytes fed to a parser a block at a time.

Nothing here parses a row: rows are only located (their end tags, whether they
hold a value), so planning never holds a row, however long.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from jobport.errors import LimitExceeded
from jobport.formats.xlsx.values import CellLimits

_BLOCK = 1 << 20


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
