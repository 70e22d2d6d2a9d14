"""One module per kind of work, and the registry that names them.

A new kind is a :class:`~jobport.kinds.base.JobKind` subclass in its own module,
added to :data:`KINDS` here (or by an embedding app with ``KINDS.add``); job
types, the dispatcher and the worker find it by name through :func:`kind_for`.

Nothing is imported here at start: the built-in kinds are known by name and
module until one is asked for, and the public names load on first use
(PEP 562). A process that only declares job types (``jobport types``, an app
module imported by the CLI) must not pay for every kind's formats, targets and
store; one that runs a chunk imports the kind it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING

from jobport.errors import RegistryError
from jobport.lazy import lazy_names

if TYPE_CHECKING:
    from jobport.kinds.base import ChunkTask, JobKind, Plan, PlanRequest
    from jobport.kinds.exporter import Column, Exporter
    from jobport.kinds.exports import ExportKind
    from jobport.kinds.importer import Importer
    from jobport.kinds.imports import ImportKind
    from jobport.kinds.reporter import Report
    from jobport.kinds.reports import ReportKind
    from jobport.kinds.syncer import Page, Syncer, SyncSource
    from jobport.kinds.syncs import SyncKind
    from jobport.kinds.undo import UndoKind


@dataclass(frozen=True)
class _BuiltIn:
    """A kind of this package not imported yet: where its class lives, and what it says."""

    module: str
    attr: str
    declared: bool = True

    def load(self) -> JobKind:
        kind: JobKind = getattr(import_module(self.module), self.attr)()
        return kind


class KindRegistry:
    """The kinds of work this process knows, by name, in the order they were added."""

    def __init__(self) -> None:
        self._kinds: dict[str, JobKind | _BuiltIn] = {}

    def add(self, kind: JobKind) -> None:
        if kind.name in self._kinds:
            raise RegistryError(f"the '{kind.name}' kind is declared twice")
        self._kinds[kind.name] = kind

    def _add_built_in(self, name: str, kind: _BuiltIn) -> None:
        self._kinds[name] = kind

    def get(self, name: str) -> JobKind:
        try:
            kind = self._kinds[name]
        except KeyError:
            raise RegistryError(f"the '{name}' kind is not available in this version") from None
        if isinstance(kind, _BuiltIn):
            kind = self._kinds[name] = kind.load()
        return kind

    def names(self) -> tuple[str, ...]:
        return tuple(self._kinds)

    def declared(self) -> tuple[str, ...]:
        """The kinds a job type may declare (not ``undo``: its runs take their original's type)."""
        return tuple(name for name, kind in self._kinds.items() if kind.declared)


#: The kinds of work jobport runs.
KINDS = KindRegistry()
for _name, _kind in (
    ("import", _BuiltIn("jobport.kinds.imports", "ImportKind")),
    ("export", _BuiltIn("jobport.kinds.exports", "ExportKind")),
    ("sync", _BuiltIn("jobport.kinds.syncs", "SyncKind")),
    ("report", _BuiltIn("jobport.kinds.reports", "ReportKind")),
    ("undo", _BuiltIn("jobport.kinds.undo", "UndoKind", declared=False)),
):
    KINDS._add_built_in(_name, _kind)


def kind_for(name: str) -> JobKind:
    return KINDS.get(name)


#: Where each public name lives: the module imported when the name is first asked for.
_HOMES: dict[str, str] = {
    "ChunkTask": "jobport.kinds.base",
    "JobKind": "jobport.kinds.base",
    "Plan": "jobport.kinds.base",
    "PlanRequest": "jobport.kinds.base",
    "Column": "jobport.kinds.exporter",
    "Exporter": "jobport.kinds.exporter",
    "ExportKind": "jobport.kinds.exports",
    "Importer": "jobport.kinds.importer",
    "ImportKind": "jobport.kinds.imports",
    "Report": "jobport.kinds.reporter",
    "ReportKind": "jobport.kinds.reports",
    "Page": "jobport.kinds.syncer",
    "Syncer": "jobport.kinds.syncer",
    "SyncKind": "jobport.kinds.syncs",
    "SyncSource": "jobport.kinds.syncer",
    "UndoKind": "jobport.kinds.undo",
}


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
    "UndoKind",
    "kind_for",
]

__getattr__, __dir__ = lazy_names(__name__, _HOMES, globals(), __all__)
