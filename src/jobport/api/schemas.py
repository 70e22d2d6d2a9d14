"""The JSON shapes of the HTTP API, declared once so OpenAPI documents them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from jobport.kinds.params import RunParams
from jobport.registry import JobType
from jobport.service import FILE_KINDS, ResultFile
from jobport.store import RunRecord


class Column(BaseModel):
    name: str
    type: str = Field(description="JSON Schema type, with the format after a colon if any.")
    required: bool
    description: str = ""


class JobTypeOut(BaseModel):
    """Everything a client needs to build the form that starts a run of this type."""

    type: str
    label: str
    kind: str
    description: str
    formats: list[str]
    strategy: str = Field(description="How progress is followed: websocket, polling or none.")
    broadcast: bool
    chunk_size: int
    roles: list[str] = Field(description="Roles allowed to start it (empty: everyone).")
    can_start: bool = Field(description="Whether the caller may start it.")
    options_schema: dict[str, Any] = Field(description="JSON Schema of the type's options.")
    columns: list[Column] = Field(description="The columns a file of this type may carry.")

    @classmethod
    def of(cls, job_type: JobType, *, can_start: bool) -> JobTypeOut:
        summary = job_type.summary()
        return cls(
            type=job_type.type,
            label=job_type.label,
            kind=job_type.kind,
            description=job_type.description,
            formats=list(job_type.formats),
            strategy=job_type.strategy,
            broadcast=job_type.broadcast,
            chunk_size=job_type.chunk_size,
            roles=summary["roles"],
            can_start=can_start,
            options_schema=job_type.options_json_schema(),
            columns=[Column(**column) for column in job_type.columns()],
        )


class RunLinks(BaseModel):
    """Where to go on from a run; a route that would refuse this run is null."""

    self: str
    failures: str | None = Field(
        description="The rows it rejected; null for exports and reports, which reject none."
    )
    events: str | None = Field(
        description="Server-sent events (text/event-stream); null unless the type's "
        "strategy is `websocket`."
    )
    ws: str | None = Field(
        description="WebSocket of the run's events; null unless the type's strategy is `websocket`."
    )
    download: str | None = Field(
        default=None, description="The export's file; null until there is one to download."
    )

    @classmethod
    def of(cls, run: RunRecord, prefix: str) -> RunLinks:
        """The links of ``run`` under the API's path ``prefix`` (built unvalidated: hot path)."""
        base = f"{prefix}/jobs/{run.id}"
        live = run.strategy == "websocket"
        return cls.model_construct(
            self=base,
            failures=None if run.kind in FILE_KINDS else f"{base}/failures",
            events=f"{base}/events" if live else None,
            ws=f"{base}/ws" if live else None,
            download=f"{prefix}/exports/{run.id}/download" if run.result_key else None,
        )


class RunOut(BaseModel):
    """One run: its counters, its state and where to follow it."""

    id: str
    type: str
    kind: str
    status: str
    strategy: str
    broadcast: bool
    total: int | None
    processed: int
    failed: int
    created: int | None = Field(
        default=None,
        description="Rows the import created (a dry run: would create); null for other kinds.",
    )
    updated: int | None = Field(default=None, description="Rows the import updated.")
    unchanged: int | None = Field(
        default=None, description="Rows the import matched that already held these values."
    )
    dry_run: bool = Field(default=False, description="Validated only: nothing was written.")
    owner: str | None
    options: dict[str, Any]
    format: str | None
    source_name: str | None
    result: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    error: str | None
    warnings: list[str] = Field(
        default_factory=list,
        description="What the run said of its file without refusing it, e.g. ignored columns.",
    )
    retry_of: str | None
    retried_by: list[str]
    chunks_total: int
    chunks_done: int
    seq: int = Field(description="Increases with every event of the run.")
    rows_per_second: float | None
    eta_seconds: float | None
    links: RunLinks

    @classmethod
    def of(cls, run: RunRecord, prefix: str) -> RunOut:
        """The run as the API shows it, under the API's path ``prefix``.

        Built with ``model_construct``: every value comes typed from the
        store's record, so validating it again would only cost time on the
        API's hottest path (a run polled by every open browser tab).
        """
        return cls.model_construct(
            id=run.id,
            type=run.type,
            kind=run.kind,
            status=run.status,
            strategy=run.strategy,
            broadcast=run.broadcast,
            total=run.total,
            processed=run.processed,
            failed=run.failed,
            created=run.created,
            updated=run.updated,
            unchanged=run.unchanged,
            dry_run=run.dry_run,
            owner=run.owner,
            options=RunParams.of(run.params).options,
            format=run.format,
            source_name=run.source_name,
            result=run.result,
            created_at=run.created_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
            duration_seconds=run.duration_seconds,
            error=run.error,
            warnings=run.warnings,
            retry_of=run.retry_of,
            retried_by=list(run.retried_by),
            chunks_total=run.chunks_total,
            chunks_done=run.chunks_done,
            seq=run.seq,
            rows_per_second=run.rows_per_second,
            eta_seconds=run.eta_seconds,
            links=RunLinks.of(run, prefix),
        )


class Page(BaseModel):
    total: int = Field(description="How many items match in all.")
    limit: int
    offset: int


class RunPage(Page):
    items: list[RunOut]
    next: str | None = Field(
        default=None,
        description="Pass as `after` for the page after this one (keyset: as fast at any "
        "depth, and steady while new runs arrive); null on the last page.",
    )


class FailureOut(BaseModel):
    id: int = Field(
        description="The rejected row's id: `/api/jobs/{id}/review/rows/{failure_id}` fixes it."
    )
    line: int | None = Field(description="Line of the file (the header is line 1).")
    column: str | None
    message: str
    errors: list[dict[str, Any]] | None
    raw: dict[str, Any] | None = Field(description="The row's original values.")
    chunk_no: int


class FailurePage(Page):
    items: list[FailureOut]


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="An export job type.")
    format: str | None = Field(default=None, description="One of the type's formats.")
    options: dict[str, Any] = Field(default_factory=dict)


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="A sync job type.")
    options: dict[str, Any] = Field(default_factory=dict)
    full: bool = Field(
        default=False,
        description="Start from the beginning of the source instead of after the page "
        "the type synced last.",
    )


class ExportOut(BaseModel):
    id: str
    type: str
    format: str | None
    status: str
    filename: str
    size: int | None = Field(description="Bytes of the file.")
    rows: int | None
    finished_at: datetime | None
    expires_at: datetime | None
    expired: bool
    download: str

    @classmethod
    def of(cls, found: ResultFile, prefix: str) -> ExportOut:
        run = found.run
        return cls(
            id=run.id,
            type=run.type,
            format=run.format,
            status=run.status,
            filename=found.filename,
            size=found.size,
            rows=found.rows,
            finished_at=run.finished_at,
            expires_at=found.expires_at,
            expired=found.expired,
            download=f"{prefix}/exports/{run.id}/download",
        )


class ExportPage(Page):
    items: list[ExportOut]


class Health(BaseModel):
    status: Literal["ok"]
    database: Literal["ok", "not checked"] = "not checked"
