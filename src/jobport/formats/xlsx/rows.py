"""A chunk's rows parsed: each ``<row>`` of its bytes into (row number, cell texts), or a
row failure saying what is wrong with it.

This is the import's hot path for XLSX: expat does the parsing in C, and only
start tags call into Python (``_RowParser.start``).
"""

from __future__ import annotations

from typing import IO, Any
from xml.parsers import expat

from jobport.errors import InputError
from jobport.formats.base import NUL_ROW, BadRecord, Record
from jobport.formats.cells import unneutralise
from jobport.formats.xlsx.sheet import RowSpan, SheetLayout, _feed_range, _row_attribute
from jobport.formats.xlsx.strings import SharedStrings
from jobport.formats.xlsx.values import (
    _EPOCH_1900,
    _EPOCH_1904,
    MAX_SHEET_COLUMNS,
    CellLimits,
    _bad_reference,
    _cell_name,
    _column_cache,
    _date_text,
    _number_text,
    _row_number,
    _unusual_text,
)


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
    reader = _RowParser(layout, limits, rows, shared_refs, span.first_row)
    parser = reader.parser
    try:
        parser.Parse(b"<jobport-rows>", False)
        position = span.start
        for start, end, valued in (*span.long_rows, (span.end, span.end, False)):
            _feed_range(parser, stream, position, start)
            if end > start:
                reader.skip_row(_row_attribute(stream, start, layout.prefix), valued)
            position = end
        parser.Parse(b"</jobport-rows>", True)
        reader.finish()
    except expat.ExpatError as exc:
        raise InputError(f"the worksheet is damaged (malformed XML: {exc})") from None
    if shared_refs:
        _fill_shared(rows, shared_refs, strings, layout.header, limits)
    return rows


class _RowParser:
    """An expat parser appending each row it reads to ``rows``, with the state of the row
    and cell being read; ``finish`` closes the last row once the bytes end, and
    ``skip_row`` counts in a row that is not parsed (a long one).

    Only start tags call into Python. Character data and end tags go straight into
    one list (C calls, where an end tag is its name), so a ``<v>`` or ``<t>``'s text
    is whatever the parser handed over before its end tag, in as many pieces as it
    likes (long text, entities, CDATA): ``_text_before_end`` finds it. A cell is
    stored when the next cell or row starts, a row when the next row starts.
    """

    def __init__(
        self,
        layout: SheetLayout,
        limits: CellLimits,
        rows: list[Record],
        shared_refs: list[tuple[int, int, int, str | None]],
        first_row: int,
    ) -> None:
        p = (layout.prefix + ":") if layout.prefix else ""
        self.row_tag, self.cell_tag, self.value_tag = p + "row", p + "c", p + "v"
        self.text_tag, self.inline_tag, self.phonetic_tag = p + "t", p + "is", p + "rPh"
        self.header = layout.header
        self.width = len(self.header) or MAX_SHEET_COLUMNS
        self.limits = limits
        self.plain = limits.plain_chars
        self.dates = layout.date_styles
        self.epoch = _EPOCH_1904 if layout.date1904 else _EPOCH_1900
        self.columns, self.column_of = _column_cache()
        self.rows = rows
        self.shared_refs = shared_refs
        self.texts: list[str] = []  # character data and end tag names since the text began
        self.runs: list[str] = []  # an inline string's runs before its last
        self.row: list[Any] | None = None
        self.number = first_row - 1
        self.col = -1
        self.ref: str | None = None
        self.kind: str | None = None
        self.style: str | None = None
        self.in_text = False  # a <v> or <t> of the cell has begun
        self.skip = False  # a phonetic hint (<rPh>) has begun: the rest is not the cell's text
        self.filled = False
        self.problem: str | None = None
        self.parser = parser = expat.ParserCreate()
        parser.buffer_text = True
        parser.ordered_attributes = True
        parser.StartElementHandler = self.start
        parser.CharacterDataHandler = self.texts.append
        parser.EndElementHandler = self.texts.append

    def start(self, name: str, attrs: list[str]) -> None:
        if name == self.cell_tag:
            if self.in_text:
                self.close_cell()
            self.skip = False
            # Attributes come as [name, value, ...]: no dict is built for each element.
            # Writers put r first, then s, then t; any other order takes the long way.
            count = len(attrs)
            ref: str | None
            if count == 4 and attrs[0] == "r" and attrs[2] == "t":
                ref, self.kind, self.style = attrs[1], attrs[3], None
            elif count == 2 and attrs[0] == "r":
                ref, self.kind, self.style = attrs[1], None, None
            elif count == 6 and attrs[0] == "r" and attrs[2] == "s" and attrs[4] == "t":
                ref, self.kind, self.style = attrs[1], attrs[5], attrs[3]
            elif count == 4 and attrs[0] == "r" and attrs[2] == "s":
                ref, self.kind, self.style = attrs[1], None, attrs[3]
            else:
                ref, self.kind, self.style = _cell_attributes(attrs)
            self.ref = ref
            if ref is None:
                self.col += 1
            else:
                letters = ref.rstrip("0123456789")
                col = self.columns.get(letters)
                if col is None:
                    col = self.column_of(letters)
                self.col = col
                if col < 0 or not 0 < len(ref) - len(letters) <= 7:
                    self.problem = self.problem or _bad_reference(ref)
        elif name == self.value_tag or name == self.text_tag:
            self.filled = True
            if self.in_text and not self.skip:  # the next run of a rich inline string
                self.runs.append(_text_before_end(self.texts, self.value_tag, self.text_tag))
            self.in_text = True
            if self.texts:
                self.texts.clear()
        elif name == self.inline_tag:
            return
        elif name == self.row_tag:
            if self.row is not None:
                self.close_row()
            self.row = [None] * self.width if self.header else []
            self.col, self.filled, self.in_text, self.skip = -1, False, False, False
            r = attrs[1] if attrs and attrs[0] == "r" else _attribute(attrs, "r")
            self.number, self.problem = _row_number(r, self.number + 1)
        elif name == self.phonetic_tag:
            if self.in_text and not self.skip:
                self.runs.append(_text_before_end(self.texts, self.value_tag, self.text_tag))
                self.texts.clear()
            self.skip = True

    def close_cell(self) -> None:
        self.in_text = False
        texts = self.texts
        # The common shapes, in one piece: <v>x</v></c> and <is><t>x</t></is></c>.
        count = len(texts)
        common = (count == 3 and texts[1] == self.value_tag) or (
            count == 4 and texts[1] == self.text_tag
        )
        if common and not (self.runs or self.skip):
            raw = texts[0]
        else:
            raw = _cell_text(texts, self.runs, self.skip, self.value_tag, self.text_tag)
        texts.clear()
        col, kind = self.col, self.kind
        if not raw or col >= self.width or col < 0:
            return
        if len(raw) > self.plain or ("_x" in raw and (kind == "inlineStr" or kind == "str")):
            name = _cell_name(self.header, col, self.ref)
            raw, trouble = _unusual_text(raw, kind, self.limits, name)
            if trouble is not None:
                self.problem = self.problem or trouble
                return
        value: Any
        if kind == "s":
            try:
                index = int(raw)
            except ValueError:
                self.problem = self.problem or (
                    f"the cell {self.ref or ''} names shared string {raw[:20]!r}"
                )
                return
            value = None
            self.shared_refs.append((len(self.rows), col, index, self.ref))
        elif kind is None or kind == "n":
            style, dates = self.style, self.dates
            if style is not None and dates and style.isdecimal() and int(style) in dates:
                value = _date_text(raw, self.epoch)
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
        row = self.row
        assert row is not None
        if len(row) <= col:  # the header's row grows; a data row has its width from the start
            row.extend([None] * (col + 1 - len(row)))
        row[col] = value

    def close_row(self) -> None:
        if self.in_text:
            self.close_cell()
        self.texts.clear()
        row = self.row
        assert row is not None
        if self.problem is not None:
            if self.filled:  # planning counted only rows holding a value
                self.rows.append((self.number, BadRecord(self.problem)))
        elif self.filled if self.header else row:
            # A data row whose values all lie past the header still counts (planning did).
            self.rows.append((self.number, row))
        self.row = None

    def finish(self) -> None:
        if self.row is not None:
            self.close_row()

    def skip_row(self, r: str | None, valued: bool) -> None:
        self.finish()
        self.number, _ = _row_number(r, self.number + 1)
        if valued:
            self.rows.append((self.number, BadRecord(self.limits.row_problem())))


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
