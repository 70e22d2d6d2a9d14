"""The contract between the engine and a kind of work.

A kind plans a run into chunk specs and turns one chunk into a
:class:`~jobport.store.ChunkOutcome`. It knows nothing of queues or
processes; the dispatcher and the worker know nothing of files or SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from jobport.kinds.controls import RunControls

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from jobport.files import FileStore
    from jobport.registry import JobType, Limits
    from jobport.store import ChunkOutcome, RunRecord, RunResult
    from jobport.store.mappings import SavedMapping


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
    #: An import's dry run and error thresholds.
    controls: RunControls = field(default_factory=RunControls)
    #: What one file may hold (rows, columns, field size); None: no limits.
    limits: Limits | None = None
    #: The mapping a user saved for (type, header signature), applied to an import given
    #: none of its own (see :mod:`jobport.kinds.columns`); None: no mappings are kept.
    saved_mappings: Callable[[str, str], SavedMapping | None] | None = None


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


class JobKind:
    """A kind of work: the base every kind derives from.

    A kind must say how a run splits (:meth:`plan`) and what one chunk does
    (:meth:`run_chunk`). The optional steps are here as no-ops, so the worker
    calls them on every kind alike instead of probing for them: a kind
    overrides only those it needs.
    """

    #: The kind's name, as job types declare it (``JobType(kind=...)``).
    name: str
    #: Whether chunks must commit in plan order (so later rows win on duplicate keys).
    in_order: bool = False
    #: Whether the kind has a last step (:meth:`finish`): its runs complete after it.
    finishes: bool = False
    #: Whether job types declare it (``JobType(kind=...)``); an undo run is of its original's type.
    declared: bool = True

    def plan(self, request: PlanRequest) -> Plan:
        raise NotImplementedError(f"{type(self).__name__} does not plan runs")

    def run_chunk(self, task: ChunkTask) -> ChunkOutcome:
        raise NotImplementedError(f"{type(self).__name__} does not run chunks")

    def finish(self, task: ChunkTask) -> RunResult | None:
        """The last step, once every chunk is done (an export assembles its file there).

        It returns the run's result and never writes the store: the worker
        completes the run with it in one transaction. It may run again after a
        worker died in it, so it must be idempotent. Only kinds that set
        :attr:`finishes` have one.
        """
        return None
