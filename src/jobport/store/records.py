"""Plain values the store hands out: runs, chunk claims, chunk outcomes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from jobport.lifecycle import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    ChunkStatus,
    FailureLimits,
    RunStatus,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, RowMapping

__all__ = [
    "ACTIVE_STATUSES",
    "CHUNK_STATUSES",
    "FINAL_STATUSES",
    "RUN_STATUSES",
    "ChunkOutcome",
    "Claim",
    "Failure",
    "Refused",
    "RowCounts",
    "RunRecord",
    "RunResult",
    "Writer",
]

#: Every run status and every chunk status, in lifecycle order (filters, forms).
RUN_STATUSES: tuple[RunStatus, ...] = tuple(RunStatus)
CHUNK_STATUSES: tuple[ChunkStatus, ...] = tuple(ChunkStatus)


@dataclass(frozen=True)
class RunRecord:
    id: str
    type: str
    kind: str
    status: RunStatus
    strategy: str
    broadcast: bool
    total: int | None
    processed: int
    failed: int
    owner: str | None
    params: dict[str, Any]
    format: str | None
    source_key: str | None
    source_name: str | None
    result_key: str | None
    result: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    retry_of: str | None
    chunks_total: int
    chunks_done: int
    seq: int
    rows_per_second: float | None
    eta_seconds: float | None
    max_attempts: int
    dispatcher: str | None = None
    #: Rows the import created, updated, left unchanged (a dry run: would have); None
    #: for other kinds and for runs from before they were counted.
    created: int | None = None
    updated: int | None = None
    unchanged: int | None = None
    dry_run: bool = False
    retried_by: tuple[str, ...] = ()

    @classmethod
    def from_row(
        cls, row: Mapping[str, Any] | RowMapping, retried_by: tuple[str, ...] = ()
    ) -> RunRecord:
        values = {name: row[name] for name in cls.__dataclass_fields__ if name in row}
        values["status"] = RunStatus(values["status"])
        return cls(**values, retried_by=retried_by)

    @property
    def warnings(self) -> list[str]:
        """What planning said of the file without refusing it (columns it ignored)."""
        return list(self.params.get("warnings") or [])

    @property
    def finished(self) -> bool:
        return self.status.finished

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at
        if end is None:
            return None
        return (end - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: datetimes as ISO 8601 strings."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
        out["retried_by"] = list(self.retried_by)
        out["duration_seconds"] = self.duration_seconds
        out["warnings"] = self.warnings
        out.pop("dispatcher", None)
        return out


@dataclass(frozen=True)
class Claim:
    """A worker's hold on one chunk. ``token`` is the fencing token (the attempt number)."""

    run_id: str
    no: int
    token: int
    owner: str
    spec: dict[str, Any]
    rows: int | None
    #: The run as the claim left it (read under its lock), so the worker need not read it again.
    run: RunRecord | None = None
    #: The first unfinished chunk before this one, if it is backing off after a failure,
    #: and the seconds it has left: an in-order chunk cannot commit before it.
    backoff_before: tuple[int, float] | None = None
    #: The first unfinished chunk before this one, if it is pending and due: nobody
    #: works on it yet (its delivery may be on its way, or lost).
    idle_before: int | None = None
    #: How many earlier claims of this chunk ended neither done nor failed (given back
    #: to wait for an earlier chunk, mostly): a chunk kept waiting waits longer each time.
    handed_back: int = 0


@dataclass(frozen=True)
class Refused:
    """Why a chunk could not be claimed; ``retry_in`` is set when it will be claimable later."""

    reason: str
    retry_in: float | None = None


@dataclass
class Failure:
    """One rejected row: where it was in the file, what was wrong, what it held."""

    line: int | None
    message: str
    column: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] | None = None


@dataclass(frozen=True)
class RowCounts:
    """What a chunk's write did to the target's rows (a dry run's: would have done).

    ``unchanged`` rows were matched on their key and already held every value
    the file feeds them, so they were not written at all.
    """

    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: RowCounts) -> RowCounts:
        return RowCounts(
            self.created + other.created,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


#: Writes a chunk's rows in the commit's transaction; returns what it did to them, or
#: None where it cannot tell (a kind that does not count, a database it cannot count on).
Writer: TypeAlias = "Callable[[Connection], RowCounts | None]"


@dataclass
class ChunkOutcome:
    """What a kind hands back for one chunk; the store commits it atomically."""

    processed: int
    failures: list[Failure] = field(default_factory=list)
    write: Writer | None = None
    #: Stop the run at this commit if its failures so far pass these (an import's thresholds).
    limits: FailureLimits | None = None
    #: Rows a later row of the same key replaced (written nowhere; the run says so).
    repeated: int = 0

    @property
    def failed(self) -> int:
        return len(self.failures)


@dataclass(frozen=True)
class RunResult:
    """What a kind's last step hands back; the run is completed with it in one transaction.

    ``key`` is the result file's storage key ("" when the step could not make
    one, ``result`` then saying why). ``leftovers`` are files to delete once
    the run is completed with this result (an export's parts): until then a
    second attempt at the step may still need them.
    """

    key: str
    result: dict[str, Any]
    leftovers: tuple[str, ...] = ()
