"""The error report of a run: the original columns plus where and why each row failed.

Once corrected, the report imports like any file of the same type (the added
columns are ignored), optionally as a retry linked to the original run.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import IO

from jobport.store import JobStore, RunRecord

LINE_COLUMN = "line"
ERROR_COLUMN = "error"


def report_columns(run: RunRecord) -> list[str]:
    header = list(run.params.get("layout", {}).get("header", []))
    extra = []
    for name in (LINE_COLUMN, ERROR_COLUMN):
        extra.append(f"jobport_{name}" if name in {h.lower() for h in header} else name)
    return header + extra


def report_rows(store: JobStore, run: RunRecord) -> Iterator[list[str]]:
    columns = report_columns(run)
    header = columns[:-2]
    yield columns
    for failure in store.iter_failures(run.id):
        raw = failure["raw"] or {}
        yield [str(raw.get(name, "")) for name in header] + [
            str(failure["line"] or ""),
            failure["message"],
        ]


def write_report(store: JobStore, run: RunRecord, out: IO[str]) -> int:
    writer = csv.writer(out)
    count = -1
    for count, row in enumerate(report_rows(store, run)):  # noqa: B007
        writer.writerow(row)
    return max(count, 0)
