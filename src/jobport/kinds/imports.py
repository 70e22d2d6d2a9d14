"""The import kind: a file planned into row ranges, each chunk validated and upserted.

Planning reads the header, pairs it with the row model (:mod:`.columns`) and
cuts the file into ranges; a chunk reads its range, validates it
(:mod:`.validation`) and hands back an upsert that writes only the columns the
file feeds, so an import never changes what the file does not mention."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jobport.errors import ConfigurationError, InputError, LimitExceeded
from jobport.formats import (
    FORMATS,
    Prepared,
    ReadOptions,
    TabularFormat,
    reader_for,
    sniff_format,
)
from jobport.formats.base import discard
from jobport.formats.csvfile import is_line_splittable
from jobport.kinds.base import ChunkTask, JobKind, Plan, PlanRequest
from jobport.kinds.batch import (
    field_value_types,
)
from jobport.kinds.columns import ColumnMapping, check_key_columns, place_columns
from jobport.kinds.controls import RunControls
from jobport.kinds.importer import Importer
from jobport.kinds.locale import locale_for
from jobport.kinds.params import ImportParams, RunParams
from jobport.kinds.validation import validate_chunk, validate_transformed
from jobport.lifecycle import FailureLimits
from jobport.store import ChunkOutcome
from jobport.store.records import RowCounts, Writer
from jobport.targets.capacity import Capacity, row_capacity
from jobport.targets.undolog import undo_logged
from jobport.targets.upsert import PreparedUpsert, prepare_upsert

if TYPE_CHECKING:
    from jobport.files import FileStore
    from jobport.registry import Limits


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
        importer = importer_of(request)
        table = request.job_type.table
        if table is None:
            raise ConfigurationError(f"import type '{request.job_type.type}' has no model")
        missing_keys = [k for k in importer.key_columns if k not in table.c]
        if missing_keys:
            raise ConfigurationError(
                f"import type '{request.job_type.type}': key column(s) {missing_keys} are not "
                f"in table '{table.name}'"
            )
        opened = open_file(request, importer, scratch)
        reader, prepared, mapping, limits = (
            opened.reader,
            opened.prepared,
            opened.mapping,
            opened.limits,
        )
        rows_per_chunk = _rows_per_chunk(opened.format, request.job_type.chunk_size)
        chunks = _planned_chunks(reader, request.files, prepared, rows_per_chunk, limits)
        warnings = encoding_warnings(prepared) + opened.placed.warnings(request.job_type.type)
        if not chunks:
            warnings.append(NO_ROWS)
        params = ImportParams(layout_of(prepared), mapping, warnings, opened.placed.to_json())
        return Plan(
            chunks=chunks,
            total=sum(chunk["rows"] for chunk in chunks),
            params=params.to_json(),
            source_key=prepared.source_key,
        )

    def run_chunk(self, task: ChunkTask) -> ChunkOutcome:
        """Read, validate and prepare the chunk's upsert (a dry run's: its count only).

        The outcome carries the run's failure thresholds, which its commit checks.
        """
        importer: Importer = task.job_type.handler
        table = task.job_type.table
        assert table is not None
        assert task.run.source_key is not None
        reader = reader_for(task.run.format or "csv")
        params = ImportParams.of(task.run.params)
        read = ReadOptions.checked(RunParams.of(task.run.params).read)
        controls = RunControls.of(task.run.params)
        limits = failure_limits(importer, controls)
        dry_run = task.run.dry_run or controls.dry_run
        header, mapping = params.header, params.columns
        records = list(reader.read(task.files, task.run.source_key, params.layout, task.spec))
        capacity = target_capacity(importer, table, task.database.dialect.name)
        if importer.transform is not None:
            groups, failures = validate_transformed(
                records, header, mapping, importer, [c.name for c in table.c], capacity, read=read
            )
            writes = [
                prepare_upsert(
                    task.database.dialect,
                    table,
                    unique_by_key(rows, columns, importer.key_columns),
                    columns,
                    importer.key_columns,
                    update=update,
                    dry_run=dry_run,
                )
                for columns, update, rows in groups
            ]
            undoable = [(rows, columns, update) for columns, update, rows in groups]
            write = logged(task, _all_of(writes), undoable, importer.key_columns, dry_run)
            if dry_run:
                write = counted_ahead(task.database, write)
            return ChunkOutcome(len(records), failures, write=write, limits=limits)
        rows, columns, failures, repeated = validate_chunk(
            records,
            header,
            mapping,
            importer,
            [c.name for c in table.c],
            capacity=capacity,
            read=read,
        )
        write = prepare_upsert(
            task.database.dialect,
            table,
            rows,
            columns,
            importer.key_columns,
            value_types=_value_types(importer, columns, mapping),
            update=fed_columns(columns, mapping),
            dry_run=dry_run,
        )
        write = logged(
            task,
            write,
            [(rows, columns, fed_columns(columns, mapping))],
            importer.key_columns,
            dry_run,
        )
        if dry_run:
            write = counted_ahead(task.database, write)
        return ChunkOutcome(len(records), failures, write=write, limits=limits, repeated=repeated)


def logged(
    task: ChunkTask,
    write: Writer,
    groups: Sequence[tuple[Sequence[Sequence[Any]], Sequence[str], Sequence[str] | None]],
    key: Sequence[str],
    dry_run: bool,
) -> Writer:
    """The write, keeping the undo log of an undoable type's real run (docs/undo.md)."""
    if not task.job_type.undoable or dry_run:
        return write
    assert task.job_type.table is not None
    return undo_logged(
        write,
        task.job_type.table,
        task.database.dialect,
        groups,
        key,
        run_id=task.run.id,
        chunk_no=task.no,
        database=task.database,
    )


def counted_ahead(database: Engine, count: Writer) -> Writer:
    """A dry run's counts taken now, in a transaction of the chunk's own, before its commit.

    The count only reads the target, so it need not wait for the run's commit
    turn (SQLite's one writer; the commit's lock on the run): the chunks of a
    dry run count side by side, and the commit only records what they found.
    """
    with database.connect() as conn, conn.begin():
        counts = count(conn)

    def found(conn: Connection) -> RowCounts | None:
        return counts

    return found


def failure_limits(importer: Importer, controls: RunControls) -> FailureLimits | None:
    """The run's failure thresholds: its own where set, else its type's; None if neither."""
    limits = FailureLimits(
        max_failures=(
            controls.max_failures if controls.max_failures is not None else importer.max_failures
        ),
        max_failure_ratio=(
            controls.max_failure_ratio
            if controls.max_failure_ratio is not None
            else importer.max_failure_ratio
        ),
    )
    return limits if limits != FailureLimits() else None


def unique_by_key(
    rows: list[tuple[Any, ...]], columns: list[str], key: Sequence[str]
) -> list[tuple[Any, ...]]:
    """A transform's rows with one per key, the last of each (as a later row would win).

    An upsert counts each row it is given once, and PostgreSQL's merge cannot
    meet one key twice in a statement.
    """
    at = [columns.index(name) for name in key]
    return list({tuple(row[i] for i in at): row for row in rows}.values())


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
    """The upserts of a transform's row groups, one after the other, their counts summed."""

    def write(conn: Connection) -> RowCounts | None:
        total: RowCounts | None = RowCounts()
        for each in writes:
            counts = each(conn)
            total = None if total is None or counts is None else total + counts
        return total

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
class OpenedFile:
    """An import's file read as far as planning and the preview both need it."""

    reader: TabularFormat
    prepared: Prepared
    format: str
    mapping: list[list[Any]]
    limits: Limits
    #: Where each column goes and by which rule (``mapping`` is its ``columns``).
    placed: ColumnMapping


def open_file(request: PlanRequest, importer: Importer, scratch: list[str]) -> OpenedFile:
    """Check the file against its format, prepare it, apply the limits, map its header
    (the user's mapping, else the one saved for this header, then the proposal).

    One function for planning and the preview, so what the preview accepts the
    import accepts. Scratch files of the preparation go into ``scratch``.
    """
    if request.source_key is None:
        raise InputError("an import needs a file")
    read = ReadOptions.checked(request.read)
    locale_for(importer.locale, read)  # options that contradict each other: refused now
    declared = request.format or request.job_type.formats[0]
    reader = checked_reader(request.files, request.source_key, declared, read)
    prepared = reader.prepare(request.files, request.source_key, read)
    scratch += prepared.scratch
    limits = request.limits or request.job_type.limits
    check_columns(prepared.header, limits)
    if limits.max_field_bytes:
        prepared.params["max_field_bytes"] = limits.max_field_bytes
    placed = place_columns(
        prepared.header,
        importer.row,
        read=read,
        synonyms=importer.synonyms,
        type_key=request.job_type.type,
        saved_mappings=request.saved_mappings,
    )
    check_key_columns(importer, placed.columns, request.job_type.type)
    return OpenedFile(reader, prepared, declared, placed.columns, limits, placed)


#: A run's warning for a file that holds a header and no row: it completes, having done
#: nothing, which a user who sent the wrong file (or its template) should hear.
NO_ROWS = "the file holds a header and no rows: nothing was imported"


def encoding_warnings(prepared: Prepared) -> list[str]:
    """What the run says of a file whose encoding was detected rather than known."""
    if not prepared.params.get("encoding_detected"):
        return []
    return [f"the file is not UTF-8: read it as {prepared.params['file_encoding']} (detected)"]


def layout_of(prepared: Prepared) -> dict[str, Any]:
    """What a chunk needs to read the prepared file: the format's params and the header."""
    return {**prepared.params, "header": prepared.header}


def check_columns(header: list[str], limits: Limits) -> None:
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


def importer_of(request: PlanRequest) -> Importer:
    handler = request.job_type.handler
    if not isinstance(handler, Importer):
        raise ConfigurationError(
            f"import type '{request.job_type.type}' needs an Importer as its handler"
        )
    return handler


def checked_reader(
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
        raise InputError(_mismatch(declared, sniff_format(head)))
    return reader


def _mismatch(declared: str, actual: str | None) -> str:
    """Why a file's bytes are refused as ``declared``, and how to send it: the format
    follows the file's name unless one is given, so a name is the CLI user's way."""
    said = f"the file was sent as {declared.upper()} but its content"
    if actual is None:
        return f"{said} is binary data; send it with the matching format"
    from jobport.formats.spec import FORMATS

    spec = FORMATS.get(actual)
    extension = f"name it {spec.extension} or " if spec is not None else ""
    return f"{said} looks like {actual.upper()}; {extension}send it with format={actual}"
