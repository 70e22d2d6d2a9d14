"""What the API and the dashboard share to serve files: media types, headers, blocks.

Both faces stream export files and error reports the same way; keeping it here
lets the dashboard use it without reaching into the API router's internals.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from starlette.responses import StreamingResponse

from jobport.api.schemas import ExportOut
from jobport.engine import Jobport
from jobport.reports import report_rows
from jobport.store import RunRecord

DOWNLOAD_BLOCK = 1 << 20
CSV_FLUSH_BYTES = 64 * 1024

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "jsonl": "application/x-ndjson",
    "ndjson": "application/x-ndjson",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
}


def attachment_headers(filename: str) -> dict[str, str]:
    """Download headers: an ASCII-safe name for old clients, the real one (RFC 6266) for
    the rest, and no sniffing or caching of a user's file."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", filename).strip("._") or "download"
    disposition = f"attachment; filename=\"{safe}\"; filename*=UTF-8''{quote(filename)}"
    return {
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    }


def report_csv_blocks(engine: Jobport, run: RunRecord) -> Iterator[bytes]:
    """The error report as CSV, in blocks (one thread hop per block, not per row)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in report_rows(engine.store, run):
        writer.writerow(row)
        if buffer.tell() >= CSV_FLUSH_BYTES:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def file_blocks(engine: Jobport, key: str) -> Iterator[bytes]:
    with engine.files.open(key) as handle:
        while block := handle.read(DOWNLOAD_BLOCK):
            yield block


def export_out(engine: Jobport, run: RunRecord, prefix: str) -> ExportOut:
    """Size, rows and expiry of an export, from what its kind recorded in ``run.result``."""
    result = run.result or {}
    extension = run.format or "bin"
    filename = str(result.get("filename") or f"{run.type}-{run.id[:8]}.{extension}")
    size = result.get("size", result.get("bytes"))
    rows = result.get("rows", run.processed)
    expires_at = parse_time(result.get("expires_at"))
    if expires_at is None and run.finished_at is not None:
        expires_at = run.finished_at + timedelta(hours=engine.settings.export_ttl_hours)
    return ExportOut(
        id=run.id,
        type=run.type,
        format=run.format,
        status=run.status,
        filename=filename,
        size=int(size) if isinstance(size, int | float) else None,
        rows=int(rows) if isinstance(rows, int | float) else None,
        finished_at=run.finished_at,
        expires_at=expires_at,
        expired=expires_at is not None and expires_at <= datetime.now(UTC),
        download=f"{prefix}/exports/{run.id}/download",
    )


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return aware(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return aware(datetime.fromisoformat(value))
    return None


def aware(moment: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite hands back naive ones)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def error_report_response(engine: Jobport, run: RunRecord) -> StreamingResponse:
    """A run's rejected rows as a CSV attachment that can be corrected and imported again."""
    return StreamingResponse(
        report_csv_blocks(engine, run),
        media_type="text/csv; charset=utf-8",
        headers=attachment_headers(f"{run.type}-{run.id[:8]}-failures.csv"),
    )


def result_file_response(engine: Jobport, run: RunRecord) -> StreamingResponse | None:
    """A finished run's result file as an attachment; None when it expired or is gone.

    The caller has checked that the run has a ``result_key`` and words its own
    refusal, since the API and the dashboard answer a missing file differently.
    """
    assert run.result_key
    info = export_out(engine, run, "")
    if info.expired or not engine.files.exists(run.result_key):
        return None
    headers = attachment_headers(info.filename)
    if info.size is not None:
        headers["Content-Length"] = str(info.size)
    return StreamingResponse(
        file_blocks(engine, run.result_key),
        media_type=MEDIA_TYPES.get(run.format or "", "application/octet-stream"),
        headers=headers,
    )
