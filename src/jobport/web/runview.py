"""How a run reads on a page: its progress, chunk grid, file and what it still waits for.

Pure functions of the run (and its chunks) as the service returns them, shared
by the home, history, run and downloads pages, so each figure is worked out in
one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from jobport.kinds.params import RunParams
from jobport.kinds.syncs import Syncer
from jobport.lifecycle import COMPLETED_STATUSES, ChunkStatus
from jobport.registry import JobType
from jobport.service import FILE_KINDS, JobService
from jobport.store import RunRecord

#: Most cells the chunk grid draws; beyond that one cell stands for several chunks.
GRID_CELLS = 600
#: How long a run page waits for a completed export's file to be recorded.
FILE_WAIT_SECONDS = 120
#: What a person reads of a chunk a worker still holds after its run stopped.
STOPPING = "stopping"
#: The status a grid cell of several chunks shows: the first of these any of them has,
#: else done (a failure is never hidden behind the chunks that went well).
GRID_PRECEDENCE: tuple[str, ...] = (
    ChunkStatus.FAILED,
    ChunkStatus.RUNNING,
    STOPPING,
    ChunkStatus.PENDING,
    ChunkStatus.CANCELLED,
)


@dataclass(frozen=True)
class ExportLink:
    """What the run and downloads pages show of a result file."""

    filename: str
    size: int | None
    rows: int | None
    expires_at: datetime | None
    expired: bool
    url: str


def result_link(service: JobService, run: RunRecord, url: str) -> ExportLink | None:
    """The run's result file as a link to ``url``; None while (or when) it has none."""
    if not run.result_key:
        return None
    info = service.result_file(run)
    return ExportLink(
        filename=info.filename,
        size=info.size,
        rows=info.rows,
        expires_at=info.expires_at,
        expired=info.expired,
        url=url,
    )


def progress(run: RunRecord) -> dict[str, Any]:
    """How far a run got, for a ``<progress>`` element: value, max and a percentage."""
    if run.status in COMPLETED_STATUSES:
        return {"value": 1, "max": 1, "percent": 100}
    if run.total:
        value = min(run.processed, run.total)
        return {"value": value, "max": run.total, "percent": math.floor(100 * value / run.total)}
    if run.chunks_total:
        done = min(run.chunks_done, run.chunks_total)
        return {
            "value": done,
            "max": run.chunks_total,
            "percent": math.floor(100 * done / run.chunks_total),
        }
    return {"value": None, "max": 1, "percent": None}


def always_full(job_type: JobType) -> bool:
    """A type that deletes the rows its source lacks must read all of it, whatever is asked."""
    return isinstance(job_type.handler, Syncer) and job_type.handler.delete_missing


def sync_from(run: RunRecord, job_type: JobType | None) -> str | None:
    """Where a sync run started reading: once it runs, nothing else shows whether it was
    asked to start from the beginning."""
    if run.kind != "sync":
        return None
    full = bool(RunParams.of(run.params).read.get("full"))
    if full or (job_type is not None and always_full(job_type)):
        return "from the beginning"
    return "after the last page synced"


def awaiting_file(run: RunRecord) -> bool:
    """Whether a completed export or report is still assembling its file.

    Its last chunk commits (and the run reads ``completed``) before the file is
    put together and recorded, so for a short while the run has no file yet;
    the page keeps refreshing through that window (a run without chunks never
    gets a file).
    """
    if run.kind not in FILE_KINDS or run.result_key is not None:
        return False
    if run.status not in COMPLETED_STATUSES or not run.chunks_total:
        return False
    ended = run.finished_at or datetime.now(UTC)
    return datetime.now(UTC) - ended < timedelta(seconds=FILE_WAIT_SECONDS)


def as_shown(chunks: list[dict[str, Any]], run: RunRecord) -> list[dict[str, Any]]:
    """Chunks with the status a person should read: a chunk of a stopped run that a
    worker still holds is "stopping" (it finishes or is set aside), not "running"."""
    if not run.finished:
        return chunks
    return [c | {"status": STOPPING} if c["status"] == ChunkStatus.RUNNING else c for c in chunks]


def file_problem(run: RunRecord) -> str | None:
    """Why a completed export or report has no file to download, if it never will."""
    if run.kind not in FILE_KINDS or run.status not in COMPLETED_STATUSES:
        return None
    if run.result_key or awaiting_file(run) or not run.chunks_total:
        return None
    error = (run.result or {}).get("error")
    if error:
        return f"The file could not be made: {error}. Start the {run.kind} again."
    return f"The file was not recorded; start the {run.kind} again."


def report_summary(run: RunRecord) -> dict[str, Any] | None:
    """A report's row count and totals, as its kind recorded them with its file."""
    if run.kind != "report":
        return None
    summary = (run.result or {}).get("summary")
    if not isinstance(summary, dict):
        return None
    totals = summary.get("totals")
    return {"rows": summary.get("rows"), "totals": totals if isinstance(totals, dict) else {}}


def shows_rejected(run: RunRecord) -> bool:
    """Whether rows can be rejected by this kind: an export or report reads the
    application's own rows, so an empty "Rejected rows" section there says nothing."""
    return run.kind not in FILE_KINDS or bool(run.failed)


def grid(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cells of the chunk grid; past GRID_CELLS chunks, each cell stands for several."""
    per_cell = max(1, math.ceil(len(chunks) / GRID_CELLS))
    return [_cell(chunks[start : start + per_cell]) for start in range(0, len(chunks), per_cell)]


def _cell(group: list[dict[str, Any]]) -> dict[str, Any]:
    statuses = {c["status"] for c in group}
    status = next((s for s in GRID_PRECEDENCE if s in statuses), ChunkStatus.DONE)
    first, last = group[0]["no"], group[-1]["no"]
    name = f"chunk {first}" if first == last else f"chunks {first} to {last}"
    rows = sum(c["rows"] or 0 for c in group)
    failed = sum(c["failed"] or 0 for c in group)
    error = next((c["error"] for c in group if c.get("error")), None)
    tip = f"{name}: {status}, {rows:,} rows" + (f", {failed:,} rejected" if failed else "")
    if error:
        tip += f" — {error}"
    return {"status": status, "title": tip}
