"""The file a fix run imports: the fixed rows as CSV, and how the run is to read it.

The fixed rows are written as a CSV upload, so the fix run goes through the
dispatcher, the planner and the chunks like any import, and its source can be
read again like any upload (a retry, a resume). Its header is the columns that
fed a field in the original file, named as that file named them, in the row
model's field order, then one more column, ``original_line``: each row's line
in the file it first came from. That column feeds no field; the fix run keeps
it with each row it rejects, so its failures and its error report name the
original lines, and a fix of a fix carries the first file's lines on.

Cells are neutralised as the error report's are (``formats.cells``), and the
CSV reader undoes it, so a value starting with ``=`` arrives as it left.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

from jobport.fixes.rows import RowShape
from jobport.formats.cells import neutralise
from jobport.kinds.params import RunParams

#: Read options that describe the original file's bytes and layout, not its values:
#: the fix file is UTF-8, comma separated, with its header on the first line.
_FILE_ONLY = frozenset({"encoding", "delimiter", "sheet", "header_row", "strict_columns"})
#: Past this many bytes the fix file being written moves from memory to a temporary file.
_IN_MEMORY = 8 << 20


def fix_file(shape: RowShape, pages: Iterable[list[dict[str, Any]]]) -> tuple[IO[bytes], int]:
    """The fix file of the rows in ``pages`` (stored rows with their cells), rewound, and
    how many rows it holds. Memory stays bounded: past a few MiB it is a temporary file."""
    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_IN_MEMORY)  # noqa: SIM115
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    writer = csv.writer(text)
    count = 0
    for row in fix_rows(shape, pages):
        writer.writerow(row)
        count += 1
    text.flush()
    text.detach()
    out.seek(0)
    return out, count - 1


def fix_rows(shape: RowShape, pages: Iterable[list[dict[str, Any]]]) -> Iterator[list[str]]:
    """The header, then each row: its values as fixed and its original line."""
    yield [neutralise(name) for name in (*shape.columns, shape.fix_line_column())]
    for page in pages:
        for row in page:
            values = shape.current(row)
            line = shape.original_line(row)
            yield [neutralise(values.get(name, "")) for name in shape.columns] + [
                "" if line is None else str(line)
            ]


def fix_read_options(shape: RowShape) -> dict[str, Any]:
    """The original run's read options that say how values are written (decimals, dates,
    true/false words), and its header mapping, as they apply to the fix file; the
    original-line column is mapped to no field, whatever its name resembles."""
    given: Mapping[str, Any] = RunParams.of(shape.run.params).read
    read = {k: v for k, v in given.items() if k not in _FILE_ONLY and k != "mapping"}
    kept = set(shape.columns)
    mapping = {k: v for k, v in (given.get("mapping") or {}).items() if k.strip() in kept}
    read["mapping"] = {**mapping, shape.fix_line_column(): ""}
    return read


def fix_file_name(shape: RowShape) -> str:
    """What the fix run's file is called: after the original's, saying what it is."""
    stem = (shape.run.source_name or shape.run.type).rsplit(".", 1)[0]
    return f"{stem}-fixes-{shape.run.id[:8]}.csv"


__all__ = ["fix_file", "fix_file_name", "fix_read_options", "fix_rows"]
