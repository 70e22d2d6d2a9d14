"""The export kind: a query's rows written to a file in parallel chunks.

Planning cuts the rows into keyset ranges (``key > after AND key <= upto``, in
key order) in one pass over the key's index: each boundary is the key
``chunk_size`` rows after the previous one (``LIMIT 1 OFFSET chunk_size - 1``),
and the row total is what the steps skipped plus a count of the last range.
A key without an index is numbered in one query instead (``ROW_NUMBER()``).
A chunk reads only its own rows through the key's index whatever its position,
straight from the DB-API cursor in batches, converting a column only where the
output needs it (see "reading a chunk's rows" below). Each chunk writes its
part of the file under a ``work/`` key chosen at planning; once the last chunk
commits, the worker calls :meth:`ExportKind.finish`, which assembles the parts
in order into the final file (CSV and JSON Lines: the header and the parts'
bytes, hashed on their way into storage), stores it under a ``results/`` key
and records its size, rows, checksum and expiry on the run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import IO, TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import BaseModel

from jobport.errors import ConfigurationError, InputError, JobportError
from jobport.formats.spec import FORMATS
from jobport.formats.writers import (
    XLSX_MAX_ROWS,
    Batch,
    OutputColumn,
    assemble,
    concatenate,
    part_writer,
)
from jobport.kinds.base import ChunkTask, JobKind, Plan, PlanRequest
from jobport.store import ChunkOutcome, RunRecord, RunResult

if TYPE_CHECKING:
    from jobport.files import FileStore
    from jobport.registry import JobType

log = logging.getLogger(__name__)

#: How long a result file is kept unless the type says otherwise.
DEFAULT_TTL = dt.timedelta(hours=72)
#: Rows fetched from the database at a time while a chunk writes its part.
FETCH_ROWS = 2_000

QueryFactory = Callable[[Any], "sa.Select[Any]"]
Formatter = Callable[[Any], Any]


@dataclass(frozen=True)
class Column:
    """One output column: the query column ``name``, its ``header`` in CSV and XLSX
    files (JSON Lines and Parquet use ``name``), and an optional ``formatter`` applied
    to each value.

    A formatter gets the Python value SQLAlchemy gives for the column (the column
    type's result processing applied: a ``date``, a ``Decimal``, a ``bool``, None for
    NULL), in every format and on every database, although the export itself reads
    the driver's values; what it returns is written as text (a string in Parquet)."""

    name: str
    header: str | None = None
    formatter: Formatter | None = None

    @property
    def label(self) -> str:
        return self.header if self.header is not None else self.name


@dataclass(frozen=True)
class Exporter:
    """The export handler of a job type.

    ``query`` is a select over the type's model, or a function of the type's
    validated options returning one (that is where filters come from).
    ``columns`` picks and labels the output columns (default: every selected
    column). ``key`` names the selected column(s) that order the rows and
    split them into chunks; it must be unique (default: the model's primary key).
    """

    query: sa.Select[Any] | QueryFactory
    columns: Sequence[Column | str] = ()
    default_format: str = "csv"
    key: str | Sequence[str] | None = None
    ttl: dt.timedelta = DEFAULT_TTL
    #: The download's name before ``-<date>.<ext>`` (default: the type key).
    filename: str | None = None

    def select(self, options: BaseModel) -> sa.Select[Any]:
        query = self.query if isinstance(self.query, sa.Select) else self.query(options)
        if not isinstance(query, sa.Select):
            raise ConfigurationError("an export query must be a SQLAlchemy select")
        return query


def output_columns(
    query: sa.Select[Any], columns: Sequence[Column | str]
) -> tuple[list[Column], list[OutputColumn]]:
    """The declared columns (or every selected one) and how each is written."""
    chosen = [Column(c) if isinstance(c, str) else c for c in columns] or [
        Column(str(name))
        for name in query.selected_columns.keys()  # noqa: SIM118
    ]
    selected = query.selected_columns
    out = []
    for column in chosen:
        if column.name not in selected:
            raise ConfigurationError(
                f"export column '{column.name}' is not selected by the query; it selects "
                f"{', '.join(str(k) for k in selected.keys())}"  # noqa: SIM118
            )
        kind = "string" if column.formatter else type_name(selected[column.name].type)
        out.append(OutputColumn(column.name, column.label, kind))
    return chosen, out


def type_name(column_type: Any) -> str:
    """The output type name (see :func:`jobport.formats.writers.arrow_type`) of a SQL type."""
    if isinstance(column_type, sa.Boolean):
        return "bool"
    if isinstance(column_type, sa.Integer):
        return "int"
    if isinstance(column_type, sa.Float):
        return "float"
    if isinstance(column_type, sa.Numeric):
        if column_type.precision is not None and column_type.scale is not None:
            return f"decimal({column_type.precision},{column_type.scale})"
        return "string"
    if isinstance(column_type, sa.DateTime):
        return "datetime_tz" if column_type.timezone else "datetime"
    if isinstance(column_type, sa.Date):
        return "date"
    return "string"


# -- the shared machinery of kinds that produce a file ----------------------------------------


@dataclass
class Parts:
    """Where the chunks of a run write their parts and their row counts."""

    keys: list[str] = field(default_factory=list)
    meta: list[str] = field(default_factory=list)

    @classmethod
    def plan(cls, files: FileStore, count: int, fmt: str) -> Parts:
        ext = FORMATS.writer(fmt).part_suffix
        return cls(
            keys=[files.new_key("work", ext) for _ in range(count)],
            meta=[files.new_key("work", ".json") for _ in range(count)],
        )

    def to_params(self) -> dict[str, Any]:
        return {"parts": self.keys, "parts_meta": self.meta}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Parts:
        return cls(list(params["parts"]), list(params["parts_meta"]))


def write_part(
    files: FileStore,
    fmt: str,
    key: str,
    meta_key: str,
    columns: Sequence[OutputColumn],
    rows: Iterable[Sequence[Any]] = (),
    meta_of: Callable[[], dict[str, Any]] | None = None,
    *,
    batches: Iterable[Batch] | None = None,
) -> int:
    """Write one chunk's part from ``rows`` (or ``batches`` of rows): to a fresh key
    first, then moved into place, so the planned key only ever holds a complete part
    (a repeated delivery rewrites it whole)."""
    temporary = files.new_key("work", os.path.splitext(key)[1])
    try:
        with files.open(temporary, "wb") as stream:
            writer = part_writer(fmt, stream, columns)
            count = writer.write_batches(batches) if batches is not None else writer.write(rows)
        files.fs.mv(files.path(temporary), files.path(key))
    except BaseException:
        files.delete(temporary)
        raise
    with files.open(meta_key, "wb") as stream:
        meta = meta_of() if meta_of is not None else {}
        stream.write(json.dumps({"rows": count, **meta}, default=str).encode())
    return count


def read_meta(files: FileStore, parts: Parts) -> list[dict[str, Any]]:
    metas = []
    for key in parts.meta:
        with files.open(key) as stream:
            metas.append(json.loads(stream.read()))
    return metas


def store_result(
    *,
    files: FileStore,
    job_type: JobType,
    fmt: str,
    columns: Sequence[OutputColumn],
    parts: Parts,
    ttl: dt.timedelta,
    filename: str | None,
    extra: dict[str, Any] | None = None,
) -> RunResult:
    """Assemble the parts into the final file and store it: the run's result.

    The parts stay until the run is completed with this result (they are its
    leftovers): a second attempt, after a worker died here, needs them.
    """
    metas = read_meta(files, parts)
    rows = sum(int(meta["rows"]) for meta in metas)
    if fmt == "xlsx" and rows >= XLSX_MAX_ROWS:
        raise InputError(
            f"{rows:,} rows do not fit one XLSX sheet ({XLSX_MAX_ROWS - 1:,} at most); "
            "export as CSV, JSON Lines or Parquet"
        )
    digest = hashlib.sha256()
    extension = FORMATS.writable(fmt).extension
    if FORMATS.writer(fmt).concatenated:
        # Header and parts go straight into storage, hashed on the way: one copy.
        key = files.new_key("results", extension)
        try:
            with files.open(key, "wb") as stream:
                target = _HashingWriter(stream, digest)
                concatenate(
                    fmt, columns, len(parts.keys), lambda n: files.open(parts.keys[n]), target
                )
                size = target.size
        except BaseException:
            files.delete(key)
            raise
    else:
        handle, local = tempfile.mkstemp(prefix="jobport-", suffix=extension)
        os.close(handle)
        try:
            assemble(fmt, columns, len(parts.keys), lambda n: files.open(parts.keys[n]), local)
            with open(local, "rb") as source:
                hashing: Any = _Hashing(source, digest)
                key, size = files.put_stream(hashing, area="results", extension=extension)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(local)
    now = dt.datetime.now(dt.UTC)
    result = {
        "size": size,
        "rows": rows,
        "checksum": f"sha256:{digest.hexdigest()}",
        "expires_at": (now + ttl).isoformat(),
        "format": fmt,
        "filename": f"{filename or job_type.type}-{now.date().isoformat()}{extension}",
        **(extra or {}),
    }
    return RunResult(key, result, leftovers=(*parts.keys, *parts.meta))


def failed_result(run: RunRecord, fmt: str, exc: BaseException) -> RunResult:
    """A result that could not be assembled: no file (empty key) and the reason."""
    message = exc.message if isinstance(exc, JobportError) else f"{type(exc).__name__}: {exc}"
    log.error("run %s: the %s file could not be assembled: %s", run.id, fmt, message)
    return RunResult("", {"error": message, "format": fmt})


class _Hashing:
    """A read stream that hashes what passes through it."""

    def __init__(self, stream: Any, digest: Any) -> None:
        self._stream = stream
        self._digest = digest

    def read(self, size: int = -1) -> bytes:
        block: bytes = self._stream.read(size)
        self._digest.update(block)
        return block


class _HashingWriter:
    """A write stream that hashes and counts what passes through it."""

    def __init__(self, stream: IO[bytes], digest: Any) -> None:
        self._stream = stream
        self._digest = digest
        self.size = 0

    def write(self, block: bytes) -> int:
        self._digest.update(block)
        self.size += len(block)
        return self._stream.write(block)


def check_format(job_type: JobType, fmt: str | None, default: str) -> str:
    chosen = fmt or default
    FORMATS.writable(chosen).require_extra()
    return chosen


def options_of(task: ChunkTask) -> BaseModel:
    return task.job_type.options.model_validate(task.run.params.get("options", {}))


# -- the export kind --------------------------------------------------------------------------


class ExportKind(JobKind):
    name = "export"
    in_order = False
    finishes = True

    def plan(self, request: PlanRequest) -> Plan:
        exporter = _exporter(request.job_type)
        if exporter.default_format not in request.job_type.formats:
            raise ConfigurationError(
                f"export type '{request.job_type.type}': default format "
                f"'{exporter.default_format}' is not one of its formats "
                f"({', '.join(request.job_type.formats)})"
            )
        fmt = check_format(request.job_type, request.format, exporter.default_format)
        query = exporter.select(request.options)
        output_columns(query, exporter.columns)
        keys = key_columns(request.job_type, exporter, query)
        size = request.job_type.chunk_size
        with request.database.connect() as conn:
            if keys_indexed(keys):
                boundaries, total = _step_boundaries(conn, query, keys, size)
            else:
                boundaries, total = _numbered_boundaries(conn, query, keys, size)
        if fmt == "xlsx" and total >= XLSX_MAX_ROWS:
            raise InputError(
                f"{total:,} rows do not fit one XLSX sheet ({XLSX_MAX_ROWS - 1:,} at most); "
                "export as CSV, JSON Lines or Parquet, or narrow the export with its options"
            )
        if boundaries and total % size == 0:
            boundaries.pop()  # the last full range is closed by "no upper bound"
        chunks: list[dict[str, Any]] = []
        after: list[Any] | None = None
        for upto in boundaries:
            chunks.append({"after": after, "upto": upto, "rows": size})
            after = upto
        chunks.append({"after": after, "upto": None, "rows": total - size * len(boundaries)})
        parts = Parts.plan(request.files, len(chunks), fmt)
        return Plan(chunks=chunks, total=total, params={**parts.to_params(), "format": fmt})

    def run_chunk(self, task: ChunkTask) -> ChunkOutcome:
        exporter = _exporter(task.job_type)
        fmt = task.run.params["format"]
        query = exporter.select(options_of(task))
        chosen, columns = output_columns(query, exporter.columns)
        keys = key_columns(task.job_type, exporter, query)
        query = _in_range(query, keys, task.spec.get("after"), task.spec.get("upto"))
        parts = Parts.from_params(task.run.params)
        no = task.no
        ordered = query.order_by(None).order_by(*keys)
        with (
            task.database.connect() as conn,
            contextlib.closing(read_batches(conn, ordered, chosen, fmt)) as batches,
            _collector_paused(),
        ):
            count = write_part(
                task.files, fmt, parts.keys[no], parts.meta[no], columns, batches=batches
            )
        return ChunkOutcome(processed=count)

    def finish(self, task: ChunkTask) -> RunResult:
        exporter = _exporter(task.job_type)
        fmt = task.run.params["format"]
        try:
            query = exporter.select(options_of(task))
            _, columns = output_columns(query, exporter.columns)
            return store_result(
                files=task.files,
                job_type=task.job_type,
                fmt=fmt,
                columns=columns,
                parts=Parts.from_params(task.run.params),
                ttl=exporter.ttl,
                filename=exporter.filename,
            )
        except Exception as exc:
            return failed_result(task.run, fmt, exc)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cycle collector while a chunk streams its rows.

    Every batch allocates thousands of tuples that die young by reference
    counting (no cycles); the collector would keep scanning them for nothing,
    about a tenth of a chunk's time. Memory stays bounded by the batch size.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def formatted_rows(result: Any, columns: Sequence[Column]) -> Iterator[tuple[Any, ...]]:
    """Each result row's values in column order, through the columns' formatters."""
    names = list(result.keys())
    positions = [names.index(c.name) for c in columns]
    formatters = [(i, c.formatter) for i, c in enumerate(columns) if c.formatter is not None]
    pick = None if positions == list(range(len(names))) else itemgetter(*positions)
    for row in result:
        values = tuple(row) if pick is None else pick(row)
        if formatters:
            changed = list(values)
            for index, formatter in formatters:
                changed[index] = formatter(changed[index])
            values = tuple(changed)
        yield values if type(values) is tuple else (values,)


# -- reading a chunk's rows -------------------------------------------------------------------
#
# A chunk reads its rows through the DB-API cursor, in batches of ``FETCH_ROWS``
# tuples, and converts values a whole column at a time, only where the output
# needs it. The rule for every column:
#
# * a column with a ``formatter`` gets, cell by cell, the Python value SQLAlchemy
#   would give for it (the column type's result processing applied to the stored
#   value), whatever the format; what the formatter returns is written as text;
# * any other column is written exactly as the value SQLAlchemy would give is
#   written. Where the database driver's value already is that (no result
#   processing: text, integers, floats, and every type PostgreSQL's driver
#   decodes itself) it is written as it comes. Where SQLAlchemy would convert it
#   (SQLite's dates, decimals and booleans), the column is converted with
#   SQLAlchemy's own processor, unless the format writes the stored value the same
#   way: CSV and JSON Lines write a date stored as ISO text as that text, a decimal
#   stored as a float as that float with the column's scale, and CSV writes a
#   boolean stored as 0 or 1 as it writes False or True. Each such shortcut is
#   checked against SQLAlchemy's processor before it is used, and a batch it does
#   not fit (a date not in ISO form, an infinite decimal) goes through the processor.
#
# Dialects with server-side cursors (PostgreSQL) stream the rows through
# SQLAlchemy's result instead (``yield_per``), so a chunk never holds more than a
# batch of them; their values are then SQLAlchemy's already.

Convert = Callable[[Sequence[Any]], Sequence[Any]]
_ISO_DATES = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:\n[0-9]{4}-[0-9]{2}-[0-9]{2})*")
#: Formats that write dates and decimals as text (so a stored text or float may do).
_TEXT_FORMATS = ("csv", "jsonl")
#: Floats that check a decimal shortcut against SQLAlchemy's processor.
_DECIMAL_PROBES = (0, 7, 0.0, -0.0, 0.5, 1.005, -2.675, 450.7, 1491.26, -1234.5678, 1e15, 2.5e-7)
_NOT_FINITE = frozenset({"inf", "-inf", "nan", "-nan"})


def read_batches(
    conn: sa.Connection, query: sa.Select[Any], columns: Sequence[Column], fmt: str
) -> Generator[Batch]:
    """The rows of ``query`` as batches of the ``columns`` values, ready for ``fmt``."""
    dialect = conn.dialect
    if dialect.supports_server_side_cursors:
        yield from _streamed_batches(conn, query, columns)
        return
    types = [column.type for column in query.selected_columns]
    result = conn.execute(query)
    try:
        names = list(result.keys())
        positions = [names.index(column.name) for column in columns]
        cursor = result.cursor
        description = cursor.description or []
        steps = [
            (index, step)
            for index, column in enumerate(columns)
            if (
                step := column_step(
                    column,
                    types[positions[index]],
                    dialect,
                    description[positions[index]][1] if description else None,
                    fmt,
                )
            )
            is not None
        ]
        pick = _picker(positions, len(names))
        width = len(columns)
        while rows := cursor.fetchmany(FETCH_ROWS):
            batch = pick(rows, width)
            for index, convert in steps:
                batch.set_column(index, convert(batch.column(index)))
            yield batch
    finally:
        result.close()


def _streamed_batches(
    conn: sa.Connection, query: sa.Select[Any], columns: Sequence[Column]
) -> Iterator[Batch]:
    result = conn.execution_options(yield_per=FETCH_ROWS).execute(query)
    try:
        names = list(result.keys())
        positions = [names.index(column.name) for column in columns]
        formatters = [(i, c.formatter) for i, c in enumerate(columns) if c.formatter is not None]
        pick = _picker(positions, len(names))
        for rows in result.partitions():
            batch = pick(rows, len(columns))
            for index, formatter in formatters:
                batch.set_column(index, list(map(formatter, batch.column(index))))
            yield batch
    finally:
        result.close()


def _picker(positions: list[int], width: int) -> Callable[[Sequence[Any], int], Batch]:
    """Rows of the query's columns -> a batch of the output columns, picked in C."""
    if positions == list(range(width)):
        return Batch
    if len(positions) == 1:
        (position,) = positions
        getter = itemgetter(position)
        return lambda rows, _: Batch.of_columns([list(map(getter, rows))])
    pick = itemgetter(*positions)
    return lambda rows, width: Batch(list(map(pick, rows)), width)


def column_step(
    column: Column, declared: Any, dialect: sa.Dialect, coltype: Any, fmt: str
) -> Convert | None:
    """How one column's stored values become what ``fmt``'s writer needs (None: as they are)."""
    processor = declared.dialect_impl(dialect).result_processor(dialect, coltype)
    formatter = column.formatter
    if formatter is not None:
        if processor is None:
            return lambda values: [formatter(v) for v in values]
        return lambda values: [formatter(processor(v)) for v in values]
    if processor is None:
        return None
    if not isinstance(declared, sa.TypeDecorator):
        if fmt == "csv" and isinstance(declared, sa.Boolean) and _stored_booleans(processor):
            return None  # the CSV writer spells 0/1 as False/True (see bool_texts)
        if fmt in _TEXT_FORMATS and isinstance(declared, sa.Date):
            shortcut = _iso_dates(processor)
            if shortcut is not None:
                return shortcut
        if fmt in _TEXT_FORMATS and isinstance(declared, sa.Numeric):
            shortcut = _scaled_floats(declared, processor)
            if shortcut is not None:
                return shortcut
    return lambda values: list(map(processor, values))


def _stored_booleans(processor: Callable[[Any], Any]) -> bool:
    try:
        return processor(1) is True and processor(0) is False and processor(None) is None
    except Exception:
        return False


def _iso_dates(processor: Callable[[Any], Any]) -> Convert | None:
    """Dates stored as ISO text, written as that text (what ``str(date)`` would give).

    Every value still goes through the processor, so a date SQLAlchemy would refuse
    fails the chunk as it would; only the writing of date objects is saved."""
    try:
        if processor("2020-09-11") != dt.date(2020, 9, 11):
            return None
    except Exception:
        return None

    def convert(values: Sequence[Any]) -> Sequence[Any]:
        parsed = list(map(processor, values))
        # Every stored value parsed, so each is one line of text: one match checks them all.
        stored = "\n".join(filter(None, values))
        if not stored or _ISO_DATES.fullmatch(stored):
            return values
        return parsed

    return convert


def _scaled_floats(declared: sa.Numeric[Any], processor: Callable[[Any], Any]) -> Convert | None:
    """Decimals stored as floats (SQLite), written as SQLAlchemy's Decimal would be.

    SQLAlchemy reads them as ``Decimal("%.<scale>f" % value)``; written, that is the
    formatted text itself, which is what this gives without the Decimal."""
    if not declared.asdecimal:
        return None
    scale = declared.decimal_return_scale
    if scale is None:
        scale = getattr(declared, "scale", None)
    # Beyond six places, str(Decimal) may switch to exponent notation; not worth it.
    if scale is None or not 0 <= scale <= 6:
        return None
    text = f"%.{scale}f"
    try:
        for probe in _DECIMAL_PROBES:
            value = processor(probe)
            if not (str(value) == format(value, "f") == text % probe):
                return None
    except Exception:
        return None

    def convert(values: Sequence[Any]) -> Sequence[Any]:
        if None in values:
            texts = [None if v is None else text % v for v in values]
        else:
            texts = list(map(text.__mod__, values))
        if not _NOT_FINITE.isdisjoint(texts):
            return list(map(processor, values))  # Decimal("Infinity") is written "Infinity"
        return texts

    return convert


# -- planning ---------------------------------------------------------------------------------


def keys_indexed(keys: Sequence[sa.ColumnElement[Any]]) -> bool:
    """Whether the table's declared primary key, a unique column or an index leads with
    the key columns, so stepping through them in key order reads an index, not a sort
    of the whole table each step. Without one, planning numbers the rows in one query."""
    columns = [key for key in keys if isinstance(key, sa.Column)]
    if len(columns) != len(keys) or not columns:
        return False
    table = columns[0].table
    if not isinstance(table, sa.Table) or any(c.table is not table for c in columns):
        return False
    names = [c.name for c in columns]
    leading = [[c.name for c in table.primary_key.columns]]
    leading += [[c.name for c in index.columns] for index in table.indexes]
    leading += [[c.name] for c in columns if c.unique or c.index]
    return any(candidate[: len(names)] == names for candidate in leading)


def _step_boundaries(
    conn: sa.Connection,
    query: sa.Select[Any],
    keys: list[sa.ColumnElement[Any]],
    size: int,
) -> tuple[list[list[Any]], int]:
    """The key of every ``size``-th row and the row total, in one pass over the key's
    index: each step skips ``size - 1`` keys after the previous boundary."""
    ordered = (
        query.with_only_columns(*keys, maintain_column_froms=True).order_by(None).order_by(*keys)
    )
    boundaries: list[list[Any]] = []
    after: list[Any] | None = None
    while True:
        step = _in_range(ordered, keys, after, None).offset(size - 1).limit(1)
        row = conn.execute(step).first()
        if row is None:
            break
        after = [_json_key(value) for value in row]
        boundaries.append(after)
    rest = _in_range(query, keys, after, None).order_by(None).subquery()
    remainder = int(conn.execute(sa.select(sa.func.count()).select_from(rest)).scalar_one())
    return boundaries, size * len(boundaries) + remainder


def _numbered_boundaries(
    conn: sa.Connection,
    query: sa.Select[Any],
    keys: list[sa.ColumnElement[Any]],
    size: int,
) -> tuple[list[list[Any]], int]:
    """The same in one query numbering the rows (one sort, for keys without an index)."""
    numbered = (
        query.with_only_columns(
            *keys,
            sa.func.row_number().over(order_by=keys).label("jobport_rn"),
            sa.func.count().over().label("jobport_total"),
            maintain_column_froms=True,
        )
        .order_by(None)
        .subquery()
    )
    width = len(keys)
    rows = conn.execute(
        sa.select(
            *[numbered.c[i] for i in range(width)], numbered.c.jobport_rn, numbered.c.jobport_total
        )
        .where(
            sa.or_(
                numbered.c.jobport_rn % size == 0,
                numbered.c.jobport_rn == numbered.c.jobport_total,
            )
        )
        .order_by(numbered.c.jobport_rn)
    ).all()
    total = int(rows[-1][width + 1]) if rows else 0
    boundaries = [
        [_json_key(value) for value in row[:width]] for row in rows if row[width] % size == 0
    ]
    return boundaries, total


def key_columns(
    job_type: JobType, exporter: Exporter, query: sa.Select[Any]
) -> list[sa.ColumnElement[Any]]:
    if exporter.key is not None:
        names = [exporter.key] if isinstance(exporter.key, str) else list(exporter.key)
    else:
        table = job_type.table
        if table is None or not list(table.primary_key.columns):
            raise ConfigurationError(
                f"export type '{job_type.type}' needs a key: name the unique column(s) that "
                "order its rows with Exporter(key=...)"
            )
        names = [c.name for c in table.primary_key.columns]
    selected = query.selected_columns
    missing = [name for name in names if name not in selected]
    if missing:
        raise ConfigurationError(
            f"export type '{job_type.type}': key column(s) {missing} must be selected by its query"
        )
    return [selected[name] for name in names]


def _in_range(
    query: sa.Select[Any],
    keys: list[sa.ColumnElement[Any]],
    after: list[Any] | None,
    upto: list[Any] | None,
) -> sa.Select[Any]:
    def row(values: list[Any]) -> Any:
        return keys[0] if len(keys) == 1 else sa.tuple_(*keys), (
            values[0] if len(keys) == 1 else sa.tuple_(*[sa.literal(v) for v in values])
        )

    if after is not None:
        left, right = row(after)
        query = query.where(left > right)
    if upto is not None:
        left, right = row(upto)
        query = query.where(left <= right)
    return query


def _json_key(value: Any) -> Any:
    if value is None or isinstance(value, int | str | float):
        return value
    raise ConfigurationError(
        f"export keys must be integers or strings to split an export into chunks, not "
        f"{type(value).__name__}; name another unique column with Exporter(key=...)"
    )


def _exporter(job_type: JobType) -> Exporter:
    handler = job_type.handler
    if not isinstance(handler, Exporter):
        raise ConfigurationError(f"export type '{job_type.type}' needs an Exporter as its handler")
    return handler


__all__ = ["Column", "ExportKind", "Exporter"]
