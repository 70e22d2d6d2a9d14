"""One module per kind of work; :func:`kind_for` picks the implementation."""

from __future__ import annotations

from jobport.errors import RegistryError
from jobport.kinds.base import ChunkTask, JobKind, Plan, PlanRequest
from jobport.kinds.exports import Column, Exporter, ExportKind
from jobport.kinds.imports import Importer, ImportKind
from jobport.kinds.reports import Report, ReportKind
from jobport.kinds.syncs import Page, Syncer, SyncKind, SyncSource

_KINDS: dict[str, JobKind] = {
    "import": ImportKind(),
    "export": ExportKind(),
    "sync": SyncKind(),
    "report": ReportKind(),
}


def kind_for(name: str) -> JobKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise RegistryError(f"the '{name}' kind is not available in this version") from None


__all__ = [
    "ChunkTask",
    "Column",
    "ExportKind",
    "Exporter",
    "ImportKind",
    "Importer",
    "JobKind",
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
