"""What every chunk of a CSV shares: its layout (encoding, delimiter, header, where the
data starts), the byte ranges planning cuts, and the header read that finds the layout.

Kept apart from planning and reading so both depend on it and not on each other.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from jobport.errors import InputError
from jobport.formats.base import BadRecord
from jobport.formats.cells import unneutralise
from jobport.formats.csvfile.encoding import detect_bom

#: Largest record the reader accepts, so a stray quote cannot swallow a whole file.
FIELD_LIMIT = 16 << 20


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
    #: Lines end at a bare CR too, not only at LF (see ``planning.plan_ranges``).
    cr_lines: bool = False


def read_layout(
    stream: IO[bytes], *, encoding: str, delimiter: str | None, header_row: int | None = None
) -> CsvLayout:
    """Read the header of a CSV whose encoding splits on b"\\n" (see ``transcode``): on
    line ``header_row`` (1-based; the lines above it, a title, are skipped), else line 1."""
    head = stream.read(64 * 1024)
    _, bom_length = detect_bom(head)
    if not head[bom_length:].strip():
        raise InputError("the file is empty: expected a header line and rows")
    stream.seek(bom_length)
    lines = _LineSource(stream, encoding, bom_length)
    line = header_row or 1
    reader = csv.reader(lines, delimiter=delimiter or _sniff_delimiter(head, encoding, line))
    try:
        while reader.line_num < line - 1:  # line_num: the lines read, a quoted break too
            next(reader)
        header = next(reader)
    except csv.Error as exc:
        where = "header on line 1" if line == 1 else f"line {reader.line_num:,}"
        raise InputError(f"malformed {where}: {_csv_reason(exc)}") from None
    except StopIteration:
        if line > 1:
            raise InputError(f"the file has no line {line:,}: there is no header there") from None
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


def _over_the_limit(header: list[str], index: int, limit: int) -> BadRecord:
    name = header[index].strip() if index < len(header) else f"#{index + 1}"
    return BadRecord(
        f"{name}: the field is over the limit of {limit:,} bytes "
        "(raise it with the type's limits or JOBPORT_MAX_FIELD_BYTES)"
    )


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


def _sniff_delimiter(head: bytes, encoding: str, line: int = 1) -> str:
    """The delimiter the header line (``line``, if within ``head``) uses most."""
    lines = head.split(b"\n", line)
    first_line = lines[min(line, len(lines)) - 1].decode(encoding, "replace")
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
