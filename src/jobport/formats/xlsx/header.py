"""The sheet's header row: the one ``ReadOptions.header_row`` names, or the one found
below any title rows (the rule of :mod:`jobport.formats.header_row`).

Rows above the header are located without being held: each is parsed on its
own, within a budget of XML bytes, and only its shape (how many cells, how many
look like names) is kept; the chosen row is parsed again at the end. A header
is a row of names, so one over ``MAX_HEADER_BYTES`` of XML refuses the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from jobport.errors import InputError, shown
from jobport.formats.header_row import SCAN_ROWS, RowShape, choose_header
from jobport.formats.xlsx.rows import parse_rows
from jobport.formats.xlsx.sheet import RowCutter, RowSpan, SheetLayout, _row_attribute
from jobport.formats.xlsx.strings import SharedStrings
from jobport.formats.xlsx.values import MAX_HEADER_BYTES, _row_number

#: XML bytes of rows parsed while looking for the header, in header rows' worth (beyond
#: it, rows above a chosen header are numbered from their start tag alone).
PARSE_BUDGET_ROWS = 4


@dataclass(frozen=True)
class HeaderRow:
    """The header: its row number, its cells, and the offset just past it (data follows)."""

    number: int
    cells: list[Any]
    end: int


@dataclass(frozen=True)
class _Row:
    """A row holding a value, as the scan met it: where it is, its number, its cells (a
    list), why it cannot be read (a str), or None when it was not parsed (too long)."""

    start: int
    end: int
    number: int
    cells: list[Any] | str | None


class HeaderFinder:
    """Finds the header of one unpacked sheet; see the module's docstring."""

    def __init__(
        self,
        stream: IO[bytes],
        rows_stream: IO[bytes],
        layout: SheetLayout,
        strings: SharedStrings | None,
        sheet_name: str,
        max_header_bytes: int = MAX_HEADER_BYTES,
    ) -> None:
        self.max_header_bytes = max_header_bytes
        self.stream = stream
        self.rows_stream = rows_stream
        self.layout = layout
        self.strings = strings
        self.sheet_name = sheet_name

    def find(
        self, data_start: int, header_row: int | None, names: frozenset[str] = frozenset()
    ) -> HeaderRow:
        """The header: row ``header_row`` (1-based, the sheet's numbering), or found."""
        if header_row is not None:
            return self._chosen(data_start, header_row)
        return self._found(data_start, names)

    def _chosen(self, data_start: int, wanted: int) -> HeaderRow:
        for row in self._rows(data_start):
            if row.number < wanted:
                continue
            if row.number > wanted:
                break
            return self._header(row)
        raise InputError(
            f"row {wanted:,} of the sheet {shown(self.sheet_name)!r} holds no value: "
            "the header row must hold the column names (leave it unset to have it found)"
        )

    def _found(self, data_start: int, names: frozenset[str]) -> HeaderRow:
        """Scan the first rows holding a value for the header. A row that cannot be read
        or is too long to be a header ends the scan (and refuses the file if first)."""
        scanned: list[tuple[_Row, RowShape]] = []
        for row in self._rows(data_start):
            if type(row.cells) is not list:
                if not scanned:
                    self._header(row)  # raises: the first row is the header, and it is bad
                break
            # Only the shape is kept: the chosen row is parsed again.
            shape = RowShape.of(row.cells, names)
            scanned.append((_Row(row.start, row.end, row.number, None), shape))
            if len(scanned) == SCAN_ROWS:
                break
        if not scanned:
            raise InputError(
                f"the sheet {shown(self.sheet_name)!r} is empty: expected a header row"
            )
        row, _ = scanned[choose_header([shape for _, shape in scanned])]
        span = RowSpan(row.start, row.end, row.number)
        number, cells = parse_rows(self.stream, span, self.layout, self.strings)[0]
        return self._header(_Row(row.start, row.end, number, cells))

    def _header(self, row: _Row) -> HeaderRow:
        """The header made of ``row``, or the refusal saying why it cannot be one."""
        if row.cells is None:
            raise InputError(
                f"the header row is over the limit of {self.max_header_bytes:,} bytes of XML; "
                "a row of column names never takes that much"
            )
        if type(row.cells) is not list:
            raise InputError(f"the header row {row.number} cannot be read: {row.cells}")
        return HeaderRow(row.number, row.cells, row.end)

    def _rows(self, data_start: int) -> Iterator[_Row]:
        """Each row holding a value, top down, parsed while within ``PARSE_BUDGET``.

        Rows without an ``r`` are counted as planning counts them (one a row).
        """
        position, number, spent = data_start, 0, 0
        budget = PARSE_BUDGET_ROWS * self.max_header_bytes
        prefix = self.layout.prefix
        for end, has_value in RowCutter(prefix).rows(self.rows_stream, data_start):
            size = end - position
            if not has_value:
                number += 1
            elif size > self.max_header_bytes or spent + size > budget:
                number, _ = _row_number(_row_attribute(self.stream, position, prefix), number + 1)
                yield _Row(position, end, number, None)
            else:
                spent += size
                span = RowSpan(position, end, number + 1)
                parsed = parse_rows(self.stream, span, self.layout, self.strings)
                if parsed:
                    number, cells = parsed[0]
                    yield _Row(position, end, number, cells if cells is not None else "")
                else:
                    number += 1
            position = end
