"""What the API and the dashboard share to serve files: media types, headers, blocks.

Both faces stream export files and error reports the same way; keeping it here
lets the dashboard use it without reaching into the API router's internals.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from urllib.parse import quote

from starlette.responses import StreamingResponse

from jobport.engine import Jobport
from jobport.formats import FORMATS
from jobport.reports import report_rows
from jobport.service import ResultFile
from jobport.store import RunRecord

DOWNLOAD_BLOCK = 1 << 20
CSV_FLUSH_BYTES = 64 * 1024


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


def error_report_response(engine: Jobport, run: RunRecord) -> StreamingResponse:
    """A run's rejected rows as a CSV attachment that can be corrected and imported again."""
    return StreamingResponse(
        report_csv_blocks(engine, run),
        media_type="text/csv; charset=utf-8",
        headers=attachment_headers(f"{run.type}-{run.id[:8]}-failures.csv"),
    )


def result_file_response(engine: Jobport, found: ResultFile) -> StreamingResponse:
    """A run's result file (checked by the service to be there) as an attachment."""
    headers = attachment_headers(found.filename)
    if found.size is not None:
        headers["Content-Length"] = str(found.size)
    return StreamingResponse(
        file_blocks(engine, found.key),
        media_type=FORMATS.media_type(found.run.format or ""),
        headers=headers,
    )
