"""The export kind: a query's rows written to a file in parallel chunks.

Planning counts the rows and cuts them into keyset ranges (``key > after AND
key <= upto``, in key order), so a chunk reads only its own rows through the
key's index whatever its position. Each chunk writes its part of the file
under a ``work/`` key chosen at planning; once the last chunk commits, the
worker calls :meth:`ExportKind.finish`, which assembles the parts in order
into the final file, stores it under a ``results/`` key and records its size,
rows, checksum and expiry on the run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import BaseModel

from jobport.errors import ConfigurationError, InputError, JobportError
from jobport.formats.writers import (
    EXTENSIONS,
    XLSX_MAX_ROWS,
    OutputColumn,
    assemble,
    part_writer,
)
from jobport.kinds.base import ChunkTask, Plan, PlanRequest
from jobport.store import ChunkOutcome, JobStore, RunRecord

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
    to each value (its output is text in Parquet)."""

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
        ext = ".parquet" if fmt == "parquet" else ".part"
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
    rows: Iterator[Sequence[Any]],
    meta_of: Callable[[], dict[str, Any]] | None = None,
) -> int:
    """Write one chunk's part: to a fresh key first, then moved into place, so the
    planned key only ever holds a complete part (a repeated delivery rewrites it whole)."""
    temporary = files.new_key("work", os.path.splitext(key)[1])
    try:
        with files.open(temporary, "wb") as stream:
            count = part_writer(fmt, stream, columns).write(rows)
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
    store: JobStore,
    run: RunRecord,
    job_type: JobType,
    fmt: str,
    columns: Sequence[OutputColumn],
    parts: Parts,
    ttl: dt.timedelta,
    filename: str | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the parts into the final file, store it and record it on the run."""
    metas = read_meta(files, parts)
    rows = sum(int(meta["rows"]) for meta in metas)
    if fmt == "xlsx" and rows >= XLSX_MAX_ROWS:
        raise InputError(
            f"{rows:,} rows do not fit one XLSX sheet ({XLSX_MAX_ROWS - 1:,} at most); "
            "export as CSV, JSON Lines or Parquet"
        )
    handle, local = tempfile.mkstemp(prefix="jobport-", suffix=EXTENSIONS[fmt])
    os.close(handle)
    try:
        assemble(fmt, columns, len(parts.keys), lambda n: files.open(parts.keys[n]), local)
        digest = hashlib.sha256()
        with open(local, "rb") as source:
            hashing: Any = _Hashing(source, digest)
            key, size = files.put_stream(hashing, area="results", extension=EXTENSIONS[fmt])
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
        "filename": f"{filename or job_type.type}-{now.date().isoformat()}{EXTENSIONS[fmt]}",
        **(extra or {}),
    }
    store.set_result(run.id, key, result)
    for part in [*parts.keys, *parts.meta]:
        files.delete(part)
    return result


def record_failure(store: JobStore, run: RunRecord, fmt: str, exc: BaseException) -> None:
    """A result that could not be assembled: no file (empty key) and the reason."""
    message = exc.message if isinstance(exc, JobportError) else f"{type(exc).__name__}: {exc}"
    log.error("run %s: the %s file could not be assembled: %s", run.id, fmt, message)
    store.set_result(run.id, "", {"error": message, "format": fmt})


class _Hashing:
    """A read stream that hashes what passes through it."""

    def __init__(self, stream: Any, digest: Any) -> None:
        self._stream = stream
        self._digest = digest

    def read(self, size: int = -1) -> bytes:
        block: bytes = self._stream.read(size)
        self._digest.update(block)
        return block


def check_format(job_type: JobType, fmt: str | None, default: str) -> str:
    chosen = fmt or default
    if chosen not in EXTENSIONS:
        raise InputError(f"cannot write '{chosen}' files; formats: {', '.join(EXTENSIONS)}")
    if chosen == "parquet":
        from jobport.formats.parquet import pyarrow_modules

        pyarrow_modules()
    return chosen


def options_of(task: ChunkTask) -> BaseModel:
    return task.job_type.options.model_validate(task.run.params.get("options", {}))


# -- the export kind --------------------------------------------------------------------------


class ExportKind:
    name = "export"
    in_order = False

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
            total = int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
                ).scalar_one()
            )
            ordered = query.with_only_columns(
                *keys, sa.func.row_number().over(order_by=keys).label("jobport_rn")
            ).order_by(None)
            numbered = ordered.subquery()
            boundaries = [
                [_json_key(value) for value in row]
                for row in conn.execute(
                    sa.select(*[numbered.c[i] for i in range(len(keys))])
                    .where(numbered.c.jobport_rn % size == 0)
                    .order_by(numbered.c.jobport_rn)
                )
            ]
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
        with task.database.connect() as conn:
            result = conn.execution_options(yield_per=FETCH_ROWS).execute(
                query.order_by(None).order_by(*keys)
            )
            rows = formatted_rows(result, chosen)
            count = write_part(task.files, fmt, parts.keys[no], parts.meta[no], columns, rows)
        return ChunkOutcome(processed=count)

    def finish(self, task: ChunkTask) -> None:
        exporter = _exporter(task.job_type)
        fmt = task.run.params["format"]
        try:
            query = exporter.select(options_of(task))
            _, columns = output_columns(query, exporter.columns)
            store_result(
                files=task.files,
                store=JobStore(task.database),
                run=task.run,
                job_type=task.job_type,
                fmt=fmt,
                columns=columns,
                parts=Parts.from_params(task.run.params),
                ttl=exporter.ttl,
                filename=exporter.filename,
            )
        except Exception as exc:
            record_failure(JobStore(task.database), task.run, fmt, exc)


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
