"""Parquet reading by row groups, with pyarrow (the optional ``parquet`` extra).

A chunk is one row group: it reads only its own column chunks. A file whose
row groups are much larger than a chunk is first rewritten once, streaming,
into row groups of chunk size, so chunks stay small and parallel and memory
never depends on the file. Values reach validation as the text a CSV would
hold (see :mod:`jobport.formats.cells`); row numbers count data rows from 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from jobport.errors import InputError
from jobport.formats.arrow import pyarrow_modules
from jobport.formats.base import Prepared, ReadOptions, Record
from jobport.formats.spec import Extra, FormatSpec

if TYPE_CHECKING:
    from jobport.files import FileStore

MAGIC = b"PAR1"

#: A row group over this many times the chunk size is rewritten before planning.
OVERSIZED_GROUP = 2


class ParquetFormat:
    name = "parquet"

    def sniff(self, head: bytes) -> bool:
        return head.startswith(MAGIC)

    def prepare(self, files: FileStore, key: str, read: ReadOptions) -> Prepared:
        _, pq, _ = pyarrow_modules()
        with files.open(key) as stream:
            try:
                metadata = pq.ParquetFile(stream).metadata
            except Exception as exc:  # pyarrow raises its own error types
                raise InputError(f"the file is not a readable Parquet file: {exc}") from None
            header = [str(name) for name in metadata.schema.names]
        if not header:
            raise InputError("the Parquet file has no columns")
        return Prepared(source_key=key, header=header)

    def plan(
        self, files: FileStore, prepared: Prepared, rows_per_chunk: int
    ) -> Iterator[dict[str, Any]]:
        _, pq, _ = pyarrow_modules()
        key = prepared.source_key
        with files.open(key) as stream:
            metadata = pq.ParquetFile(stream).metadata
            sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
        if sizes and max(sizes) > OVERSIZED_GROUP * rows_per_chunk:
            key = regroup(files, key, rows_per_chunk)
            with files.open(key) as stream:
                metadata = pq.ParquetFile(stream).metadata
                sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
        first = 1
        for group, rows in enumerate(sizes):
            if rows:
                yield {"key": key, "group": group, "first_row": first, "rows": rows}
            first += rows

    def read(
        self, files: FileStore, source_key: str, params: dict[str, Any], spec: dict[str, Any]
    ) -> Iterator[Record]:
        _, pq, _ = pyarrow_modules()
        header = list(params["header"])
        with files.open(spec.get("key", source_key)) as stream:
            table = pq.ParquetFile(stream).read_row_group(int(spec["group"]), columns=header)
        columns = [column_text(table.column(name)) for name in header]
        first = int(spec["first_row"])
        rows = zip(*columns, strict=True)
        return iter([(first + index, list(values)) for index, values in enumerate(rows)])


def column_text(column: Any) -> list[str | None]:
    """A column's values as text, converted by Arrow itself where it can."""
    pa, _, pc = pyarrow_modules()
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return list(column.to_pylist())
    if pa.types.is_timestamp(kind):
        values: list[Any] = column.to_pylist()
        return [None if v is None else v.isoformat() for v in values]
    try:
        return list(pc.cast(column, pa.string()).to_pylist())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return [_text(value) for value in column.to_pylist()]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def regroup(files: FileStore, key: str, rows_per_group: int) -> str:
    """Rewrite a Parquet file with row groups of ``rows_per_group`` rows, streaming."""
    pa, pq, _ = pyarrow_modules()
    new_key = files.new_key("work", ".parquet")
    with files.open(key) as source, files.open(new_key, "wb") as target:
        parquet = pq.ParquetFile(source)
        with pq.ParquetWriter(target, parquet.schema_arrow) as writer:
            for batch in parquet.iter_batches(batch_size=rows_per_group):
                writer.write_table(pa.Table.from_batches([batch]), row_group_size=rows_per_group)
    return new_key


#: The Parquet format, as the registry knows it (see :mod:`jobport.formats.spec`).
FORMAT = FormatSpec(
    name="parquet",
    suffixes=(".parquet",),
    media_type="application/vnd.apache.parquet",
    label="Parquet",
    reader=ParquetFormat(),
    writer_at="jobport.formats.writers:PARQUET_WRITER",
    extra=Extra(module="pyarrow", name="parquet"),
)
