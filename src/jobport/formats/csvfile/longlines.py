"""Reading a range holding a line over the field limit without holding that line.

Planning notes such lines; reading takes them in pieces and decides their record
from the pieces alone, so a field as long as the file costs a block of memory.
"""

from __future__ import annotations

import codecs
from typing import IO

from jobport.formats.base import NUL_ROW, BadRecord, undecodable_row
from jobport.formats.csvfile.layout import ByteRange, CsvLayout, _over_the_limit
from jobport.formats.csvfile.planning import _line_pieces

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
    quoted field, when the file is not UTF-8, whose bytes are not its
    fields' sizes, or when lines end at bare CRs (which planning bounds to
    the field limit).
    """
    if (
        not byte_range.long_lines
        or byte_range.cr_lines
        or codecs.lookup(layout.encoding).name != "utf-8"
    ):
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
                current.finish(parts, refused, line, layout)
                current = None
            line += 1
    if current is not None:
        current.finish(parts, refused, line, layout)
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
        layout: CsvLayout,
    ) -> None:
        """The line's bytes into ``parts`` (itself, a blank line, or a stand-in) and why."""
        self._decode(b"", final=True)
        if self.blank:
            parts.append(self.ending)
        elif self.over is None:
            parts.extend(self.kept)
        else:
            parts.append(_STAND_IN + self.ending)
            refused[line] = _refusal(layout, self.over, self.limit, self.undecodable, self.nul)

    def _decode(self, data: bytes, *, final: bool = False) -> None:
        if not self.undecodable:
            try:
                self.decoder.decode(data, final=final)
            except UnicodeDecodeError:
                self.undecodable = True


def _refusal(layout: CsvLayout, index: int, limit: int, undecodable: bool, nul: bool) -> BadRecord:
    """Why a line read in pieces is refused, as the whole-range path would say it (its
    cells too long to keep, an undecodable one's are not shown)."""
    if undecodable:
        return undecodable_row()
    if nul:
        return NUL_ROW
    return _over_the_limit(layout.header, index, limit)
