"""The dashboard's preview: the first rows of an upload validated, nothing written.

It refuses what planning the import would refuse, with the same limits and
errors, so what the preview accepts the import accepts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from jobport.errors import InputError
from jobport.formats.base import discard
from jobport.kinds.base import PlanRequest
from jobport.kinds.columns import column_warnings, ignored_columns
from jobport.kinds.imports import (
    importer_of,
    layout_of,
    open_file,
    target_capacity,
)
from jobport.kinds.validation import raw_values, validate_records


@dataclass(frozen=True)
class PreviewRow:
    line: int
    values: dict[str, Any]
    #: Column name -> message, for each cell that failed validation.
    errors: dict[str, str]

    @property
    def valid(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class Preview:
    header: list[str]
    #: The header columns that feed a row field (the others are ignored).
    used_columns: list[str]
    rows: list[PreviewRow]
    #: The header columns that feed no field, named so nobody thinks they were imported.
    ignored_columns: list[str] = dataclasses.field(default_factory=list)
    #: What the run would say of the file (ignored columns), in words.
    warnings: list[str] = dataclasses.field(default_factory=list)
    #: A workbook's sheets in tab order, the one read, and the row its header is on.
    sheets: list[str] = dataclasses.field(default_factory=list)
    sheet: str | None = None
    header_row: int | None = None


def preview_import(request: PlanRequest, *, limit: int = 20) -> Preview:
    """Validate the first ``limit`` rows of a file without writing anything (a dry run).

    Raises the same errors as planning the real import would (format, header,
    missing columns), so what the preview accepts the import accepts. No run
    follows a preview, so the scratch files of its preparation are discarded.
    """
    scratch: list[str] = []
    try:
        return _preview(request, limit, scratch)
    finally:
        discard(request.files, scratch)


def _preview(request: PlanRequest, limit: int, scratch: list[str]) -> Preview:
    importer = importer_of(request)
    if request.source_key is None:
        raise InputError("a preview needs a file")
    opened = open_file(request, importer, scratch)
    reader, prepared, mapping = opened.reader, opened.prepared, opened.mapping
    ignored = ignored_columns(prepared.header, mapping)
    preview = Preview(
        prepared.header,
        [prepared.header[i].strip() for i, _ in mapping],
        [],
        ignored,
        column_warnings(ignored, request.job_type.type),
        sheets=list(prepared.params.get("sheets", [])),
        sheet=prepared.params.get("sheet"),
        header_row=prepared.params.get("header_row"),
    )
    first = next(iter(reader.plan(request.files, prepared, limit)), None)
    if first is None:
        return preview
    records = list(reader.read(request.files, prepared.source_key, layout_of(prepared), first))
    records = records[:limit]
    table = request.job_type.table
    capacity = (
        target_capacity(importer, table, request.database.dialect.name)
        if table is not None
        else None
    )
    table_columns = (
        [c.name for c in table.c] if table is not None else list(importer.row.model_fields)
    )
    for line, record in records:
        _, _, failures = validate_records(
            [(line, record)], prepared.header, mapping, importer, table_columns, capacity=capacity
        )
        values = raw_values(prepared.header, record) if type(record) is list else {}
        errors: dict[str, str] = {}
        for failure in failures:
            if failure.errors:
                for error in failure.errors:
                    errors.setdefault(error["column"], error["message"])
            else:
                errors[failure.column or ""] = failure.message
        preview.rows.append(PreviewRow(line, values, errors))
    return preview
