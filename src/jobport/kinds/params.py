"""Typed run params and chunk specs of the kinds, and their JSON at the store boundary.

A run's params and each chunk's spec are stored as JSON (``job_runs.params``,
``job_chunks.spec``). Kinds read and write them through these classes instead
of ``params["..."]`` lookups scattered through their code, so a misspelt key is
a type error and the shape is written down once. ``to_json`` writes exactly the
JSON earlier versions stored, and ``of`` reads it, so runs already in a
database still load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunParams:
    """What every run records of the request that started it, whatever its kind: the
    type's options as JSON and how to read its file. The dispatcher writes them before
    planning, so a run refused while planning has these and nothing else."""

    options: dict[str, Any] = field(default_factory=dict)
    #: The read options as asked (encoding, delimiter, a sync's ``full``, ...).
    read: dict[str, Any] = field(default_factory=dict)
    #: An import's dry run and error thresholds, as set (see ``RunControls``).
    controls: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        values = {"options": self.options, "read": self.read}
        return {**values, "controls": self.controls} if self.controls else values

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> RunParams:
        return cls(
            dict(params.get("options") or {}),
            dict(params.get("read") or {}),
            dict(params.get("controls") or {}),
        )


@dataclass(frozen=True)
class ImportParams:
    """What every chunk of an import needs: how to read the file, which column feeds
    which field, and what the run says of the columns it ignored."""

    #: The format's reading params (see each format's ``prepare``) plus ``header``.
    layout: dict[str, Any]
    #: [[column index, field name], ...] (see :func:`jobport.kinds.columns.map_columns`).
    columns: list[list[Any]]
    warnings: list[str] = field(default_factory=list)
    #: How each placed column was placed: [{column, field, score, source}, ...]
    #: (see :meth:`jobport.kinds.columns.ColumnMapping.to_json`); none in older runs.
    mapping: list[dict[str, Any]] = field(default_factory=list)

    @property
    def header(self) -> list[str]:
        return list(self.layout["header"])

    @staticmethod
    def header_of(params: Mapping[str, Any]) -> list[str]:
        """The file's header, or none for a run refused before its file was read."""
        return list((params.get("layout") or {}).get("header") or [])

    def to_json(self) -> dict[str, Any]:
        values = {"layout": self.layout, "columns": self.columns, "warnings": self.warnings}
        return {**values, "mapping": self.mapping} if self.mapping else values

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> ImportParams:
        return cls(
            params["layout"],
            params["columns"],
            list(params.get("warnings") or []),
            list(params.get("mapping") or []),
        )


@dataclass(frozen=True)
class FileParams:
    """What the chunks of an export or a report share: the format they write and the
    part files (and their metadata files), one of each per chunk, in plan order."""

    format: str
    parts: list[str]
    parts_meta: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"parts": self.parts, "parts_meta": self.parts_meta, "format": self.format}

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> FileParams:
        return cls(params["format"], list(params["parts"]), list(params["parts_meta"]))


@dataclass(frozen=True)
class KeyRange:
    """One export chunk: the rows whose key is after ``after`` and at most ``upto``
    (None: no bound on that side), ``rows`` of them when planned."""

    after: list[Any] | None
    upto: list[Any] | None
    rows: int

    def to_json(self) -> dict[str, Any]:
        return {"after": self.after, "upto": self.upto, "rows": self.rows}

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> KeyRange:
        return cls(spec.get("after"), spec.get("upto"), int(spec.get("rows") or 0))


@dataclass(frozen=True)
class SyncParams:
    """What the pages of a sync share: whether it reads its source from the beginning,
    the cursor it started after, and the seen-keys file of each page (one per page,
    in plan order, for a type that deletes the rows its source lacks; else none)."""

    full: bool
    after: Any
    seen: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"full": self.full, "after": self.after, "seen": self.seen}

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> SyncParams:
        return cls(bool(params.get("full")), params.get("after"), list(params.get("seen") or []))


@dataclass(frozen=True)
class PageSpec:
    """One sync chunk: the source's page descriptor (JSON, the source's own), the line
    its first record is numbered (None once a page before it did not say its size) and
    how many records it holds, when the source said."""

    page: Any
    first: int | None
    rows: int | None = None

    def to_json(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"page": self.page, "first": self.first}
        if self.rows is not None:
            spec["rows"] = self.rows
        return spec

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> PageSpec:
        return cls(spec["page"], spec.get("first"), spec.get("rows"))


__all__ = ["FileParams", "ImportParams", "KeyRange", "PageSpec", "RunParams", "SyncParams"]
