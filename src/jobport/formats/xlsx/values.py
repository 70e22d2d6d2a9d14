"""A cell's value as text, and the limits a cell and a row are held to.

Excel's bounds (columns, rows, characters in a cell), its ``_xHHHH_`` escapes, date
serials and number texts: what turns a cell's XML text into what a CSV would hold.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from jobport.formats.base import NUL_ROW
from jobport.formats.cells import number_text

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


_EPOCH_1900 = dt.datetime(1899, 12, 30)
_EPOCH_1904 = dt.datetime(1904, 1, 1)


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
