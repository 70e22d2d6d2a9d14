"""The contract between the engine and a kind of work.

A kind plans a run into chunk specs and turns one chunk into a
:class:`~jobport.store.ChunkOutcome`. It knows nothing of queues or
processes; the dispatcher and the worker know nothing of files or SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from jobport.files import FileStore
    from jobport.registry import JobType, Limits
    from jobport.store import ChunkOutcome, RunRecord


@dataclass(frozen=True)
class PlanRequest:
    job_type: JobType
    options: BaseModel
    files: FileStore
    database: Engine
    source_key: str | None = None
    format: str | None = None
    #: How to read the file (encoding, delimiter, ...), for kinds that read one.
    read: dict[str, Any] = field(default_factory=dict)
    #: What one file may hold (rows, columns, field size); None: no limits.
    limits: Limits | None = None


@dataclass
class Plan:
    """How a run splits: one spec per chunk, the row total when known, run params."""

    chunks: list[dict[str, Any]]
    total: int | None
    params: dict[str, Any] = field(default_factory=dict)
    source_key: str | None = None


@dataclass(frozen=True)
class ChunkTask:
    job_type: JobType
    run: RunRecord
    no: int
    spec: dict[str, Any]
    files: FileStore
    database: Engine


class JobKind(Protocol):
    name: str
    #: Whether chunks must commit in plan order (so later rows win on duplicate keys).
    in_order: bool

    def plan(self, request: PlanRequest) -> Plan: ...

    def run_chunk(self, task: ChunkTask) -> ChunkOutcome: ...


class FinishingKind(JobKind, Protocol):
    """A kind with a last step, run once after the commit that completed the run
    (an export assembles its file there). The worker calls it when a kind has it."""

    def finish(self, task: ChunkTask) -> None: ...
