"""How numbers, times and states read on the dashboard (Jinja filters)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment

from jobport.kinds.template import TemplateColumn, template_columns
from jobport.registry import JobType

STATUS_LABELS = {
    "queued": "Queued",
    "running": "Running",
    "completed": "Completed",
    "completed_with_errors": "Completed with errors",
    "failed": "Failed",
    "cancelled": "Cancelled",
}


def number(value: Any) -> str:
    """``12,345``; a dash for nothing."""
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def total(value: Any) -> str:
    """A report's total: whole numbers as counts, others to the cent (sums of amounts)."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return number(value)


def rate(value: float | None) -> str:
    """Rows per second, rounded to what a person reads."""
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def duration(seconds: float | None) -> str:
    """``850 ms``, ``12.4 s``, ``3 min 05 s``, ``2 h 07 min``; a dash for nothing."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def size(value: Any) -> str:
    """Bytes in the unit that reads best (1 kB = 1,000 bytes, as file managers show)."""
    if value is None:
        return "—"
    amount = float(value)
    for unit in ("bytes", "kB", "MB", "GB"):
        if amount < 1000 or unit == "GB":
            return f"{amount:,.0f} {unit}" if unit == "bytes" else f"{amount:,.1f} {unit}"
        amount /= 1000
    return f"{amount:,.1f} TB"  # pragma: no cover - the loop returns


def when(value: datetime | None) -> str:
    """A moment in UTC, to the second (the dashboard states its time zone)."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value is not None else ""


def percent(value: float | None) -> str:
    """A share of runs in whole percent, except that some is never read as none: one
    failed run in 300 is "<1%" (not a red "0%"), 299 succeeded in 300 ">99%" (not "100%")."""
    if value is None:
        return "—"
    shown = f"{value:.0%}"
    if value > 0 and shown == "0%":
        return "<1%"
    if value < 1 and shown == "100%":
        return ">99%"
    return shown


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status.replace("_", " ").capitalize())


def plain(value: Any) -> str:
    """An option's value as a person types it: JSON spelling, strings without quotes."""
    return value if isinstance(value, str) else json.dumps(value)


def short_id(run_id: str) -> str:
    return run_id[:8]


def file_columns(job_type: JobType) -> list[TemplateColumn]:
    """An import type's columns as its template describes them: each one's kind in words
    ("whole number, at least 0"), not the API's JSON Schema type ("integer")."""
    row = job_type.row_schema
    return template_columns(row) if job_type.kind == "import" and row is not None else []


def install(env: Environment) -> None:
    env.filters.update(
        number=number,
        total=total,
        rate=rate,
        duration=duration,
        size=size,
        when=when,
        iso=iso,
        percent=percent,
        status_label=status_label,
        short_id=short_id,
        plain=plain,
        file_columns=file_columns,
    )
