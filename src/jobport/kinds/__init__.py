"""One module per kind of work, and the registry that names them.

A new kind is a :class:`~jobport.kinds.base.JobKind` subclass in its own module,
added to :data:`KINDS` here (or by an embedding app with ``KINDS.add``); job
types, the dispatcher and the worker find it by name through :func:`kind_for`.
"""

from __future__ import annotations

from jobport.errors import RegistryError
from jobport.kinds.base import ChunkTask, JobKind, Plan, PlanRequest
from jobport.kinds.exports import Column, Exporter, ExportKind
from jobport.kinds.importer import Importer
from jobport.kinds.imports import ImportKind
from jobport.kinds.reports import Report, ReportKind
from jobport.kinds.syncs import Page, Syncer, SyncKind, SyncSource
from jobport.kinds.undo import UndoKind


class KindRegistry:
    """The kinds of work this process knows, by name, in the order they were added."""

    def __init__(self) -> None:
        self._kinds: dict[str, JobKind] = {}

    def add(self, kind: JobKind) -> None:
        if kind.name in self._kinds:
            raise RegistryError(f"the '{kind.name}' kind is declared twice")
        self._kinds[kind.name] = kind

    def get(self, name: str) -> JobKind:
        try:
            return self._kinds[name]
        except KeyError:
            raise RegistryError(f"the '{name}' kind is not available in this version") from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._kinds)

    def declared(self) -> tuple[str, ...]:
        """The kinds a job type may declare (not ``undo``: its runs take their original's type)."""
        return tuple(name for name, kind in self._kinds.items() if kind.declared)


#: The kinds of work jobport runs.
KINDS = KindRegistry()
for _kind in (ImportKind(), ExportKind(), SyncKind(), ReportKind(), UndoKind()):
    KINDS.add(_kind)


def kind_for(name: str) -> JobKind:
    return KINDS.get(name)


__all__ = [
    "KINDS",
    "ChunkTask",
    "Column",
    "ExportKind",
    "Exporter",
    "ImportKind",
    "Importer",
    "JobKind",
    "KindRegistry",
    "Page",
    "Plan",
    "PlanRequest",
    "Report",
    "ReportKind",
    "SyncKind",
    "SyncSource",
    "Syncer",
    "kind_for",
]
