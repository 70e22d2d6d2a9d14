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
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import BaseModel

from jobport.errors import ConfigurationError, InputError
from jobport.formats.spec import FORMATS
from jobport.formats.writers import (
    Batch,
    OutputColumn,
    assemble,
    concatenate,
    part_writer,
)
from jobport.kinds.base import ChunkTask, JobKind, Plan, PlanRequest
from jobport.kinds.export_keys import (
    in_range,
    key_columns,
    key_ranges,
    keys_indexed,
    numbered_boundaries,
    step_boundaries,
)
from jobport.kinds.export_rows import collector_paused, read_batches
from jobport.kinds.exporter import Column, Exporter
from jobport.kinds.params import FileParams, KeyRange, RunParams
from jobport.store import ChunkOutcome, RunResult

if TYPE_CHECKING:
    from jobport.files import FileStore
    from jobport.registry import JobType


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


def plan_files(files: FileStore, count: int, fmt: str) -> FileParams:
    """Where the ``count`` chunks of a run writing ``fmt`` put their parts and row counts."""
    ext = FORMATS.writer(fmt).part_suffix
    return FileParams(
        format=fmt,
        parts=[files.new_key("work", ext) for _ in range(count)],
        parts_meta=[files.new_key("work", ".json") for _ in range(count)],
    )


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
        files.move(temporary, key)
    except BaseException:
        files.delete(temporary)
        raise
    with files.open(meta_key, "wb") as stream:
        meta = meta_of() if meta_of is not None else {}
        stream.write(json.dumps({"rows": count, **meta}, default=str).encode())
    return count


def read_meta(files: FileStore, parts: FileParams) -> list[dict[str, Any]]:
    metas = []
    for key in parts.parts_meta:
        with files.open(key) as stream:
            metas.append(json.loads(stream.read()))
    return metas


def check_fits(fmt: str, rows: int, *, narrow: bool = False) -> None:
    """Refuse more rows than one file of the format holds (its ``FormatSpec.max_rows``:
    an XLSX sheet's rows), naming the formats that hold them.

    Checked when the run is planned (``narrow``: the export's options may cut the
    rows down) and again at its last step, as rows added meanwhile are exported too.
    """
    spec = FORMATS.writable(fmt)
    if spec.max_rows is None or rows <= spec.max_rows:
        return
    others = [
        other.title
        for other in FORMATS.specs()
        if other.writes and (other.max_rows is None or rows <= other.max_rows)
    ]
    advice = f"export as {_either(others)}" if others else "narrow the export"
    if narrow and others:
        advice += ", or narrow the export with its options"
    raise InputError(
        f"{rows:,} rows do not fit one {spec.title} file ({spec.max_rows:,} at most); {advice}"
    )


def _either(names: Sequence[str]) -> str:
    """Names joined for a sentence: "CSV, JSON Lines or Parquet"."""
    return f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]


def store_result(
    *,
    files: FileStore,
    job_type: JobType,
    columns: Sequence[OutputColumn],
    parts: FileParams,
    ttl: dt.timedelta,
    filename: str | None,
    extra: dict[str, Any] | None = None,
) -> RunResult:
    """Assemble the parts into the final file and store it: the run's result.

    The parts stay until the run is completed with this result (they are its
    leftovers): a second attempt, after a worker died here, needs them.
    """
    fmt = parts.format
    metas = read_meta(files, parts)
    rows = sum(int(meta["rows"]) for meta in metas)
    check_fits(fmt, rows)
    digest = hashlib.sha256()
    extension = FORMATS.writable(fmt).extension
    if FORMATS.writer(fmt).concatenated:
        # Header and parts go straight into storage, hashed on the way: one copy.
        key = files.new_key("results", extension)
        try:
            with files.open(key, "wb") as stream:
                target = _HashingWriter(stream, digest)
                concatenate(
                    fmt, columns, len(parts.parts), lambda n: files.open(parts.parts[n]), target
                )
                size = target.size
        except BaseException:
            files.delete(key)
            raise
    else:
        handle, local = tempfile.mkstemp(prefix="jobport-", suffix=extension)
        os.close(handle)
        try:
            assemble(fmt, columns, len(parts.parts), lambda n: files.open(parts.parts[n]), local)
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
    return RunResult(key, result, leftovers=(*parts.parts, *parts.parts_meta))


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
    return task.job_type.options.model_validate(RunParams.of(task.run.params).options)


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
                boundaries, total = step_boundaries(conn, query, keys, size)
            else:
                boundaries, total = numbered_boundaries(conn, query, keys, size)
        check_fits(fmt, total, narrow=True)
        ranges = key_ranges(boundaries, total, size)
        params = plan_files(request.files, len(ranges), fmt)
        return Plan(
            chunks=[each.to_json() for each in ranges], total=total, params=params.to_json()
        )

    def run_chunk(self, task: ChunkTask) -> ChunkOutcome:
        exporter = _exporter(task.job_type)
        params = FileParams.of(task.run.params)
        fmt = params.format
        span = KeyRange.of(task.spec)
        query = exporter.select(options_of(task))
        chosen, columns = output_columns(query, exporter.columns)
        keys = key_columns(task.job_type, exporter, query)
        query = in_range(query, keys, span.after, span.upto)
        no = task.no
        ordered = query.order_by(None).order_by(*keys)
        with (
            task.database.connect() as conn,
            contextlib.closing(read_batches(conn, ordered, chosen, fmt)) as batches,
            collector_paused(),
        ):
            count = write_part(
                task.files, fmt, params.parts[no], params.parts_meta[no], columns, batches=batches
            )
        return ChunkOutcome(processed=count)

    def finish(self, task: ChunkTask) -> RunResult:
        exporter = _exporter(task.job_type)
        params = FileParams.of(task.run.params)
        # A file that cannot be made raises: the worker fails the run with the reason
        # (JobFailed), never completes it without its file.
        query = exporter.select(options_of(task))
        _, columns = output_columns(query, exporter.columns)
        return store_result(
            files=task.files,
            job_type=task.job_type,
            columns=columns,
            parts=params,
            ttl=exporter.ttl,
            filename=exporter.filename,
        )


def _exporter(job_type: JobType) -> Exporter:
    handler = job_type.handler
    if not isinstance(handler, Exporter):
        raise ConfigurationError(f"export type '{job_type.type}' needs an Exporter as its handler")
    return handler


__all__ = ["Column", "ExportKind", "Exporter"]
