"""CSV reading in byte ranges, so chunks of one file can be read in parallel.

Planning walks the file once, counting records by quote parity and noting
the byte offset and line number where every chunk starts; a chunk then seeks
to its offset and parses only its own bytes. Memory depends on the chunk size, never on the
file size.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import IO, TYPE_CHECKING, Any

from jobport.errors import InputError
from jobport.formats.base import NUL_ROW, BadRecord, Prepared, ReadOptions, Record, discard
from jobport.formats.cells import may_hold_neutralised, unneutralise, unneutralise_row
from jobport.formats.spec import FormatSpec
from jobport.formats.writers import CSV_WRITER

if TYPE_CHECKING:
    from jobport.files import FileStore

#: Largest record the reader accepts, so a stray quote cannot swallow a whole file.
FIELD_LIMIT = 16 << 20

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass(frozen=True)
class CsvLayout:
    """What a chunk needs to parse its bytes the same way the plan did."""

    encoding: str
    delimiter: str
    header: list[str]
    data_offset: int
    header_lines: int

    def to_params(self) -> dict[str, Any]:
        return {
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "header": self.header,
            "data_offset": self.data_offset,
            "header_lines": self.header_lines,
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> CsvLayout:
        return cls(
            encoding=params["encoding"],
            delimiter=params["delimiter"],
            header=list(params["header"]),
            data_offset=int(params["data_offset"]),
            header_lines=int(params["header_lines"]),
        )


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int
    first_line: int
    rows: int
    #: Lines longer than the field size limit: their records are checked field by field.
    long_lines: tuple[int, ...] = ()


def detect_bom(head: bytes) -> tuple[str | None, int]:
    """The encoding a byte-order mark announces, and the mark's length."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding, len(bom)
    return None, 0


def is_line_splittable(encoding: str) -> bool:
    """Whether b"\\n" ends lines in this encoding (true of UTF-8 and single-byte codecs)."""
    try:
        info = codecs.lookup(encoding)
        if not getattr(info, "_is_text_encoding", True):
            raise LookupError(encoding)
        name = info.name
        if name.startswith(("utf-16", "utf-32")):
            return False
        b"a\n".decode(name, "replace")  # codecs such as idna refuse error handlers
        return "\n".encode(name) == b"\n"
    except (LookupError, UnicodeError):
        raise InputError(
            f"unknown encoding '{encoding}' (or not a text encoding); use one such as utf-8, "
            "utf-16, latin-1 or cp1252"
        ) from None


def read_layout(stream: IO[bytes], *, encoding: str, delimiter: str | None) -> CsvLayout:
    """Read the header of a CSV whose encoding splits on b"\\n" (see ``transcode``)."""
    head = stream.read(64 * 1024)
    _, bom_length = detect_bom(head)
    if not head[bom_length:].strip():
        raise InputError("the file is empty: expected a header line and rows")
    stream.seek(bom_length)
    lines = _LineSource(stream, encoding, bom_length)
    reader = csv.reader(lines, delimiter=delimiter or _sniff_delimiter(head, encoding))
    try:
        header = next(reader)
    except csv.Error as exc:
        raise InputError(f"malformed header on line 1: {_csv_reason(exc)}") from None
    except StopIteration:
        raise InputError("the file is empty: expected a header line and rows") from None
    if any("\x00" in name for name in header):
        raise InputError("the header holds a NUL byte; text data never contains one")
    if lines.bad_lines:
        raise InputError(f"the header is not valid {encoding}; pass the file's encoding")
    return CsvLayout(
        encoding=encoding,
        delimiter=reader.dialect.delimiter,
        header=[unneutralise(name).strip() for name in header],
        data_offset=lines.offset,
        header_lines=reader.line_num,
    )


def plan_ranges(
    stream: IO[bytes], layout: CsvLayout, rows_per_range: int, *, max_field_bytes: int | None = None
) -> Iterator[ByteRange]:
    """Walk the records once and cut them into ranges of ``rows_per_range`` rows.

    This pass only counts: a line ends a record unless it leaves a quoted field
    open, which the parity of its quote characters tells (RFC 4180 doubles a
    quote inside a field). Decoding and parsing happen in the chunks, in
    parallel. The file is read in blocks; a block with no quote, no blank line
    and no line near the field limit is counted with C-level calls alone, any
    other block line by line.
    """
    planner = _RangePlanner(layout, rows_per_range, max_field_bytes or FIELD_LIMIT)
    stream.seek(layout.data_offset)
    # A line that runs past its block is counted as it is read, never held: a line
    # as long as the file (a field over every limit, no line breaks) costs a block.
    begun: tuple[int, int, bool] | None = None
    while block := stream.read(_PLAN_BLOCK):
        if begun is not None:
            end = block.find(b"\n") + 1
            begun = _grown(begun, block[:end] if end else block)
            if not end:
                continue
            yield from planner.count(*begun)
            begun, block = None, block[end:]
        end = block.rfind(b"\n") + 1
        whole, partial = block[:end], block[end:]
        if whole:
            if planner.plain(whole):
                yield from planner.count_block(whole)
            else:
                for raw in io.BytesIO(whole):
                    yield from planner.count_line(raw)
        if partial:
            begun = _grown((0, 0, True), partial)
    if begun is not None:
        yield from planner.count(*begun)
    yield from planner.finish()


def _grown(line: tuple[int, int, bool], piece: bytes) -> tuple[int, int, bool]:
    """A line's length, quote count and blankness, with one more piece of it."""
    length, quotes, blank = line
    return length + len(piece), quotes + piece.count(b'"'), blank and not piece.strip(b"\r\n")


def _line_pieces(stream: IO[bytes], size: int) -> Iterator[tuple[bytes, bool]]:
    """The next ``size`` bytes in pieces that never cross a line end: (piece, ends a line).

    Read in blocks (any file object has ``read``; not every one takes a
    ``readline`` limit), so a long line comes in pieces of a block at most.
    """
    while size > 0:
        block = stream.read(min(size, _PLAN_BLOCK))
        if not block:
            return
        size -= len(block)
        start = 0
        while (end := block.find(b"\n", start) + 1) > 0:
            yield block[start:end], True
            start = end
        if start < len(block):
            yield block[start:], False


#: A line break followed by a blank line, or by a line of carriage returns alone. One
#: regex scan: twice as fast as two ``in`` tests, which stop at every line break.
_BLANK_LINE = re.compile(rb"\n[\n\r]")

#: Bytes the planning pass reads at a time (then up to the end of the line).
_PLAN_BLOCK = 256 * 1024


@lru_cache(maxsize=16)
def _lines_of(count: int) -> re.Pattern[bytes]:
    """Matches ``count`` whole lines: their end is found by the regex engine, not a loop."""
    return re.compile(rb"(?:[^\n]*\n){%d}" % count)


def _opens_a_quote(block: bytes) -> bool:
    """Whether a line of ``block`` leaves a quoted field open (an odd count of quotes).

    Only lines holding a quote are looked at, found by ``find``: quoted fields
    are usually rare, and a line with balanced quotes is still one record.
    """
    position = block.find(b'"')
    while position != -1:
        line_start = block.rfind(b"\n", 0, position) + 1
        line_end = block.find(b"\n", position)
        if block.count(b'"', line_start, line_end) & 1:
            return True
        position = block.find(b'"', line_end)
    return False


class _RangePlanner:
    """The planning pass's state: where the current range starts and what it holds."""

    def __init__(self, layout: CsvLayout, rows_per_range: int, long_limit: int) -> None:
        self.rows_per_range = rows_per_range
        self.long_limit = long_limit
        self.offset = self.start = layout.data_offset
        self.line = layout.header_lines
        self.first_line = self.line + 1
        self.rows = 0
        self.long_lines: list[int] = []
        self.open_quote = False
        self.record_start_line = 0
        self.record_start_offset = 0

    def plain(self, block: bytes) -> bool:
        """Whether every line of ``block`` is one record and no line can be over the limit."""
        return not (
            self.open_quote
            or len(block) > self.long_limit
            or not block.endswith(b"\n")
            or block.startswith((b"\n", b"\r"))
            or _BLANK_LINE.search(block) is not None
            or _opens_a_quote(block)
        )

    def count_block(self, block: bytes) -> Iterator[ByteRange]:
        lines = block.count(b"\n")
        position = 0
        while self.rows + lines >= self.rows_per_range:
            needed = self.rows_per_range - self.rows
            match = _lines_of(needed).match(block, position)
            assert match is not None  # the block holds at least that many lines
            self.offset += match.end() - position
            self.line += needed
            self.rows += needed
            lines -= needed
            position = match.end()
            yield self._cut()
        self.offset += len(block) - position
        self.line += lines
        self.rows += lines

    def count_line(self, raw: bytes) -> Iterator[ByteRange]:
        return self.count(len(raw), raw.count(b'"'), not raw.rstrip(b"\r\n"))

    def count(self, length: int, quotes: int, blank: bool) -> Iterator[ByteRange]:
        """One line, known by its length, its quote count and whether it is blank."""
        self.line += 1
        self.offset += length
        if length > self.long_limit:
            self.long_lines.append(self.line)
        if self.open_quote:
            if self.offset - self.record_start_offset > self.long_limit and (
                not self.long_lines or self.long_lines[-1] != self.record_start_line
            ):
                self.long_lines.append(self.record_start_line)
            if quotes & 1:
                self.open_quote = False
            elif self.offset - self.record_start_offset > FIELD_LIMIT:
                raise InputError(
                    f"malformed CSV: the quoted field opened on line {self.record_start_line} "
                    f"never closes (or is over {FIELD_LIMIT:,} bytes)"
                )
            else:
                return
        elif quotes & 1:
            self.open_quote = True
            self.record_start_line, self.record_start_offset = self.line, self.offset - length
            return
        elif blank:
            if self.rows == 0:
                self.start, self.first_line = self.offset, self.line + 1
            return
        self.rows += 1
        if self.rows == self.rows_per_range:
            yield self._cut()

    def finish(self) -> Iterator[ByteRange]:
        if self.open_quote:
            raise InputError(
                f"malformed CSV: the quoted field opened on line {self.record_start_line} "
                "never closes"
            )
        if self.rows:
            yield self._cut()

    def _cut(self) -> ByteRange:
        cut = ByteRange(self.start, self.offset, self.first_line, self.rows, tuple(self.long_lines))
        self.start, self.first_line, self.rows = self.offset, self.line + 1, 0
        self.long_lines = []
        return cut


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
            text, bad_lines = _decode_lines(data, layout.encoding)
    line_base = byte_range.first_line
    if bad_lines:
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


#: Stands for a line refused while it was read in pieces: one field, no quote.
_STAND_IN = b"-"


def _without_long_fields(
    stream: IO[bytes], layout: CsvLayout, byte_range: ByteRange, limit: int
) -> tuple[bytes, dict[int, BadRecord | None]] | None:
    """The range's bytes with each line holding a field over ``limit`` replaced by a stand-in.

    Such a line is read in pieces and never held whole: its record is decided
    from the pieces, in the order the whole-range path decides (undecodable,
    then a NUL, then the first field over the limit) and returned apart, by
    line number. A long line whose fields all fit is kept. None (read the range
    whole) when the range has no long line, when one is quoted or inside a
    quoted field, or when the file is not UTF-8, whose bytes are not its
    fields' sizes.
    """
    if not byte_range.long_lines or codecs.lookup(layout.encoding).name != "utf-8":
        return None
    long = set(byte_range.long_lines)
    delimiter = layout.delimiter.encode()
    stream.seek(byte_range.start)
    parts: list[bytes] = []
    refused: dict[int, BadRecord | None] = {}
    line = byte_range.first_line
    open_quote = False
    current: _LongLine | None = None
    for piece, ends in _line_pieces(stream, byte_range.end - byte_range.start):
        if current is None and line in long:
            if open_quote:
                return None
            current = _LongLine(delimiter, limit)
        if current is None:
            parts.append(piece)
            open_quote ^= bool(piece.count(b'"') & 1)
        elif not current.take(piece, ends):
            return None
        if ends:
            if current is not None:
                current.finish(parts, refused, line, layout.header)
                current = None
            line += 1
    if current is not None:
        current.finish(parts, refused, line, layout.header)
    return b"".join(parts), refused


class _LongLine:
    """A line over the field limit, taken piece by piece, held only while its fields fit."""

    def __init__(self, delimiter: bytes, limit: int) -> None:
        self.delimiter, self.limit = delimiter, limit
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.kept: list[bytes] = []
        self.size = self.index = 0
        self.over: int | None = None
        self.undecodable = self.nul = False
        self.blank = True  # carriage returns alone: a blank line, which is no record
        self.ending = b""
        # Carriage returns at a piece's end: field content if more follows, else the
        # line's end, which never counts (a CR-LF may fall across two pieces).
        self.pending_crs = 0

    def take(self, piece: bytes, ends: bool) -> bool:
        """Take the next piece; False when it holds a quote (then read the range whole)."""
        if b'"' in piece:
            return False
        body = piece
        if ends:
            body = piece.rstrip(b"\r\n")
            self.ending = piece[len(body) :]
        self._decode(body)
        self.nul = self.nul or b"\x00" in body
        self.blank = self.blank and not body.strip(b"\r")
        if self.over is None:
            counted = body if ends else body.rstrip(b"\r")
            if counted:
                self.size += self.pending_crs
            self.pending_crs = len(body) - len(counted)
            for position, field in enumerate(counted.split(self.delimiter)):
                if position:
                    self.index, self.size = self.index + 1, 0
                self.size += len(field)
                if self.size > self.limit:
                    self.over = self.index
                    break
            self.kept.append(piece)
            if self.over is not None:
                self.kept.clear()
        return True

    def finish(
        self,
        parts: list[bytes],
        refused: dict[int, BadRecord | None],
        line: int,
        header: list[str],
    ) -> None:
        """The line's bytes into ``parts`` (itself, a blank line, or a stand-in) and why."""
        self._decode(b"", final=True)
        if self.blank:
            parts.append(self.ending)
        elif self.over is None:
            parts.extend(self.kept)
        else:
            parts.append(_STAND_IN + self.ending)
            refused[line] = _refusal(header, self.over, self.limit, self.undecodable, self.nul)

    def _decode(self, data: bytes, *, final: bool = False) -> None:
        if not self.undecodable:
            try:
                self.decoder.decode(data, final=final)
            except UnicodeDecodeError:
                self.undecodable = True


def _refusal(
    header: list[str], index: int, limit: int, undecodable: bool, nul: bool
) -> BadRecord | None:
    """Why a line read in pieces is refused, as the whole-range path would say it."""
    if undecodable:
        return None
    if nul:
        return NUL_ROW
    return _over_the_limit(header, index, limit)


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


def _refuse_undecodable(record: Record) -> Record:
    line, values = record
    if type(values) is list and any(map(_ESCAPED_BYTE.search, values)):
        return line, None
    return record


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


def _over_the_limit(header: list[str], index: int, limit: int) -> BadRecord:
    name = header[index].strip() if index < len(header) else f"#{index + 1}"
    return BadRecord(
        f"{name}: the field is over the limit of {limit:,} bytes "
        "(raise it with the type's limits or JOBPORT_MAX_FIELD_BYTES)"
    )


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


def _csv_reason(exc: csv.Error) -> str:
    """The csv module's complaint in a file's terms, without its advice to Python callers.

    "new-line character seen in unquoted field - do you need to open the file
    in universal-newline mode?" is about how the reader was opened, not about
    the file: what the file holds is a line break inside an unquoted field.
    """
    reason = str(exc)
    if reason.startswith("new-line character seen in unquoted field"):
        return "a line break inside an unquoted field (is the file CSV text?)"
    return reason


def _parse_record(text: str, layout: CsvLayout, line: int) -> list[str]:
    """One quoted record through the csv module, strict."""
    try:
        parsed = list(_reader(io.StringIO(text, newline=""), layout))
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
                records.append((line_base + first, None))
            else:
                records.append((line_base + first, record))
    except csv.Error as exc:
        raise InputError(
            f"malformed CSV at line {line_base + previous}: {_csv_reason(exc)}"
        ) from None
    return records


def _decode_lines(data: bytes, encoding: str) -> tuple[str, set[int]]:
    parts: list[str] = []
    bad: set[int] = set()
    for index, raw in enumerate(data.split(b"\n")):
        try:
            parts.append(raw.decode(encoding))
        except UnicodeDecodeError:
            parts.append(raw.decode(encoding, "replace"))
            bad.add(index)
    return "\n".join(parts), bad


def _reader(lines: Any, layout: CsvLayout) -> Any:
    csv.field_size_limit(FIELD_LIMIT)
    return csv.reader(lines, delimiter=layout.delimiter, strict=True)


def _sniff_delimiter(head: bytes, encoding: str) -> str:
    first_line = head.split(b"\n", 1)[0].decode(encoding, "replace")
    candidates = {d: first_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(candidates, key=lambda d: candidates[d])
    return best if candidates[best] else ","


class _LineSource:
    """Lines of a binary stream as text, keeping the byte offset of what was consumed."""

    def __init__(self, stream: IO[bytes], encoding: str, offset: int) -> None:
        self._stream = stream
        self._encoding = encoding
        self.offset = offset
        self.bad_lines = 0

    def __iter__(self) -> Iterator[str]:
        decode = self._encoding
        for raw in self._stream:
            self.offset += len(raw)
            try:
                yield raw.decode(decode)
            except UnicodeDecodeError:
                self.bad_lines += 1
                yield raw.decode(decode, "replace")


_ZIP_MAGIC = b"PK\x03\x04"
_PARQUET_MAGIC = b"PAR1"
#: Compressed, image and document formats people upload by mistake.
_BINARY_MAGIC = (
    b"\x1f\x8b",  # gzip
    b"BZh",  # bzip2
    b"\xfd7zXZ\x00",  # xz
    b"7z\xbc\xaf\x27\x1c",  # 7-Zip
    b"\x89PNG",
    b"\xff\xd8\xff",  # JPEG
    b"GIF8",
    b"%PDF",
    b"\xd0\xcf\x11\xe0",  # OLE2: legacy .xls / .doc
)


class CsvFormat:
    """Delimited text: UTF-8 by default, BOMs honoured, UTF-16/32 rewritten as UTF-8."""

    name = "csv"

    def sniff(self, head: bytes) -> bool:
        """Text, not a known binary format. A stray NUL is a row problem, many mean binary."""
        if head.startswith((_ZIP_MAGIC, _PARQUET_MAGIC, *_BINARY_MAGIC)):
            return False
        encoding, _ = detect_bom(head)
        if encoding in ("utf-16", "utf-32"):
            return True
        return head.count(b"\x00") * 100 <= len(head)

    def prepare(self, files: FileStore, key: str, read: ReadOptions) -> Prepared:
        """The header read, from a UTF-8 copy under ``work/`` where lines cannot be split
        as stored; the copy is the run's to read later, and a file refused here
        leaves none behind (nor one refused later: it is in ``Prepared.scratch``)."""
        with files.open(key) as stream:
            bom_encoding, _ = detect_bom(stream.read(4))
        encoding = bom_encoding or read.encoding or "utf-8"
        scratch: list[str] = []
        if not is_line_splittable(encoding) or _ends_lines_with_cr(files, key):
            key = transcode_to_utf8(files, key, encoding)
            scratch.append(key)
            encoding = "utf-8"
        encoding = codecs.lookup(encoding).name
        try:
            with files.open(key) as stream:
                layout = read_layout(stream, encoding=encoding, delimiter=read.delimiter)
        except BaseException:
            discard(files, scratch)
            raise
        return Prepared(
            source_key=key, header=layout.header, params=layout.to_params(), scratch=scratch
        )

    def plan(
        self, files: FileStore, prepared: Prepared, rows_per_chunk: int
    ) -> Iterator[dict[str, Any]]:
        layout = CsvLayout.from_params(prepared.params)
        with files.open(prepared.source_key) as stream:
            limit = prepared.params.get("max_field_bytes")
            for r in plan_ranges(stream, layout, rows_per_chunk, max_field_bytes=limit):
                spec: dict[str, Any] = {
                    "start": r.start,
                    "end": r.end,
                    "first_line": r.first_line,
                    "rows": r.rows,
                }
                if r.long_lines:
                    spec["long_lines"] = list(r.long_lines)
                yield spec

    def read(
        self, files: FileStore, source_key: str, params: dict[str, Any], spec: dict[str, Any]
    ) -> Iterator[Record]:
        layout = CsvLayout.from_params(params)
        with files.open(source_key) as stream:
            byte_range = ByteRange(**{**spec, "long_lines": tuple(spec.get("long_lines", ()))})
            return iter(
                read_range(
                    stream, layout, byte_range, max_field_bytes=params.get("max_field_bytes")
                )
            )


def _ends_lines_with_cr(files: FileStore, key: str) -> bool:
    """Old Mac files end lines with a bare CR, which line splitting on LF cannot see."""
    with files.open(key) as stream:
        head = stream.read(64 * 1024)
    return b"\r" in head and b"\n" not in head


def transcode_to_utf8(files: FileStore, key: str, encoding: str) -> str:
    """Rewrite a file as UTF-8 with LF line ends, so chunks can split it on newlines.

    Used for UTF-16/32 and for bare-CR line ends; everything else is read as stored.
    Bytes invalid in ``encoding`` are carried over as bytes invalid in UTF-8 (a
    lone surrogate of UTF-16 or 32, any undecodable byte of another encoding),
    so that the chunk holding one refuses that row alone.
    """
    new_key = files.new_key("work", ".csv")
    wide = codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
    errors = "surrogatepass" if wide else "surrogateescape"
    decoder = codecs.getincrementaldecoder(encoding)(errors=errors)
    pending_cr = False
    try:
        with files.open(key) as source, files.open(new_key, "wb") as target:
            while True:
                block = source.read(1 << 20)
                text = decoder.decode(block, final=not block)
                if pending_cr:
                    text = "\r" + text
                pending_cr = bool(block) and text.endswith("\r")
                if pending_cr:
                    text = text[:-1]
                text = text.replace("\r\n", "\n").replace("\r", "\n")
                target.write(text.encode("utf-8", errors))
                if not block:
                    break
    except UnicodeError as exc:
        files.delete(new_key)
        reason = getattr(exc, "reason", None) or str(exc)
        raise InputError(f"the file is not valid {encoding}: {reason}") from None
    return new_key


#: The CSV format, as the registry knows it (see :mod:`jobport.formats.spec`). Any text no
#: other format claims is CSV, so it is sniffed last.
FORMAT = FormatSpec(
    name="csv",
    suffixes=(".csv", ".tsv", ".txt"),
    media_type="text/csv; charset=utf-8",
    label="CSV",
    reader=CsvFormat(),
    writer=CSV_WRITER,
    sniff_last=True,
)
