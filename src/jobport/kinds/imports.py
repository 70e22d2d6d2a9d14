"""The import kind: a file's rows validated, transformed and upserted in chunks."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from pydantic_core import SchemaValidator
from sqlalchemy.engine import Connection

from jobport.errors import ConfigurationError, InputError, LimitExceeded, listed, shown
from jobport.formats import (
    FORMATS,
    Prepared,
    ReadOptions,
    Record,
    TabularFormat,
    reader_for,
    sniff_format,
)
from jobport.formats.base import discard
from jobport.formats.csvfile import is_line_splittable
from jobport.kinds.base import ChunkTask, JobKind, Plan, PlanRequest
from jobport.kinds.batch import (
    BatchValidator,
    batch_validator,
    field_value_types,
    model_fields_schema,
)
from jobport.kinds.params import ImportParams
from jobport.store import ChunkOutcome, Failure
from jobport.store.capacity import Capacity, row_capacity
from jobport.store.records import Writer
from jobport.store.upsert import PreparedUpsert, prepare_upsert

RowDict = dict[str, Any]

_UNDECODABLE = "the row holds bytes that are invalid in the file's encoding"
Transform = Callable[[RowDict], RowDict | None]

if TYPE_CHECKING:
    from jobport.files import FileStore
    from jobport.registry import Limits


@dataclass(frozen=True)
class Importer:
    """The import handler of a job type.

    ``row`` validates one row (its fields are the file's columns), ``key`` names
    the column(s) an existing row is matched on, and ``transform`` may reshape a
    valid row (its dict's keys that are table columns are written; a column
    that other rows of the chunk return and this one lacks is written as NULL)
    or return None to skip it.
    """

    row: type[BaseModel]
    key: str | Sequence[str]
    transform: Transform | None = None

    @property
    def key_columns(self) -> tuple[str, ...]:
        return (self.key,) if isinstance(self.key, str) else tuple(self.key)


class ImportKind(JobKind):
    name = "import"
    in_order = True

    def plan(self, request: PlanRequest) -> Plan:
        """The run's chunks; a file refused here leaves no scratch files behind."""
        scratch: list[str] = []
        try:
            return self._plan(request, scratch)
        except BaseException:
            discard(request.files, scratch)
            raise

    def _plan(self, request: PlanRequest, scratch: list[str]) -> Plan:
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
        read = ReadOptions.checked(request.read)
        declared = request.format or request.job_type.formats[0]
        reader = _checked_reader(request.files, request.source_key, declared, read)
        prepared = reader.prepare(request.files, request.source_key, read)
        scratch += prepared.scratch
        limits = request.limits or request.job_type.limits
        _check_columns(prepared.header, limits)
        if limits.max_field_bytes:
            prepared.params["max_field_bytes"] = limits.max_field_bytes
        mapping = map_columns(prepared.header, importer.row)
        _check_key_columns(importer, mapping, request.job_type.type)
        rows_per_chunk = _rows_per_chunk(declared, request.job_type.chunk_size)
        chunks = _planned_chunks(reader, request.files, prepared, rows_per_chunk, limits)
        warnings = column_warnings(ignored_columns(prepared.header, mapping), request.job_type.type)
        params = ImportParams(layout_of(prepared), mapping, warnings)
        return Plan(
            chunks=chunks,
            total=sum(chunk["rows"] for chunk in chunks),
            params=params.to_json(),
            source_key=prepared.source_key,
        )

    def run_chunk(self, task: ChunkTask) -> ChunkOutcome:
        importer: Importer = task.job_type.handler
        table = task.job_type.table
        assert table is not None
        assert task.run.source_key is not None
        reader = reader_for(task.run.format or "csv")
        params = ImportParams.of(task.run.params)
        header, mapping = params.header, params.columns
        records = list(reader.read(task.files, task.run.source_key, params.layout, task.spec))
        capacity = target_capacity(importer, table, task.database.dialect.name)
        if importer.transform is not None:
            groups, failures = validate_transformed(
                records, header, mapping, importer, [c.name for c in table.c], capacity
            )
            writes = [
                prepare_upsert(
                    task.database.dialect,
                    table,
                    rows,
                    columns,
                    importer.key_columns,
                    update=update,
                )
                for columns, update, rows in groups
            ]
            return ChunkOutcome(len(records), failures, write=_all_of(writes))
        rows, columns, failures = validate_records(
            records,
            header,
            mapping,
            importer,
            [c.name for c in table.c],
            capacity=capacity,
        )
        write = prepare_upsert(
            task.database.dialect,
            table,
            rows,
            columns,
            importer.key_columns,
            value_types=_value_types(importer, columns, mapping),
            update=fed_columns(columns, mapping),
        )
        return ChunkOutcome(processed=len(records), failures=failures, write=write)


def fed_columns(columns: list[str], mapping: list[list[Any]]) -> list[str]:
    """The written columns a file column feeds: the only ones an existing row gets.

    A field the file does not have takes the model's default in a new row, but
    an existing row keeps its value: an import never changes what the file
    does not mention.
    """
    fed = {field for _, field in mapping}
    return [name for name in columns if name in fed]


def target_capacity(importer: Importer, table: sa.Table, dialect: str) -> Capacity:
    """What ``table``'s columns can hold, for the rows this importer writes."""
    return row_capacity(importer.row, table, dialect, validated=importer.transform is None)


def _all_of(writes: list[PreparedUpsert]) -> Writer:
    def write(conn: Connection) -> None:
        for each in writes:
            each(conn)

    return write


def _value_types(
    importer: Importer, columns: list[str], mapping: list[list[Any]]
) -> list[frozenset[type] | None] | None:
    """What each written column's values can be, per the row model; None where unsure.

    Only fields fed by a file column count (a default stands in for a missing
    one as given, never validated), and never when a transform made the rows.
    """
    if importer.transform is not None:
        return None
    declared = field_value_types(importer.row)
    fed = {field for _, field in mapping}
    return [declared.get(name) if name in fed else None for name in columns]


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
    importer = _importer(request)
    if request.source_key is None:
        raise InputError("a preview needs a file")
    read = ReadOptions.checked(request.read)
    declared = request.format or request.job_type.formats[0]
    reader = _checked_reader(request.files, request.source_key, declared, read)
    prepared = reader.prepare(request.files, request.source_key, read)
    scratch += prepared.scratch
    # The limits as planning applies them: what the preview accepts the import accepts.
    limits = request.limits or request.job_type.limits
    _check_columns(prepared.header, limits)
    if limits.max_field_bytes:
        prepared.params["max_field_bytes"] = limits.max_field_bytes
    mapping = map_columns(prepared.header, importer.row)
    _check_key_columns(importer, mapping, request.job_type.type)
    ignored = ignored_columns(prepared.header, mapping)
    preview = Preview(
        prepared.header,
        [prepared.header[i].strip() for i, _ in mapping],
        [],
        ignored,
        column_warnings(ignored, request.job_type.type),
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
        values = _raw(prepared.header, record) if type(record) is list else {}
        errors: dict[str, str] = {}
        for failure in failures:
            if failure.errors:
                for error in failure.errors:
                    errors.setdefault(error["column"], error["message"])
            else:
                errors[failure.column or ""] = failure.message
        preview.rows.append(PreviewRow(line, values, errors))
    return preview


def layout_of(prepared: Prepared) -> dict[str, Any]:
    """What a chunk needs to read the prepared file: the format's params and the header."""
    return {**prepared.params, "header": prepared.header}


def _check_columns(header: list[str], limits: Limits) -> None:
    if limits.max_columns and len(header) > limits.max_columns:
        raise LimitExceeded(
            f"the file has {len(header):,} columns, over the limit of {limits.max_columns:,} "
            "(raise it with the type's limits or JOBPORT_MAX_COLUMNS)"
        )


def _rows_per_chunk(fmt: str, chunk_size: int) -> int:
    """The type's chunk size, or no bound for a format whose spec says its files do not
    split (they are read whole, by one worker): its reader then plans one chunk."""
    spec = FORMATS.get(fmt)
    return chunk_size if spec is None or spec.splits else sys.maxsize


def _planned_chunks(
    reader: TabularFormat, files: FileStore, prepared: Prepared, chunk_size: int, limits: Limits
) -> list[dict[str, Any]]:
    """Plan the chunks, stopping as soon as the file passes the row limit."""
    chunks: list[dict[str, Any]] = []
    rows = 0
    for chunk in reader.plan(files, prepared, chunk_size):
        rows += chunk["rows"]
        if limits.max_rows and rows > limits.max_rows:
            raise LimitExceeded(
                f"the file has more than {limits.max_rows:,} rows, the limit "
                "(raise it with the type's limits or JOBPORT_MAX_ROWS)"
            )
        chunks.append(chunk)
    return chunks


def _importer(request: PlanRequest) -> Importer:
    handler = request.job_type.handler
    if not isinstance(handler, Importer):
        raise ConfigurationError(
            f"import type '{request.job_type.type}' needs an Importer as its handler"
        )
    return handler


def _checked_reader(
    files: FileStore, key: str, declared: str, read: ReadOptions | None = None
) -> TabularFormat:
    """The reader of the declared format, once the file's bytes agree with it.

    Text declared as UTF-16/32 without a byte-order mark is full of NUL bytes;
    the declared encoding, not the sniff, decides for it.
    """
    reader = reader_for(declared)
    with files.open(key) as stream:
        head = stream.read(8192)
    wide_text = read is not None and read.encoding and not is_line_splittable(read.encoding)
    if declared == "csv" and wide_text:
        return reader
    if not reader.sniff(head):
        actual = sniff_format(head)
        found = f"looks like {actual.upper()}" if actual else "is binary data"
        raise InputError(
            f"the file was sent as {declared.upper()} but its content {found}; "
            "send it with the matching format"
        )
    return reader


def normalise(name: str) -> str:
    return " ".join(name.strip().lower().split())


#: The longest header name a file may have: a name is a label, never data.
MAX_HEADER_NAME = 1_000


def map_columns(header: list[str], row: type[BaseModel]) -> list[list[Any]]:
    """Pair file columns with row fields: [[column index, field name], ...].

    Names match ignoring case and surrounding spaces; a field's alias counts as
    a name. Extra columns are ignored; a missing required field fails up front.
    Every message names at most a few columns, each cut short: a header can be
    megabytes of names, and the message goes into the run and HTTP bodies.
    """
    seen: dict[str, int] = {}
    for index, name in enumerate(header):
        if len(name) > MAX_HEADER_NAME:
            raise InputError(
                f"column {index + 1} of the header is {len(name):,} characters long; a column "
                f"name may be at most {MAX_HEADER_NAME:,} (is the first line a header?)"
            )
        norm = normalise(name)
        if not norm:
            raise InputError(f"column {index + 1} of the header has no name")
        if norm in seen:
            raise InputError(f"column '{shown(name.strip())}' appears twice in the header")
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
            f"missing required column(s): {listed(missing)}; the file has: "
            f"{listed(h.strip() for h in header)}"
        )
    return mapping


def ignored_columns(header: list[str], mapping: list[list[Any]]) -> list[str]:
    """The header's names that feed no field of the row model, in file order."""
    used = {index for index, _ in mapping}
    return [name.strip() for index, name in enumerate(header) if index not in used]


def column_warnings(ignored: list[str], type_key: str) -> list[str]:
    """What a run says of the file's columns it did not use (bounded, as messages are)."""
    if not ignored:
        return []
    noun = "column matches" if len(ignored) == 1 else "columns match"
    return [
        f"{len(ignored):,} {noun} no field of '{type_key}' and "
        f"{'was' if len(ignored) == 1 else 'were'} ignored: {listed(ignored)}"
    ]


def _check_key_columns(importer: Importer, mapping: list[list[Any]], type_key: str) -> None:
    """Refuse a file without its key column: every row would share the field's default key."""
    if importer.transform is not None:
        return  # the transform may build the key
    fed = {field for _, field in mapping}
    lacking = [k for k in importer.key_columns if k in importer.row.model_fields and k not in fed]
    if lacking:
        raise InputError(
            f"the file has no column for {listed(lacking)}, which '{type_key}' matches rows on"
        )


def validate_records(
    records: Iterable[Record],
    header: list[str],
    columns: list[list[Any]],
    importer: Importer,
    table_columns: list[str],
    *,
    capacity: Capacity | None = None,
) -> tuple[list[tuple[Any, ...]], list[str], list[Failure]]:
    """Validate each record.

    Returns the rows to write as tuples (later duplicates of a key win), the
    column names of those tuples, and the failures. This is the hot loop of
    every import: the whole chunk goes through pydantic-core in one call where
    the row model allows it (see :mod:`jobport.kinds.batch`), and the records it
    turns away, with every record of other models, are checked one by one.
    With ``capacity``, a value its target column cannot hold fails its row.
    """
    checker = _RowChecker(header, columns, importer, table_columns)
    if importer.transform is not None:
        groups, failures = validate_transformed(
            records, header, columns, importer, table_columns, capacity
        )
        rows, out = _union_of(groups, table_columns)
        return rows, out, failures
    records = records if isinstance(records, list) else list(records)
    batch = batch_validator(importer.row, len(header), columns)
    rows = checker.rows(records) if batch is None else _batch_rows(batch, records, checker)
    if capacity is not None:
        rows = checker.fitting(rows, checker.out_columns, None, records, capacity)
    if len(importer.key_columns) == 1:
        key_at = checker.out_columns.index(importer.key_columns[0])
        by_key = {row[key_at]: row for row in rows}
    else:
        key_of = itemgetter(*(checker.out_columns.index(k) for k in importer.key_columns))
        by_key = dict(zip(map(key_of, rows), rows, strict=True))
    return list(by_key.values()), checker.out_columns, checker.failures


#: Rows that carry the same columns: (columns, the ones an existing row gets, rows).
RowGroup = tuple[list[str], list[str], list[tuple[Any, ...]]]


def validate_transformed(
    records: Iterable[Record],
    header: list[str],
    columns: list[list[Any]],
    importer: Importer,
    table_columns: list[str],
    capacity: Capacity | None = None,
) -> tuple[list[RowGroup], list[Failure]]:
    """Valid rows passed through the transform, grouped by the columns each one carries.

    A transform decides what it writes. A row is written with exactly the
    columns its dict holds, so a column one row lacks is never set to NULL
    because another row has it; and a field no file column feeds, passed
    through unchanged, is written to new rows only.
    """
    records = records if isinstance(records, list) else list(records)
    checker = _RowChecker(header, columns, importer, table_columns)
    fed = {field for _, field in columns}
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[tuple[int, tuple[Any, ...]]]] = {}
    for line, given, result in checker.transformed(records):
        names = tuple(name for name in table_columns if name in result)
        update = tuple(
            name
            for name in names
            if name in fed or name not in given or result[name] is not given[name]
        )
        groups.setdefault((names, update), []).append((line, tuple(map(result.get, names))))
    out: list[RowGroup] = []
    for (names, update), lined in groups.items():
        rows = [row for _, row in lined]
        if capacity is not None:
            lines = [line for line, _ in lined]
            rows = checker.fitting(rows, list(names), lines, records, capacity)
        out.append((list(names), list(update), rows))
    return out, checker.failures


def _union_of(
    groups: list[RowGroup], table_columns: list[str]
) -> tuple[list[tuple[Any, ...]], list[str]]:
    """Grouped rows as one list under every column any group has (NULL where one lacks it)."""
    present = {name for names, _, _ in groups for name in names}
    out = [name for name in table_columns if name in present]
    rows: list[tuple[Any, ...]] = []
    for names, _, group in groups:
        where = [names.index(n) if n in names else None for n in out]
        rows.extend(tuple(row[i] if i is not None else None for i in where) for row in group)
    return rows, out


def _batch_rows(
    batch: BatchValidator, records: Iterable[Record], checker: _RowChecker
) -> list[tuple[Any, ...]]:
    """Rows of a chunk validated in one call; records it turns away go to ``checker``."""
    records = records if isinstance(records, list) else list(records)
    inputs = [
        [None if value == "" else value for value in record]
        if type(record) is list and "" in record
        else record
        for _, record in records
    ]
    outputs = batch.validate_list(inputs)
    positions = {field: index for index, field in checker.columns}
    width = len(checker.header)
    for offset, field in enumerate(batch.default_fields):
        positions[field] = width + offset
    order = [positions[name] for name in checker.out_columns]
    # When the file's columns are the rows' columns, in order, the validated
    # tuples are the rows as they are: no second tuple per row.
    pick: Callable[[Sequence[Any]], tuple[Any, ...]] | None = None
    if order != list(range(width)):
        pick = plain_pick = _getter(order)
        if batch.defaults:
            defaults = batch.defaults

            def pick(values: Sequence[Any]) -> tuple[Any, ...]:
                return plain_pick((*values, *defaults))

    def picked(outputs: list[Any]) -> Iterable[tuple[Any, ...]]:
        return outputs if pick is None else map(pick, outputs)

    turned_away = [i for i, values in enumerate(outputs) if type(values) is not tuple]
    if not turned_away:
        return list(picked(outputs))
    rows: list[tuple[Any, ...]] = []
    start = 0
    for i in turned_away:
        rows.extend(picked(outputs[start:i]))
        rows.extend(checker.rows(records[i : i + 1]))
        start = i + 1
    rows.extend(picked(outputs[start:]))
    return rows


class _RowChecker:
    """Checks records one at a time with the row model's own validator.

    The reference behaviour of an import: every row the batch path turns
    away, and every row of a model it cannot mirror, is decided here.
    """

    def __init__(
        self,
        header: list[str],
        columns: list[list[Any]],
        importer: Importer,
        table_columns: list[str],
    ) -> None:
        self.header = header
        self.columns = columns
        self.importer = importer
        self.validate = dict_validator(importer.row)
        self.fields = [field for _, field in columns]
        self.pick = _getter([index for index, _ in columns])
        self.out_columns = [name for name in importer.row.model_fields if name in table_columns]
        self.as_row = _getter_of(self.out_columns)
        self.field_to_column = {field: header[index].strip() for index, field in columns}
        self.failures: list[Failure] = []

    def values(self, line: int, record: Any) -> dict[str, Any] | None:
        """The record's validated field values, or None once its failure is recorded."""
        if type(record) is not list:
            reason = str(record) if record is not None else _UNDECODABLE
            self.failures.append(Failure(line, reason))
            return None
        width = len(self.header)
        if len(record) != width:
            self.failures.append(
                Failure(
                    line,
                    f"expected {width} fields, found {len(record)}",
                    raw=_raw(self.header, record),
                )
            )
            return None
        picked = self.pick(record)
        if "" in picked:
            picked = tuple(_blank_to_none(value) for value in picked)
        try:
            return self.validate(dict(zip(self.fields, picked)))  # noqa: B905 (same length)
        except ValidationError as exc:
            self.failures.append(_failure(line, exc, self.field_to_column, self.header, record))
            return None

    def rows(self, records: Iterable[Record]) -> list[tuple[Any, ...]]:
        values_of, as_row = self.values, self.as_row
        rows = []
        for line, record in records:
            values = values_of(line, record)
            if values is not None:
                rows.append(as_row(values))
        return rows

    def transformed(
        self, records: Iterable[Record]
    ) -> Iterable[tuple[int, dict[str, Any], dict[str, Any]]]:
        """Valid rows through the transform hook: (line, its values, what the transform
        returned), one per key (the later row wins)."""
        transform = self.importer.transform
        assert transform is not None
        key_of = _getter_of(list(self.importer.key_columns))
        reshaped: dict[Any, tuple[int, dict[str, Any], dict[str, Any]]] = {}
        for line, record in records:
            values = self.values(line, record)
            if values is None:
                continue
            record = cast(list[Any], record)  # a record that validated is a list of cells
            try:
                result = transform(dict(values))
            except (ValueError, TypeError, KeyError) as exc:
                self.failures.append(
                    Failure(
                        line, f"transform failed: {shown(exc, 500)}", raw=_raw(self.header, record)
                    )
                )
                continue
            if result is None:
                continue
            try:
                reshaped[key_of(result)] = (line, values, result)
            except KeyError as exc:
                self.failures.append(
                    Failure(
                        line,
                        f"transform dropped the key column {exc}",
                        raw=_raw(self.header, record),
                    )
                )
        return reshaped.values()

    def fitting(
        self,
        rows: list[tuple[Any, ...]],
        columns: list[str],
        lines: list[int] | None,
        records: list[Record],
        capacity: Capacity,
    ) -> list[tuple[Any, ...]]:
        """``rows`` less those holding a value their column cannot hold, each of which
        becomes a failure at its line.

        ``lines`` are the rows' lines; None means the rows are the records that
        did not fail, in order (so the lines are worked out only when needed).
        """
        misfits = capacity.misfits(rows, columns)
        if not misfits:
            return rows
        if lines is None:
            failed = {failure.line for failure in self.failures}
            lines = [line for line, _ in records if line not in failed]
        record_at = dict(records)
        by_row: dict[int, list[dict[str, Any]]] = {}
        for index, name, message in misfits:
            column = self.field_to_column.get(name, name)
            by_row.setdefault(index, []).append({"column": column, "message": message})
        for index, errors in by_row.items():
            record = record_at[lines[index]]
            self.failures.append(
                Failure(
                    lines[index],
                    "; ".join(f"{e['column']}: {e['message']}" for e in errors),
                    column=errors[0]["column"],
                    errors=errors,
                    raw=_raw(self.header, record) if type(record) is list else None,
                )
            )
        return [row for index, row in enumerate(rows) if index not in by_row]


@lru_cache(maxsize=64)
def dict_validator(row: type[BaseModel]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Validate a row into a plain dict of field values.

    Where the model is plain fields (no model-level validators, no custom
    initialiser), pydantic-core's fields validator is used directly: the same
    checks and conversions, without building a model instance per row, which
    is a quarter of the validation time. Anything fancier goes through the
    model itself. Cached: building a validator costs far more than a row.
    """
    found = model_fields_schema(row)
    if found is None:
        validate_model = row.__pydantic_validator__.validate_python
        return lambda data: validate_model(data).__dict__
    fields_validator = SchemaValidator(*found)
    validate_fields = fields_validator.validate_python
    return lambda data: validate_fields(data)[0]


def _getter(indices: list[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A C-level picker that always returns a tuple, even for one index."""
    if len(indices) == 1:
        only = indices[0]
        return lambda record: (record[only],)
    return itemgetter(*indices)


def _getter_of(names: list[str]) -> Callable[[dict[str, Any]], Any]:
    if len(names) == 1:
        only = names[0]
        return lambda values: (values[only],)
    return itemgetter(*names)


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


def _raw(header: list[str], record: list[Any]) -> dict[str, Any]:
    raw: dict[str, Any] = {
        name.strip(): _jsonable(value) for name, value in zip(header, record, strict=False)
    }
    if len(record) > len(header):
        raw["_extra"] = record[len(header) :]
    return raw


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _failure(
    line: int,
    exc: ValidationError,
    field_to_column: dict[str, str],
    header: list[str],
    record: list[Any],
) -> Failure:
    errors = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        column = field_to_column.get(field, field)
        if error["type"] == "missing" or (
            error.get("input") is None and error["type"].endswith("_type")
        ):
            message = "is required"
        elif error["type"] == "string_pattern_mismatch":
            # pydantic's message prints the regular expression, which tells a person
            # filling in a spreadsheet nothing; it stays in the failure's details.
            message = "is not in the expected format"
        else:
            message = error["msg"]
        detail = {"column": column, "message": message}
        if error["type"] == "string_pattern_mismatch":
            detail["pattern"] = str((error.get("ctx") or {}).get("pattern", ""))
        errors.append(detail)
    text = "; ".join(f"{e['column']}: {e['message']}" for e in errors)
    return Failure(
        line,
        text,
        column=errors[0]["column"] if errors else None,
        errors=errors,
        raw=_raw(header, record),
    )


__all__ = [
    "ImportKind",
    "Importer",
    "Preview",
    "PreviewRow",
    "map_columns",
    "preview_import",
    "validate_records",
]
