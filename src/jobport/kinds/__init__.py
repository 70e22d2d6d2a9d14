"""One module per kind of work; :func:`kind_for` picks the implementation."""

from __future__ import annotations

from jobport.errors import RegistryError
from jobport.kinds.base import ChunkTask, JobKind, Plan, PlanRequest
from jobport.kinds.imports import Importer, ImportKind

_KINDS: dict[str, JobKind] = {"import": ImportKind()}


def kind_for(name: str) -> JobKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise RegistryError(f"the '{name}' kind is not available in this version") from None


__all__ = ["ChunkTask", "ImportKind", "Importer", "JobKind", "Plan", "PlanRequest", "kind_for"]
