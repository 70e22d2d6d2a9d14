"""The report kind: an aggregate query written to a file, with a summary on the run.

A report is small by nature (one row per group), so it runs as one chunk; its
file is assembled, stored and recorded exactly like an export's, so it is
downloaded the same way, and the run's result also carries a summary: the
row count and the totals of the columns the type names.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from jobport.errors import ConfigurationError
from jobport.kinds.base import ChunkTask, JobKind, Plan, PlanRequest
from jobport.kinds.export_rows import FETCH_ROWS, formatted_rows
from jobport.kinds.exports import (
    check_format,
    options_of,
    output_columns,
    plan_files,
    read_meta,
    store_result,
    write_part,
)
from jobport.kinds.params import FileParams
from jobport.kinds.reporter import Report
from jobport.store import ChunkOutcome, RunResult

if TYPE_CHECKING:
    from jobport.registry import JobType


class ReportKind(JobKind):
    name = "report"
    in_order = False
    finishes = True

    def plan(self, request: PlanRequest) -> Plan:
        report = _report(request.job_type)
        if report.format not in request.job_type.formats:
            raise ConfigurationError(
                f"report type '{request.job_type.type}': format '{report.format}' is not one of "
                f"its formats ({', '.join(request.job_type.formats)})"
            )
        fmt = check_format(request.job_type, request.format, report.format)
        query = report.select(request.options)
        output_columns(query, report.columns)
        missing = [name for name in report.totals if name not in query.selected_columns]
        if missing:
            raise ConfigurationError(
                f"report type '{request.job_type.type}': total column(s) {missing} are not "
                "selected by its query"
            )
        # One chunk, which needs nothing of its own: its spec is empty.
        params = plan_files(request.files, 1, fmt)
        return Plan(chunks=[{}], total=None, params=params.to_json())

    def run_chunk(self, task: ChunkTask) -> ChunkOutcome:
        report = _report(task.job_type)
        params = FileParams.of(task.run.params)
        query = report.select(options_of(task))
        chosen, columns = output_columns(query, report.columns)
        totals: dict[str, Any] = dict.fromkeys(report.totals, 0)
        with task.database.connect() as conn:
            result = conn.execution_options(yield_per=FETCH_ROWS).execute(query)
            names = list(result.keys())
            rows = _summed(result, names, totals)
            count = write_part(
                task.files,
                params.format,
                params.parts[0],
                params.parts_meta[0],
                columns,
                formatted_rows(_Rows(rows, names), chosen),
                meta_of=lambda: {"totals": {k: _number(v) for k, v in totals.items()}},
            )
        return ChunkOutcome(processed=count)

    def finish(self, task: ChunkTask) -> RunResult:
        report = _report(task.job_type)
        params = FileParams.of(task.run.params)
        # A file that cannot be made raises: the worker fails the run with the reason.
        query = report.select(options_of(task))
        _, columns = output_columns(query, report.columns)
        metas = read_meta(task.files, params)
        summary = {
            "rows": sum(int(m["rows"]) for m in metas),
            "totals": metas[0].get("totals", {}) if metas else {},
        }
        return store_result(
            files=task.files,
            job_type=task.job_type,
            columns=columns,
            parts=params,
            ttl=report.ttl,
            filename=report.filename,
            extra={"summary": summary},
        )


class _Rows:
    """Rows with the ``keys()`` of their result, for :func:`formatted_rows`."""

    def __init__(self, rows: Iterator[Any], names: list[str]) -> None:
        self._rows = rows
        self._names = names

    def keys(self) -> list[str]:
        return self._names

    def __iter__(self) -> Iterator[Any]:
        return self._rows


def _summed(result: Any, names: list[str], totals: dict[str, Any]) -> Iterator[Any]:
    positions = [(name, names.index(name)) for name in totals]
    for row in result:
        for name, position in positions:
            value = row[position]
            if value is not None:
                totals[name] += value
        yield row


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return value


def _report(job_type: JobType) -> Report:
    handler = job_type.handler
    if not isinstance(handler, Report):
        raise ConfigurationError(f"report type '{job_type.type}' needs a Report as its handler")
    return handler


__all__ = ["Report", "ReportKind"]
