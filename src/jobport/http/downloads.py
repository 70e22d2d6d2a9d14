"""What the API and the dashboard share to serve files: media types, headers, blocks.

Both faces stream export files and error reports the same way; keeping it here
lets the dashboard use it without reaching into the API router's internals.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from urllib.parse import quote

from starlette.responses import StreamingResponse

from jobport.formats import FORMATS
from jobport.principal import Principal
from jobport.reports import UTF8_BOM
from jobport.service import JobService, ResultFile

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


def csv_blocks(
    rows: Iterable[list[str]], *, delimiter: str = ",", bom: bool = False
) -> Iterator[bytes]:
    """Rows as CSV, in blocks (one thread hop per block, not per row); with ``bom``, a
    UTF-8 byte order mark first (:data:`~jobport.reports.UTF8_BOM`)."""
    buffer = io.StringIO()
    if bom:
        buffer.write(UTF8_BOM)
    writer = csv.writer(buffer, delimiter=delimiter)
    for row in rows:
        writer.writerow(row)
        if buffer.tell() >= CSV_FLUSH_BYTES:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def error_report_response(service: JobService, who: Principal, run_id: str) -> StreamingResponse:
    """A run's rejected rows as a CSV attachment that can be corrected and imported again."""
    run = service.run(who, run_id)
    return StreamingResponse(
        csv_blocks(
            service.error_report(who, run.id),
            delimiter=service.error_report_delimiter(run),
            bom=True,
        ),
        media_type="text/csv; charset=utf-8",
        headers=attachment_headers(service.error_report_name(run)),
    )


def result_file_response(service: JobService, found: ResultFile) -> StreamingResponse:
    """A run's result file (checked by the service to be there) as an attachment."""
    headers = attachment_headers(found.filename)
    if found.size is not None:
        headers["Content-Length"] = str(found.size)
    return StreamingResponse(
        service.result_blocks(found),
        media_type=FORMATS.media_type(found.run.format or ""),
        headers=headers,
    )
