"""Planning a CSV: one pass over the bytes cutting the records into ranges of rows.

Planning only counts (quote parity, line ends) and never decodes or parses: that
is the chunks' work, in parallel. Lines are read in blocks, never held whole, so
memory depends on the block size, never on the file or a line's length.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import IO

from jobport.errors import InputError
from jobport.formats.csvfile.layout import FIELD_LIMIT, ByteRange, CsvLayout


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

    Lines end in LF or CR-LF, until a line holds a bare carriage return (one
    outside quotes, followed by neither CR nor LF: a file pasted together from
    an old Mac one, say). The current range is then cut before the record
    holding that line, and every range from it on is cut at any line end and
    marked ``cr_lines``, for the chunks to read them so (see
    :func:`_plan_any_line_ends`). What comes before is counted on LF alone
    whatever the range size, so line numbers do not depend on it.
    """
    planner = _RangePlanner(layout, rows_per_range, max_field_bytes or FIELD_LIMIT)
    stream.seek(layout.data_offset)
    try:
        yield from _plan_lf_lines(stream, planner)
    except _BareCarriageReturn:
        yield from planner.switch_to_any_line_ends()
        stream.seek(planner.offset)
        yield from _plan_any_line_ends(stream, planner)
    yield from planner.finish()


class _BareCarriageReturn(Exception):
    """A line holds a CR that ends a line of its own: planning on LF alone would be wrong."""


def _plan_lf_lines(stream: IO[bytes], planner: _RangePlanner) -> Iterator[ByteRange]:
    """Count lines ending in LF (or CR-LF); raises at the first line with a bare CR."""
    # A line that runs past its block is counted as it is read, never held: a line
    # as long as the file (a field over every limit, no line breaks) costs a block.
    begun: tuple[int, int, bool] | None = None
    after_cr = False  # the begun line's last piece ends in a CR
    while block := stream.read(_PLAN_BLOCK):
        suspect = b"\r" in block and _BARE_CR.search(block) is not None
        if begun is not None:
            end = block.find(b"\n") + 1
            piece = block[:end] if end else block
            quoted = planner.open_quote ^ bool(begun[1] & 1)
            if (suspect or after_cr) and _holds_bare_cr(piece, after_cr, quoted):
                raise _BareCarriageReturn
            begun, after_cr = _grown(begun, piece), piece.endswith(b"\r")
            if not end:
                continue
            yield from planner.count(*begun)
            begun, block = None, block[end:]
        end = block.rfind(b"\n") + 1
        whole, partial = block[:end], block[end:]
        if whole:
            if not suspect and planner.plain(whole):
                yield from planner.count_block(whole)
            else:
                for raw in io.BytesIO(whole):
                    if suspect and _holds_bare_cr(raw, False, planner.open_quote):
                        raise _BareCarriageReturn
                    yield from planner.count_line(raw)
        if partial:
            if suspect and _holds_bare_cr(partial, False, planner.open_quote):
                raise _BareCarriageReturn
            begun, after_cr = _grown(_NO_LINE, partial), partial.endswith(b"\r")
    if begun is not None:
        yield from planner.count(*begun)


def _plan_any_line_ends(stream: IO[bytes], planner: _RangePlanner) -> Iterator[ByteRange]:
    """Count lines ending in LF, CR-LF or a bare CR, as Python's universal newlines do.

    Line by line, which is slower than the block path: only files whose lines
    change to bare CRs come here (a file of bare CRs throughout is rewritten
    with LF when it is prepared). The chunks read these ranges with the csv
    module, which ends lines the same way.
    """
    line = _NO_LINE
    for piece, ends in _any_line_pieces(stream):
        line = _grown(line, piece)
        if ends:
            yield from planner.count(*line)
            line = _NO_LINE
    if line != _NO_LINE:
        yield from planner.count(*line)


def _any_line_pieces(stream: IO[bytes]) -> Iterator[tuple[bytes, bool]]:
    """The rest of the stream in pieces that never cross a line end: (piece, ends a line).

    A CR at a block's end is a line end only once the next block shows it is
    not the first half of a CR-LF.
    """
    held_cr = False
    while block := stream.read(_PLAN_BLOCK):
        if held_cr and not block.startswith(b"\n"):
            yield b"", True
        start = 0
        for match in _ANY_LINE_END.finditer(block):
            if match.end() == len(block) and match.group() == b"\r":
                break
            yield block[start : match.end()], True
            start = match.end()
        held_cr = block.endswith(b"\r")
        if start < len(block):
            yield block[start:], False
    if held_cr:
        yield b"", True


def _holds_bare_cr(piece: bytes, after_cr: bool, quoted: bool) -> bool:
    """Whether ``piece`` of a line holds a carriage return that ends a line of its own: one
    outside a quoted field (``quoted``: whether one is open where the piece starts),
    followed by something other than CR or LF (``after_cr``: the line's last piece
    ended in a CR).

    A CR inside quotes is field content, as RFC 4180 has it. A CR before CR-LF is
    not one either: files saved twice on Windows end lines in CR-CR-LF, and reading
    those as a blank line after each record would double every line number.
    """
    if after_cr and not quoted and piece[:1] not in (b"", b"\r", b"\n"):
        return True
    if b"\r" not in piece:
        return False
    counted = 0
    for match in _BARE_CR.finditer(piece):
        quoted ^= bool(piece.count(b'"', counted, match.start()) & 1)
        counted = match.start()
        if not quoted:
            return True
    return False


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

#: A carriage return that ends a line of its own. A separate scan from ``_BLANK_LINE``:
#: an alternation of the two loses the regex engine's fast search for the first byte.
_BARE_CR = re.compile(rb"\r[^\r\n]")

#: A line end as Python's universal newlines see it.
_ANY_LINE_END = re.compile(rb"\r\n?|\n")

#: What a line counts before its first piece: no bytes, no quote, blank.
_NO_LINE = (0, 0, True)

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
        self.cr_lines = False

    def switch_to_any_line_ends(self) -> Iterator[ByteRange]:
        """From the start of the record being read on, count bare CRs as line ends: the
        current range is cut before that record (``offset`` is then where to read from).

        Called before the line holding the bare CR is counted. A record left open by
        the lines before it is forgotten and counted again from its start.
        """
        if self.open_quote:
            self.offset, self.line = self.record_start_offset, self.record_start_line - 1
            self.long_lines = [line for line in self.long_lines if line < self.record_start_line]
            self.open_quote = False
        if self.rows:
            yield self._cut()
        else:
            self.start, self.first_line = self.offset, self.line + 1
        self.cr_lines = True

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
        if self.cr_lines and length > FIELD_LIMIT:
            raise InputError(
                f"line {self.line:,} is over {FIELD_LIMIT:,} bytes, in the part of the file "
                "whose lines end in a bare carriage return (CR), where so long a line "
                "cannot be read in pieces; save the file with LF or CR-LF line ends"
            )
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
        cut = ByteRange(
            self.start,
            self.offset,
            self.first_line,
            self.rows,
            tuple(self.long_lines),
            self.cr_lines,
        )
        self.start, self.first_line, self.rows = self.offset, self.line + 1, 0
        self.long_lines = []
        return cut
