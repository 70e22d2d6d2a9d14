"""The undo kind: a run that puts back what an undoable import (or undo) changed.

Its chunks are the original run's chunks, taken from its undo log (see
:mod:`jobport.store.undo`), last first: where two chunks of one run changed
the same row, the later one's change is undone first, so each chunk finds the
row as that chunk left it. Chunks are read and prepared side by side and
commit in that order. Each chunk restores its rows in the commit's
transaction (:class:`~jobport.targets.undolog.Restore`): a row changed since
the run is left alone and reported as a failure with both values, unless the
undo is forced; the undo's own changes are logged, so an undo can be undone.

An undo run is planned by the service from the log (``JobService.undo``), not
from a file: :meth:`UndoKind.plan` refuses to be called.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jobport.errors import ConfigurationError, InputError
from jobport.kinds.base import ChunkTask, JobKind, Plan, PlanRequest
from jobport.kinds.importer import Importer
from jobport.store import ChunkOutcome
from jobport.store.records import Failure
from jobport.store.undo import UndoSummary
from jobport.targets.undolog import Restore


@dataclass(frozen=True)
class UndoParams:
    """An undo run's params: which run it undoes, and whether changed rows are overwritten."""

    undo_of: str
    force: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"undo_of": self.undo_of, "force": self.force}

    @classmethod
    def of(cls, params: dict[str, Any]) -> UndoParams:
        return cls(str(params["undo_of"]), bool(params.get("force", False)))


@dataclass(frozen=True)
class UndoChunk:
    """One undo chunk: chunk ``chunk`` of run ``run``, as its undo log holds it, and how
    many log entries (rows) it has."""

    run: str
    chunk: int
    rows: int

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run, "chunk": self.chunk, "rows": self.rows}

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> UndoChunk:
        return cls(str(spec["run"]), int(spec["chunk"]), int(spec["rows"]))


def undo_plan(run_id: str, summary: UndoSummary, *, force: bool) -> Plan:
    """The undo of ``run_id``: one chunk per logged chunk, the last one first."""
    chunks = [UndoChunk(run_id, no, count) for no, count in reversed(summary.chunks)]
    return Plan(
        chunks=[chunk.to_json() for chunk in chunks],
        total=summary.entries,
        params=UndoParams(run_id, force).to_json(),
    )


class UndoKind(JobKind):
    name = "undo"
    #: The later chunk's changes are undone first (see the module's docstring).
    in_order = True
    declared = False

    def plan(self, request: PlanRequest) -> Plan:
        raise InputError(
            f"'{request.job_type.type}' runs are undone with `jobport undo RUN_ID`, "
            "not started from a file"
        )

    def run_chunk(self, task: ChunkTask) -> ChunkOutcome:
        table = task.job_type.table
        importer = task.job_type.handler
        if table is None or not isinstance(importer, Importer) or not importer.key_columns:
            raise ConfigurationError(f"'{task.job_type.type}' has no table and key to undo")
        params = UndoParams.of(task.run.params)
        chunk = UndoChunk.of(task.spec)
        failures: list[Failure] = []
        restore = Restore(
            table=table,
            key=tuple(importer.key_columns),
            source_run=chunk.run,
            source_chunk=chunk.chunk,
            run_id=task.run.id,
            chunk_no=task.no,
            force=params.force,
            failures=failures,
        )
        return ChunkOutcome(chunk.rows, failures, write=restore)


__all__ = ["UndoChunk", "UndoKind", "UndoParams", "undo_plan"]
