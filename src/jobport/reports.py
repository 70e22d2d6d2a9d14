"""The error report of a run: the original columns plus where and why each row failed.

Once corrected, the report imports like any file of the same type (the added
columns are ignored), optionally as a retry linked to the original run.

The rows come from uploads anyone may have written, and an admin opens other
users' reports in a spreadsheet: every text cell is neutralised as exports
neutralise theirs, and importing the corrected report undoes it (see
``formats.cells``). :func:`report_rows` builds the cells for every face (CLI,
API, dashboard), so none can write them otherwise.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable, Iterator
from typing import IO, Any

from jobport.formats.cells import as_text, neutralise
from jobport.kinds.columns import ERROR_COLUMN, LINE_COLUMN, REPORT_PREFIX, is_report_column
from jobport.kinds.params import ImportParams
from jobport.store import JobStore, RunRecord
from jobport.store.prune import cap_note

#: Written first in a report file: a UTF-8 byte order mark. A report is fixed in a
#: spreadsheet, and Excel reads a CSV without one in the system's code page: "Müller"
#: shows as "MÃ¼ller", and a fix saved from there would store it so. The import reads
#: the mark and leaves it out. Standard output gets none (a pipe is not a spreadsheet).
UTF8_BOM = "\ufeff"


def report_delimiter(run: RunRecord) -> str:
    """The report's delimiter: a CSV file's own (a semicolon file from a European Excel
    comes back with semicolons, which that Excel splits into columns), else a comma."""
    delimiter = (run.params.get("layout") or {}).get("delimiter")
    if run.format == "csv" and isinstance(delimiter, str) and len(delimiter) == 1:
        return delimiter
    return ","


def report_columns(run: RunRecord, header: list[str] | None = None) -> list[str]:
    """The file's columns (``header``, else :func:`carried_columns`), then the line and
    the error. A run that stored only the first of its failures says so in the error
    column's name: the report still imports as it is (an extra column is ignored), and a
    note in a row of its own would not.

    A run of a corrected report (a retry) has the line and error columns of the
    report before: this report replaces them with its own, so that each round of
    fixes has one error column, saying what is wrong now, and imports again.
    """
    header = carried_columns(run) if header is None else header
    extra = []
    for name in (LINE_COLUMN, ERROR_COLUMN):
        extra.append(f"{REPORT_PREFIX}{name}" if name in {h.lower() for h in header} else name)
    note = cap_note(run.params)
    if note is not None:
        extra[-1] = f"{extra[-1]} ({note})"
    return header + extra


def carried_columns(run: RunRecord) -> list[str]:
    """The file's columns the report carries: all but those an earlier report added that
    fed no field (:func:`~jobport.kinds.columns.is_report_column`)."""
    header = ImportParams.header_of(run.params)
    fed = {index for index, _ in run.params.get("columns") or []}
    return [name for i, name in enumerate(header) if i in fed or not is_report_column(name)]


def report_cell(value: Any) -> str:
    """A cell of the report: a blank for nothing, text neutralised, a number (from a typed
    source such as JSON Lines) as the text a CSV holds for it, which no spreadsheet runs."""
    if isinstance(value, str):
        return neutralise(value)
    return as_text(value) or ""


def report_rows(store: JobStore, run: RunRecord) -> Iterator[list[str]]:
    """The header, then one row per failure: its original values, its line and its error.

    A run read from no file (a sync's pages, an undo) has no header of its own: the
    columns are those of its first failure's values, which a sync keeps whole.
    """
    failures = store.iter_failures(run.id)
    first = next(failures, None)
    header = carried_columns(run)
    if not header and first is not None:
        header = [str(name) for name in first["raw"] or {}]
    columns = report_columns(run, header)
    yield [neutralise(name) for name in columns]
    for failure in itertools.chain([first] if first is not None else [], failures):
        raw = failure["raw"] or {}
        yield [report_cell(raw.get(name)) for name in header] + [
            report_cell(failure["line"]),
            report_cell(failure["message"]),
        ]


def write_report(store: JobStore, run: RunRecord, out: IO[str]) -> int:
    """Write the report as CSV in its dialect (:func:`report_delimiter`); returns how many
    failed rows it holds. The caller writes :data:`UTF8_BOM` first to a file."""
    return write_rows(report_rows(store, run), out, report_delimiter(run))


def write_rows(rows: Iterable[list[str]], out: IO[str], delimiter: str = ",") -> int:
    """Write a report's rows as CSV; returns how many failed rows (the header aside)."""
    writer = csv.writer(out, delimiter=delimiter)
    count = -1
    for count, row in enumerate(rows):  # noqa: B007
        writer.writerow(row)
    return max(count, 0)
