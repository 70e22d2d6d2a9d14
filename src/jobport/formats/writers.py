"""Export writers: each chunk writes a part, the last step assembles the parts in order.

Parts are written in parallel by chunks; assembly streams them one after the
other into the final file, so memory never depends on the export's size.

* CSV: parts are CSV rows; the final file is the header line and the parts.
* JSON Lines: parts are lines of objects keyed by column name; concatenated.
* XLSX: parts are JSON arrays of cell values; the final workbook is written by
  xlsxwriter in constant-memory mode (each row goes to disk as it is written).
  Text cells are always written as strings, never as formulas.
* Parquet: parts are Parquet files of one schema; their row groups are copied.

CSV and XLSX text cells that start with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return (perhaps behind apostrophes) are neutralised, in a way the CSV
and XLSX readers undo (see :func:`jobport.formats.cells.neutralise`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice, repeat
from typing import IO, Any, Protocol

from jobport.errors import InputError
from jobport.formats.arrow import pyarrow_modules
from jobport.formats.cells import (
    is_text_column,
    json_value,
    neutralise,
    neutralised_column,
    safe_cell,
)
from jobport.formats.spec import FORMATS, FileWriter, PartOpener

#: Rows one XLSX worksheet holds, the header included.
XLSX_MAX_ROWS = 1_048_576


@dataclass(frozen=True)
class OutputColumn:
    """One column of an output file: its key (JSON Lines, Parquet), its header (CSV,
    XLSX) and its Parquet type name (see :func:`arrow_type`)."""

    name: str
    header: str
    type: str = "string"


class Batch:
    """One fetch of rows, readable as rows or as columns.

    Readers and writers convert whole columns at a time (``map``, ``zip`` and list
    comprehensions run in C) rather than touching every row in Python. A batch
    transposes its rows at most once, when a column is first asked for, and
    rebuilds its rows only when a column was replaced; a batch nobody converts
    is written as it was fetched.
    """

    __slots__ = ("_columns", "_length", "_rows", "width")

    def __init__(self, rows: Sequence[Sequence[Any]], width: int) -> None:
        self._rows: Sequence[Sequence[Any]] | None = rows
        self._columns: list[Sequence[Any]] | None = None
        self._length = len(rows)
        self.width = width

    @classmethod
    def of_columns(cls, columns: list[Sequence[Any]]) -> Batch:
        batch = cls((), len(columns))
        batch._rows = None
        batch._columns = columns
        batch._length = len(columns[0]) if columns else 0
        return batch

    def __len__(self) -> int:
        return self._length

    def columns(self) -> list[Sequence[Any]]:
        if self._columns is None:
            rows = self._rows or ()
            if rows:
                self._columns = list(zip(*rows, strict=True))
            else:
                self._columns = [() for _ in range(self.width)]
        return self._columns

    def column(self, index: int) -> Sequence[Any]:
        return self.columns()[index]

    def set_column(self, index: int, values: Sequence[Any]) -> None:
        columns = self.columns()
        if values is not columns[index]:
            columns[index] = values
            self._rows = None

    def rows(self) -> Sequence[Sequence[Any]]:
        if self._rows is None:
            columns = self._columns or []
            self._rows = list(zip(*columns, strict=True)) if columns and self._length else []
        return self._rows


#: Rows per batch when a writer is handed plain rows.
BATCH_ROWS = 2_000


def batches_of(
    rows: Iterable[Sequence[Any]], width: int, size: int = BATCH_ROWS
) -> Iterator[Batch]:
    """Rows in batches of ``size``."""
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield Batch(chunk, width)


class PartWriter(Protocol):
    def write(self, rows: Iterable[Sequence[Any]]) -> int:
        """Write rows (values in column order); returns how many were written."""

    def write_batches(self, batches: Iterable[Batch]) -> int:
        """Write batches of rows (values in column order); returns how many rows."""


def part_writer(fmt: str, stream: IO[bytes], columns: Sequence[OutputColumn]) -> PartWriter:
    """The writer of one part of a ``fmt`` export (any registered format with a writer)."""
    return FORMATS.writer(fmt).part(stream, columns)


def csv_text(value: Any) -> Any:
    """A value of a text column as the CSV writer writes it: text neutralised, booleans
    spelled out, decimals in plain notation; None and other values left to the csv module."""
    if value is None:
        return ""
    kind = type(value)
    if kind is str:
        return safe_cell(value)
    if kind is bool:
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


_BOOL_TEXT: dict[Any, str | None] = {True: "true", False: "false", None: None}


def bool_texts(values: Sequence[Any]) -> Sequence[Any]:
    """A boolean column as CSV text. Stored 0 and 1 (SQLite's booleans) are spelled as
    False and True are; any other value as its truth (as SQLAlchemy reads it)."""
    try:
        if _BOOL_TEXT.keys() >= set(values):
            return list(map(_BOOL_TEXT.__getitem__, values))
    except TypeError:  # an unhashable value: cell by cell
        pass
    return [None if v is None else ("true" if v else "false") for v in values]


def csv_texts(values: Sequence[Any]) -> Sequence[Any]:
    """A text column for CSV: the same sequence when no cell needs a change."""
    if is_text_column(values):
        return neutralised_column(values)
    return [csv_text(v) for v in values]


class _Part:
    def __init__(self, stream: IO[bytes], columns: Sequence[OutputColumn]) -> None:
        self._stream = stream
        self._columns = columns

    def write(self, rows: Iterable[Sequence[Any]]) -> int:
        return self.write_batches(batches_of(rows, len(self._columns)))

    def write_batches(self, batches: Iterable[Batch]) -> int:
        raise NotImplementedError


#: Characters of CSV text gathered before they are encoded and written.
_CSV_FLUSH_CHARS = 1 << 20


class _CsvPart(_Part):
    """CSV rows. Only columns that need it are converted, a whole column at a time:
    text is neutralised and booleans spelled out; numbers, dates and None are written
    by the csv module as they are. The text is gathered in memory and written to the
    stream in blocks of about a megabyte."""

    def write_batches(self, batches: Iterable[Batch]) -> int:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        texts = [i for i, c in enumerate(self._columns) if c.type == "string"]
        booleans = [i for i, c in enumerate(self._columns) if c.type == "bool"]
        write = self._stream.write
        count = 0
        for batch in batches:
            for index in texts:
                batch.set_column(index, csv_texts(batch.column(index)))
            for index in booleans:
                batch.set_column(index, bool_texts(batch.column(index)))
            writer.writerows(batch.rows())
            count += len(batch)
            if buffer.tell() >= _CSV_FLUSH_CHARS:
                write(buffer.getvalue().encode("utf-8"))
                buffer = io.StringIO()
                writer = csv.writer(buffer)
        if buffer.tell():
            write(buffer.getvalue().encode("utf-8"))
        return count


class _JsonLinesPart(_Part):
    def write_batches(self, batches: Iterable[Batch]) -> int:
        names = [c.name for c in self._columns]
        dumps = json.JSONEncoder(ensure_ascii=False, default=json_value).encode
        write = self._stream.write
        count = 0
        for batch in batches:
            rows = batch.rows()
            if rows:
                lines = "\n".join(map(dumps, map(dict, map(zip, repeat(names), rows))))
                write((lines + "\n").encode("utf-8"))
                count += len(rows)
        return count


def _xlsx_cell(value: Any) -> Any:
    """A cell for the XLSX part: JSON, with dates tagged so assembly writes real dates."""
    kind = type(value)
    if kind is str:
        return safe_cell(value)
    if value is None or kind in (int, float, bool):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        return {"dt": value.replace(tzinfo=None).isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    return neutralise(str(value))


class _XlsxPart(_Part):
    def write_batches(self, batches: Iterable[Batch]) -> int:
        dumps = json.JSONEncoder(ensure_ascii=False).encode
        write = self._stream.write
        cell = _xlsx_cell
        count = 0
        for batch in batches:
            rows = batch.rows()
            if rows:
                lines = "\n".join([dumps([cell(value) for value in row]) for row in rows])
                write((lines + "\n").encode("utf-8"))
                count += len(rows)
        return count


#: Rows of one Parquet row group in a part (a part is written a row group at a time).
PARQUET_ROW_GROUP_ROWS = 65_536


class _ParquetPart(_Part):
    """A Parquet file of one schema, streamed: each batch becomes an Arrow record batch
    at once, and a row group is written every ``PARQUET_ROW_GROUP_ROWS`` rows."""

    def write_batches(self, batches: Iterable[Batch]) -> int:
        pa, pq, _ = pyarrow_modules()
        schema = arrow_schema(self._columns)
        texts = [i for i, c in enumerate(self._columns) if c.type == "string"]
        count = 0
        pending: list[Any] = []
        pending_rows = 0
        with pq.ParquetWriter(self._stream, schema) as writer:
            for batch in batches:
                if not len(batch):
                    continue
                for index in texts:
                    batch.set_column(
                        index, [None if v is None else _plain_text(v) for v in batch.column(index)]
                    )
                arrays = [
                    pa.array(values, type=schema.field(i).type)
                    for i, values in enumerate(batch.columns())
                ]
                pending.append(pa.RecordBatch.from_arrays(arrays, schema=schema))
                pending_rows += len(batch)
                count += len(batch)
                if pending_rows >= PARQUET_ROW_GROUP_ROWS:
                    writer.write_table(pa.Table.from_batches(pending, schema=schema), pending_rows)
                    pending, pending_rows = [], 0
            if pending or not count:
                table = pa.Table.from_batches(pending, schema=schema)
                writer.write_table(table, max(pending_rows, 1))
        return count


def _plain_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def arrow_type(name: str) -> Any:
    """The Arrow type of a column type name: int, float, bool, date, datetime,
    datetime_tz, decimal(p,s) or string."""
    pa, _, _ = pyarrow_modules()
    simple = {
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "date": pa.date32(),
        "datetime": pa.timestamp("us"),
        "datetime_tz": pa.timestamp("us", tz="UTC"),
        "string": pa.string(),
    }
    if name in simple:
        return simple[name]
    if name.startswith("decimal(") and name.endswith(")"):
        precision, scale = (int(part) for part in name[8:-1].split(","))
        return pa.decimal128(precision, scale)
    return pa.string()


def arrow_schema(columns: Sequence[OutputColumn]) -> Any:
    pa, _, _ = pyarrow_modules()
    return pa.schema([pa.field(c.name, arrow_type(c.type)) for c in columns])


# -- assembly ---------------------------------------------------------------------------------


def assemble(
    fmt: str,
    columns: Sequence[OutputColumn],
    parts: int,
    open_part: Callable[[int], Any],
    target_path: str,
) -> None:
    """Write the final file at ``target_path`` (a local path) from ``parts`` parts, in order.

    ``open_part(n)`` is a context manager yielding part ``n`` as a binary stream.
    """
    writer = FORMATS.writer(fmt)
    if writer.assemble is None:
        with open(target_path, "wb") as target:
            concatenate(fmt, columns, parts, open_part, target)
        return
    writer.assemble(columns, parts, open_part, target_path)


class BinaryTarget(Protocol):
    def write(self, data: bytes, /) -> int: ...


def concatenate(
    fmt: str,
    columns: Sequence[OutputColumn],
    parts: int,
    open_part: Callable[[int], Any],
    target: BinaryTarget,
) -> None:
    """Write a concatenated format's file (CSV, JSON Lines) into ``target``: its header,
    then the parts' bytes in order (a part is whole lines, so concatenation is the file)."""
    writer = FORMATS.writer(fmt)
    if not writer.concatenated:
        raise InputError(f"'{fmt}' parts are not concatenated; use assemble()")
    if writer.header is not None:
        target.write(writer.header(columns))
    for number in range(parts):
        with open_part(number) as part:
            while block := part.read(1 << 20):
                target.write(block)


def _csv_header(columns: Sequence[OutputColumn]) -> bytes:
    header = io.StringIO()
    csv.writer(header).writerow([neutralise(c.header) for c in columns])
    return header.getvalue().encode("utf-8")


def _assemble_xlsx(
    columns: Sequence[OutputColumn], parts: int, open_part: PartOpener, path: str
) -> None:
    import xlsxwriter  # type: ignore[import-untyped]

    workbook = xlsxwriter.Workbook(
        path,
        {
            "constant_memory": True,
            # Text stays text: never a formula, a URL or a number.
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    try:
        sheet = workbook.add_worksheet("Export")
        bold = workbook.add_format({"bold": True})
        date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
        datetime_format = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        for col, column in enumerate(columns):
            sheet.write_string(0, col, neutralise(column.header), bold)
        write_string = sheet.write_string
        write_number = sheet.write_number
        write_boolean = sheet.write_boolean
        write_datetime = sheet.write_datetime
        loads = json.loads
        row_number = 0
        for number in range(parts):
            with open_part(number) as part:
                for line in part:
                    row_number += 1
                    if row_number >= XLSX_MAX_ROWS:
                        raise InputError(
                            f"an XLSX sheet holds at most {XLSX_MAX_ROWS - 1:,} rows; "
                            "export as CSV, JSON Lines or Parquet"
                        )
                    for col, value in enumerate(loads(line)):
                        kind = type(value)
                        if kind is str:
                            write_string(row_number, col, value)
                        elif value is None:
                            continue
                        elif kind is bool:
                            write_boolean(row_number, col, value)
                        elif kind is int or kind is float:
                            write_number(row_number, col, value)
                        elif "d" in value:
                            write_datetime(
                                row_number, col, dt.date.fromisoformat(value["d"]), date_format
                            )
                        else:
                            write_datetime(
                                row_number,
                                col,
                                dt.datetime.fromisoformat(value["dt"]),
                                datetime_format,
                            )
    finally:
        workbook.close()


def _assemble_parquet(
    columns: Sequence[OutputColumn], parts: int, open_part: PartOpener, path: str
) -> None:
    _, pq, _ = pyarrow_modules()
    schema = arrow_schema(columns)
    with pq.ParquetWriter(path, schema) as writer:
        for number in range(parts):
            with open_part(number) as part:
                parquet = pq.ParquetFile(part)
                for group in range(parquet.num_row_groups):
                    writer.write_table(parquet.read_row_group(group))


# -- the writing half of each built-in format (declared in the format's own module) -----------

CSV_WRITER = FileWriter(part=_CsvPart, header=_csv_header)
JSONL_WRITER = FileWriter(part=_JsonLinesPart)
XLSX_WRITER = FileWriter(part=_XlsxPart, assemble=_assemble_xlsx)
PARQUET_WRITER = FileWriter(part=_ParquetPart, assemble=_assemble_parquet, part_suffix=".parquet")
