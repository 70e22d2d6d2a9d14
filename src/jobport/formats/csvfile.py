"""CSV reading in byte ranges, so chunks of one file can be read in parallel.

Planning walks the file once with the csv module, noting the byte offset and
line number where every chunk starts; a chunk then seeks to its offset and
parses only its own bytes. Memory depends on the chunk size, never on the
file size.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from jobport.errors import InputError

#: Largest field the reader accepts, so a stray quote cannot swallow a whole file.
FIELD_LIMIT = 1 << 20

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


def detect_bom(head: bytes) -> tuple[str | None, int]:
    """The encoding a byte-order mark announces, and the mark's length."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding, len(bom)
    return None, 0


def is_line_splittable(encoding: str) -> bool:
    """Whether b"\\n" ends lines in this encoding (true of UTF-8 and single-byte codecs)."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise InputError(f"unknown encoding '{encoding}'") from None
    return not name.startswith(("utf-16", "utf-32")) and "\n".encode(name) == b"\n"


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
        raise InputError(f"malformed header on line 1: {exc}") from None
    except StopIteration:
        raise InputError("the file is empty: expected a header line and rows") from None
    if lines.bad_lines:
        raise InputError(f"the header is not valid {encoding}; pass the file's encoding")
    return CsvLayout(
        encoding=encoding,
        delimiter=reader.dialect.delimiter,
        header=[name.strip() for name in header],
        data_offset=lines.offset,
        header_lines=reader.line_num,
    )


def plan_ranges(stream: IO[bytes], layout: CsvLayout, rows_per_range: int) -> Iterator[ByteRange]:
    """Walk the records once and cut them into ranges of ``rows_per_range`` rows."""
    stream.seek(layout.data_offset)
    lines = _LineSource(stream, layout.encoding, layout.data_offset, lenient=True)
    reader = _reader(lines, layout)
    start, first_line, rows = layout.data_offset, layout.header_lines + 1, 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            line = layout.header_lines + reader.line_num
            raise InputError(f"malformed CSV at line {line}: {exc}") from None
        if not record:
            if rows == 0:
                start, first_line = lines.offset, layout.header_lines + reader.line_num + 1
            continue
        rows += 1
        if rows == rows_per_range:
            yield ByteRange(start, lines.offset, first_line, rows)
            start, first_line, rows = lines.offset, layout.header_lines + reader.line_num + 1, 0
    if rows:
        yield ByteRange(start, lines.offset, first_line, rows)


def read_range(
    stream: IO[bytes], layout: CsvLayout, byte_range: ByteRange
) -> Iterator[tuple[int, list[str] | None]]:
    """Yield (line number, fields) for each record of the range.

    Fields are None for a record that holds bytes invalid in the file's
    encoding: such a row is reported, never written as mojibake.
    """
    stream.seek(byte_range.start)
    data = stream.read(byte_range.end - byte_range.start)
    bad_lines: set[int] = set()
    try:
        text = data.decode(layout.encoding)
    except UnicodeDecodeError:
        text, bad_lines = _decode_lines(data, layout.encoding)
    reader = _reader(io.StringIO(text, newline=""), layout)
    previous = 0
    line_base = byte_range.first_line
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(f"malformed CSV at line {line_base + previous}: {exc}") from None
        first, previous = previous, reader.line_num
        if not record:
            continue
        if bad_lines and any(n in bad_lines for n in range(first, previous)):
            yield line_base + first, None
        else:
            yield line_base + first, record


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

    def __init__(
        self, stream: IO[bytes], encoding: str, offset: int, *, lenient: bool = False
    ) -> None:
        self._stream = stream
        self._encoding = encoding
        self._lenient = lenient
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
