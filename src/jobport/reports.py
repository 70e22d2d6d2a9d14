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
from collections.abc import Iterator
from typing import IO, Any

from jobport.formats.cells import as_text, neutralise
from jobport.kinds.columns import ERROR_COLUMN, LINE_COLUMN, REPORT_PREFIX, is_report_column
from jobport.kinds.params import ImportParams
from jobport.store import JobStore, RunRecord
from jobport.store.prune import cap_note


def report_columns(run: RunRecord) -> list[str]:
    """The file's columns, then the line and the error. A run that stored only the first
    of its failures says so in the error column's name: the report still imports as
    it is (an extra column is ignored), and a note in a row of its own would not.

    A run of a corrected report (a retry) has the line and error columns of the
    report before: this report replaces them with its own, so that each round of
    fixes has one error column, saying what is wrong now, and imports again.
    """
    header = carried_columns(run)
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
    """The header, then one row per failure: its original values, its line and its error."""
    columns = report_columns(run)
    header = columns[:-2]
    yield [neutralise(name) for name in columns]
    for failure in store.iter_failures(run.id):
        raw = failure["raw"] or {}
        yield [report_cell(raw.get(name)) for name in header] + [
            report_cell(failure["line"]),
            report_cell(failure["message"]),
        ]


def write_report(store: JobStore, run: RunRecord, out: IO[str]) -> int:
    writer = csv.writer(out)
    count = -1
    for count, row in enumerate(report_rows(store, run)):  # noqa: B007
        writer.writerow(row)
    return max(count, 0)
