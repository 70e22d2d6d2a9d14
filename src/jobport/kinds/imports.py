"""The import kind: a file's rows validated, transformed and upserted in chunks."""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from jobport.errors import ConfigurationError, InputError
from jobport.formats import csvfile
from jobport.formats.csvfile import ByteRange, CsvLayout
from jobport.kinds.base import ChunkTask, Plan, PlanRequest
from jobport.store import ChunkOutcome, Failure
from jobport.store.upsert import upsert_rows

RowDict = dict[str, Any]
Transform = Callable[[RowDict], RowDict | None]

_ZIP_MAGIC = b"PK\x03\x04"


class ReadOptions(BaseModel):
    """How to read the file, whatever the job type: given on the CLI or in the upload."""

    encoding: str | None = None
    delimiter: str | None = None


@dataclass(frozen=True)
class Importer:
    """The import handler of a job type.

    ``row`` validates one row (its fields are the file's columns), ``key`` names
    the column(s) an existing row is matched on, and ``transform`` may reshape a
    valid row or return None to skip it.
    """

    row: type[BaseModel]
    key: str | Sequence[str]
    transform: Transform | None = None

    @property
    def key_columns(self) -> tuple[str, ...]:
        return (self.key,) if isinstance(self.key, str) else tuple(self.key)


class ImportKind:
    name = "import"
    in_order = True

    def plan(self, request: PlanRequest) -> Plan:
        importer = _importer(request)
        table = request.job_type.table
        if table is None:
            raise ConfigurationError(f"import type '{request.job_type.type}' has no model")
        missing_keys = [k for k in importer.key_columns if k not in table.c]
        if missing_keys:
            raise ConfigurationError(
                f"import type '{request.job_type.type}': key column(s) {missing_keys} are not "
                f"in table '{table.name}'"
            )
        if request.source_key is None:
            raise InputError("an import needs a file")
        read = ReadOptions.model_validate(request.read)
        source_key = request.source_key
        files = request.files
        with files.open(source_key) as stream:
            head = stream.read(8192)
            _refuse_binary(head)
            bom_encoding, _ = csvfile.detect_bom(head)
        encoding = bom_encoding or read.encoding or "utf-8"
        if not csvfile.is_line_splittable(encoding):
            source_key = _transcode_to_utf8(files, source_key, encoding)
            encoding = "utf-8"
        encoding = codecs.lookup(encoding).name
        with files.open(source_key) as stream:
            layout = csvfile.read_layout(stream, encoding=encoding, delimiter=read.delimiter)
            mapping = map_columns(layout.header, importer.row)
            ranges = list(csvfile.plan_ranges(stream, layout, request.job_type.chunk_size))
        return Plan(
            chunks=[
                {"start": r.start, "end": r.end, "first_line": r.first_line, "rows": r.rows}
                for r in ranges
            ],
            total=sum(r.rows for r in ranges),
            params={"layout": layout.to_params(), "columns": mapping},
            source_key=source_key,
        )

    def run_chunk(self, task: ChunkTask) -> ChunkOutcome:
        importer: Importer = task.job_type.handler
        table = task.job_type.table
        assert table is not None
        assert task.run.source_key is not None
        layout = CsvLayout.from_params(task.run.params["layout"])
        columns: list[list[Any]] = task.run.params["columns"]
        byte_range = ByteRange(**task.spec)
        with task.files.open(task.run.source_key) as stream:
            records = list(csvfile.read_range(stream, layout, byte_range))
        rows, failures = validate_records(
            records, layout.header, columns, importer, [c.name for c in table.c]
        )
        key = importer.key_columns

        def write(conn: Any) -> None:
            upsert_rows(conn, table, rows, key)

        return ChunkOutcome(processed=len(records), failures=failures, write=write)


def _importer(request: PlanRequest) -> Importer:
    handler = request.job_type.handler
    if not isinstance(handler, Importer):
        raise ConfigurationError(
            f"import type '{request.job_type.type}' needs an Importer as its handler"
        )
    return handler


def _refuse_binary(head: bytes) -> None:
    if head.startswith(_ZIP_MAGIC):
        raise InputError("the file is a ZIP archive (an XLSX workbook?), not CSV text")
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError("the file holds binary data (NUL bytes), not CSV text")


def _transcode_to_utf8(files: Any, key: str, encoding: str) -> str:
    """Rewrite a UTF-16/32 file as UTF-8 so chunks can split it on newlines."""
    new_key: str = files.new_key("work", ".csv")
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        with files.open(key) as source, files.fs.open(files.path(new_key), "wb") as target:
            while block := source.read(1 << 20):
                target.write(decoder.decode(block).encode("utf-8"))
            target.write(decoder.decode(b"", final=True).encode("utf-8"))
    except UnicodeDecodeError as exc:
        files.delete(new_key)
        raise InputError(f"the file is not valid {encoding}: {exc.reason}") from None
    return new_key


def normalise(name: str) -> str:
    return " ".join(name.strip().lower().split())


def map_columns(header: list[str], row: type[BaseModel]) -> list[list[Any]]:
    """Pair file columns with row fields: [[column index, field name], ...].

    Names match ignoring case and surrounding spaces; a field's alias counts as
    a name. Extra columns are ignored; a missing required field fails up front.
    """
    seen: dict[str, int] = {}
    for index, name in enumerate(header):
        norm = normalise(name)
        if not norm:
            raise InputError(f"column {index + 1} of the header has no name")
        if norm in seen:
            raise InputError(f"column '{name.strip()}' appears twice in the header")
        seen[norm] = index
    mapping: list[list[Any]] = []
    missing: list[str] = []
    for field_name, info in row.model_fields.items():
        names = [normalise(field_name)] + ([normalise(info.alias)] if info.alias else [])
        found = next((seen[n] for n in names if n in seen), None)
        if found is None:
            if info.is_required():
                missing.append(field_name)
            continue
        mapping.append([found, field_name])
    if missing:
        raise InputError(
            f"missing required column(s): {', '.join(missing)}; the file has: "
            f"{', '.join(h.strip() for h in header)}"
        )
    return mapping


def validate_records(
    records: Iterable[tuple[int, list[str] | None]],
    header: list[str],
    columns: list[list[Any]],
    importer: Importer,
    table_columns: list[str],
) -> tuple[list[RowDict], list[Failure]]:
    """Validate each record; return the rows to write (later duplicates win) and failures."""
    validate = importer.row.__pydantic_validator__.validate_python
    transform = importer.transform
    key = importer.key_columns
    keep = set(table_columns)
    width = len(header)
    field_to_column = {field: header[index].strip() for index, field in columns}
    by_key: dict[tuple[Any, ...], RowDict] = {}
    failures: list[Failure] = []
    for line, record in records:
        if record is None:
            failures.append(
                Failure(line, "the row holds bytes that are invalid in the file's encoding")
            )
            continue
        if len(record) != width:
            failures.append(
                Failure(
                    line,
                    f"expected {width} fields, found {len(record)}",
                    raw=_raw(header, record),
                )
            )
            continue
        data = {field: (record[index] or None) for index, field in columns}
        try:
            values = validate(data).__dict__
        except ValidationError as exc:
            failures.append(_failure(line, exc, field_to_column, header, record))
            continue
        if transform is not None:
            try:
                transformed = transform(dict(values))
            except (ValueError, TypeError, KeyError) as exc:
                failures.append(Failure(line, f"transform failed: {exc}", raw=_raw(header, record)))
                continue
            if transformed is None:
                continue
            values = transformed
        row = {name: value for name, value in values.items() if name in keep}
        by_key[tuple(row[k] for k in key)] = row
    return list(by_key.values()), failures


def _raw(header: list[str], record: list[str]) -> dict[str, Any]:
    raw: dict[str, Any] = {name.strip(): value for name, value in zip(header, record, strict=False)}
    if len(record) > len(header):
        raw["_extra"] = record[len(header) :]
    return raw


def _failure(
    line: int,
    exc: ValidationError,
    field_to_column: dict[str, str],
    header: list[str],
    record: list[str],
) -> Failure:
    errors = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        column = field_to_column.get(field, field)
        if error["type"] == "missing" or (
            error.get("input") is None and error["type"].endswith("_type")
        ):
            message = "is required"
        else:
            message = error["msg"]
        errors.append({"column": column, "message": message})
    text = "; ".join(f"{e['column']}: {e['message']}" for e in errors)
    return Failure(
        line,
        text,
        column=errors[0]["column"] if errors else None,
        errors=errors,
        raw=_raw(header, record),
    )


__all__ = ["ImportKind", "Importer", "ReadOptions", "map_columns"]
