"""Reading one byte range of a CSV into records: (line number, fields) or a row failure.

The fast path splits lines without quotes with ``str.split`` (exact for CSV, and
several times faster than the csv module); quoted records, undecodable bytes,
NULs and fields over the limit take the slower, exact paths.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from typing import IO, Any

from jobport.errors import InputError
from jobport.formats.base import NUL_ROW, BadRecord, Record, undecodable_row
from jobport.formats.cells import may_hold_neutralised, unneutralise_row
from jobport.formats.csvfile.layout import (
    FIELD_LIMIT,
    ByteRange,
    CsvLayout,
    _csv_reason,
    _over_the_limit,
)
from jobport.formats.csvfile.longlines import _without_long_fields


def read_range(
    stream: IO[bytes],
    layout: CsvLayout,
    byte_range: ByteRange,
    *,
    max_field_bytes: int | None = None,
) -> list[Record]:
    """(line number, fields) for each record of the range.

    Fields are None for a record that holds bytes invalid in the file's
    encoding: such a row is reported, never written as mojibake. A range
    without a quote character is split directly, which is exact for CSV and
    several times faster than the csv module. A line that planning found over
    the field limit is read in pieces, never whole (``_without_long_fields``).
    """
    limit = max_field_bytes or FIELD_LIMIT
    streamed = _without_long_fields(stream, layout, byte_range, limit)
    if streamed is not None:
        data, refused = streamed
    else:
        stream.seek(byte_range.start)
        data = stream.read(byte_range.end - byte_range.start)
        refused = {}
    bad_lines: set[int] = set()
    escaped = False
    try:
        text = data.decode(layout.encoding)
    except UnicodeDecodeError:
        try:
            # Invalid bytes become lone surrogates, which no valid text holds: the
            # records are then split exactly as valid text is, and those holding
            # one are refused.
            text, escaped = data.decode(layout.encoding, "surrogateescape"), True
        except UnicodeDecodeError:  # an invalid sequence of ASCII bytes (UTF-16, say)
            text, bad_lines = _decode_lines(data, layout.encoding, byte_range.cr_lines)
    line_base = byte_range.first_line
    if bad_lines or byte_range.cr_lines:
        # The csv module ends lines at a bare CR too, as planning did for such a range.
        records = _parse_quoted(text, layout, line_base, bad_lines)
    else:
        records = _split_lines(text, layout, line_base)
    if escaped:
        records = [_refuse_undecodable(record) for record in records]
    if "\x00" in text:
        records = [_refuse_nul(record) for record in records]
    if byte_range.long_lines:
        records = _refuse_long_fields(records, layout.header, limit)
    if refused:
        records = [(line, refused.get(line, values)) for line, values in records]
    if may_hold_neutralised(text):
        _unneutralise(records)
    return records


def _unneutralise(records: list[Record]) -> None:
    """Undo what writers did to text a spreadsheet would run (see ``formats.cells``), so
    an export or a corrected error report imports as the values it was made of.

    Only ranges holding an apostrophe before a trigger pay for this pass.
    """
    for _, values in records:
        if type(values) is list:
            unneutralise_row(values)


#: A byte invalid in the encoding, decoded with "surrogateescape": a lone surrogate.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
#: What such a byte is shown as, in a failure and the error report.
_SHOWN_BYTE = "\ufffd"


def _refuse_undecodable(record: Record) -> Record:
    """A record holding a byte invalid in the encoding (a lone surrogate) refused."""
    line, values = record
    if type(values) is not list:
        return record
    bad = [bool(_ESCAPED_BYTE.search(value)) for value in values]
    if True not in bad:
        return record
    return line, undecodable([_ESCAPED_BYTE.sub(_SHOWN_BYTE, value) for value in values], bad)


def undecodable(cells: list[str], bad: list[bool]) -> BadRecord:
    """A row's refusal for bytes invalid in its encoding, naming the first cell in ``bad``."""
    return undecodable_row(cells, bad.index(True) if True in bad else None)


def _refuse_nul(record: Record) -> Record:
    line, values = record
    if type(values) is list and any("\x00" in value for value in values):
        return line, NUL_ROW
    return record


def _refuse_long_fields(records: list[Record], header: list[str], limit: int) -> list[Record]:
    """Turn records with a field over ``limit`` bytes into row failures naming the column.

    Only ranges where planning saw a line over the limit pay for this check.
    """
    out: list[Record] = []
    for line, values in records:
        if type(values) is list:
            for index, value in enumerate(values):
                if len(value.encode()) > limit:
                    values = _over_the_limit(header, index, limit)
                    break
        out.append((line, values))
    return out


def _split_lines(text: str, layout: CsvLayout, line_base: int) -> list[Record]:
    """Split lines without quotes directly; hand quoted records to the csv module.

    A line without a quote character, outside a quoted field, is exactly its
    fields joined by the delimiter, and ``str.split`` reads it several times
    faster than the csv module. Quoted records (balanced by quote parity,
    possibly over several lines) go through the csv module, strict.
    """
    delimiter = layout.delimiter
    found = _record_lines(text)
    if found is not None:
        lines, quoted = found
        fields = map(str.split, lines, itertools.repeat(delimiter))
        numbered: list[Record] = list(zip(itertools.count(line_base), fields))
        for index in quoted:
            number = line_base + index
            numbered[index] = (number, _parse_record(lines[index], layout, number))
        return numbered
    records: list[Record] = []
    append = records.append
    pending: list[str] = []
    pending_start = 0
    for index, line in enumerate(text.split("\n")):
        if pending:
            pending.append(line)
            if line.count('"') & 1:
                _append_quoted(records, "\n".join(pending), layout, line_base + pending_start)
                pending = []
            continue
        if '"' not in line:
            stripped = line.rstrip("\r")
            if stripped:
                append((line_base + index, stripped.split(delimiter)))
            continue
        if line.count('"') & 1:
            pending, pending_start = [line], index
            continue
        _append_quoted(records, line, layout, line_base + index)
    if pending:
        raise InputError(
            f"malformed CSV: the quoted field opened on line {line_base + pending_start} "
            "never closes"
        )
    return records


def _record_lines(text: str) -> tuple[list[str], list[int]] | None:
    """The lines of ``text`` and the indexes of those holding quotes, when each line is a record.

    That is: no line leaves a quoted field open, no line is blank, and every
    carriage return is part of a CRLF ending; else None. Such text (most
    machine-written CSV) is split with C-level calls, and only its quoted
    lines go through the csv module; anything else takes the line-by-line path.
    """
    lines: list[str] | None = None
    if "\r" in text:
        # CRLF throughout (what the csv module writes) splits as it is: every CR and
        # every LF is one of the separators. Mixed endings are made LF first.
        lines = text.split("\r\n")
        if not text.count("\r") == len(lines) - 1 == text.count("\n"):
            if text.count("\r") != text.count("\r\n"):
                return None
            text, lines = text.replace("\r\n", "\n"), None
    quoted: list[int] = []
    position = text.find('"')
    line_index = counted_to = 0
    while position != -1:
        line_start = text.rfind("\n", 0, position) + 1
        line_end = text.find("\n", position)
        if line_end == -1:
            line_end = len(text)
        if text.count('"', line_start, line_end) & 1:
            return None
        line_index += text.count("\n", counted_to, position)
        counted_to = position
        quoted.append(line_index)
        position = text.find('"', line_end)
    if lines is None:
        lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if "" in lines:
        return None
    return lines, quoted


def _parse_record(text: str, layout: CsvLayout, line: int) -> list[str]:
    """One quoted record through the csv module, strict.

    CRs at its end belong to its line end, as for a line without quotes: one
    more than CR-LF's (a file saved twice on Windows ends lines in CR-CR-LF) would
    be a line end of its own to the csv module, and a second, empty record.
    """
    try:
        parsed = list(_reader(io.StringIO(text.rstrip("\r"), newline=""), layout))
    except csv.Error as exc:
        raise InputError(f"malformed CSV at line {line}: {_csv_reason(exc)}") from None
    if len(parsed) != 1:
        raise InputError(f"malformed CSV at line {line}: a quoted record splits unexpectedly")
    record: list[str] = parsed[0]
    return record


def _append_quoted(records: list[Record], text: str, layout: CsvLayout, line: int) -> None:
    records.append((line, _parse_record(text, layout, line)))


def _parse_quoted(
    text: str, layout: CsvLayout, line_base: int, bad_lines: set[int]
) -> list[Record]:
    reader = _reader(io.StringIO(text, newline=""), layout)
    records: list[Record] = []
    previous = 0
    try:
        for record in reader:
            first, previous = previous, reader.line_num
            if not record:
                continue
            if bad_lines and any(n in bad_lines for n in range(first, previous)):
                # Decoded with "replace": the bytes at fault are U+FFFD already.
                at_fault = [_SHOWN_BYTE in value for value in record]
                records.append((line_base + first, undecodable(record, at_fault)))
            else:
                records.append((line_base + first, record))
    except csv.Error as exc:
        raise InputError(
            f"malformed CSV at line {line_base + previous}: {_csv_reason(exc)}"
        ) from None
    return records


def _decode_lines(data: bytes, encoding: str, cr_lines: bool) -> tuple[str, set[int]]:
    """The text, and the indexes of the lines (ended as planning ended them) not valid in
    ``encoding``."""
    parts: list[str] = []
    bad: set[int] = set()
    lines = data.splitlines(keepends=True) if cr_lines else data.split(b"\n")
    for index, raw in enumerate(lines):
        # A line's end is decoded apart: a decoder's "replace" may take it in (UTF-7's).
        body = raw.rstrip(b"\r\n") if cr_lines else raw
        ending = raw[len(body) :].decode("ascii")
        try:
            parts.append(body.decode(encoding) + ending)
        except UnicodeDecodeError:
            parts.append(body.decode(encoding, "replace") + ending)
            bad.add(index)
    return ("" if cr_lines else "\n").join(parts), bad


def _reader(lines: Any, layout: CsvLayout) -> Any:
    csv.field_size_limit(FIELD_LIMIT)
    return csv.reader(lines, delimiter=layout.delimiter, strict=True)
