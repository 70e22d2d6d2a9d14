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
carriage return are neutralised (see :func:`jobport.formats.cells.neutralise`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any, Protocol

from jobport.errors import InputError
from jobport.formats.cells import json_value, neutralise, safe_cell

#: Output formats and the file extension each one gets.
EXTENSIONS = {"csv": ".csv", "xlsx": ".xlsx", "jsonl": ".jsonl", "parquet": ".parquet"}
#: Rows one XLSX worksheet holds, the header included.
XLSX_MAX_ROWS = 1_048_576


@dataclass(frozen=True)
class OutputColumn:
    """One column of an output file: its key (JSON Lines, Parquet), its header (CSV,
    XLSX) and its Parquet type name (see :func:`arrow_type`)."""

    name: str
    header: str
    type: str = "string"


class PartWriter(Protocol):
    def write(self, rows: Iterable[Sequence[Any]]) -> int:
        """Write rows (values in column order); returns how many were written."""


def part_writer(fmt: str, stream: IO[bytes], columns: Sequence[OutputColumn]) -> PartWriter:
    if fmt == "csv":
        return _CsvPart(stream, columns)
    if fmt == "jsonl":
        return _JsonLinesPart(stream, [c.name for c in columns])
    if fmt == "xlsx":
        return _XlsxPart(stream)
    if fmt == "parquet":
        return _ParquetPart(stream, columns)
    raise InputError(f"cannot write '{fmt}' files; formats: {', '.join(EXTENSIONS)}")


def csv_text(value: Any) -> Any:
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


def _bool_text(value: Any) -> Any:
    return value if value is None else ("true" if value else "false")


class _CsvPart:
    """CSV rows. Only columns that need it are converted: numbers, dates and None are
    written by the csv module as they are; text is neutralised, booleans spelled out."""

    def __init__(self, stream: IO[bytes], columns: Sequence[OutputColumn]) -> None:
        self._stream = stream
        self._columns = columns

    def write(self, rows: Iterable[Sequence[Any]]) -> int:
        text = io.TextIOWrapper(self._stream, encoding="utf-8", newline="", write_through=False)
        writer = csv.writer(text)
        steps = [
            (index, csv_text if column.type == "string" else _bool_text)
            for index, column in enumerate(self._columns)
            if column.type in ("string", "bool")
        ]
        count = 0
        batch: list[Sequence[Any]] = []
        for row in rows:
            if steps:
                values = list(row)
                for index, convert in steps:
                    value = values[index]
                    if value is not None and (type(value) is not str or value[:1] in _TRIGGERS):
                        values[index] = convert(value)
                row = values
            batch.append(row)
            if len(batch) >= 1000:
                writer.writerows(batch)
                count += len(batch)
                batch.clear()
        writer.writerows(batch)
        count += len(batch)
        text.flush()
        text.detach()
        return count


_TRIGGERS = frozenset("=+-@\t\r")


class _JsonLinesPart:
    def __init__(self, stream: IO[bytes], names: list[str]) -> None:
        self._stream = stream
        self._names = names

    def write(self, rows: Iterable[Sequence[Any]]) -> int:
        names = self._names
        dumps = json.JSONEncoder(ensure_ascii=False, default=json_value).encode
        write = self._stream.write
        count = 0
        lines: list[str] = []
        for row in rows:
            lines.append(dumps(dict(zip(names, row, strict=True))))
            count += 1
            if len(lines) >= 1000:
                write(("\n".join(lines) + "\n").encode("utf-8"))
                lines.clear()
        if lines:
            write(("\n".join(lines) + "\n").encode("utf-8"))
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


class _XlsxPart:
    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def write(self, rows: Iterable[Sequence[Any]]) -> int:
        dumps = json.JSONEncoder(ensure_ascii=False).encode
        write = self._stream.write
        cell = _xlsx_cell
        count = 0
        for row in rows:
            write((dumps([cell(value) for value in row]) + "\n").encode("utf-8"))
            count += 1
        return count


class _ParquetPart:
    def __init__(self, stream: IO[bytes], columns: Sequence[OutputColumn]) -> None:
        self._stream = stream
        self._columns = columns

    def write(self, rows: Iterable[Sequence[Any]]) -> int:
        from jobport.formats.parquet import pyarrow_modules

        pa, pq, _ = pyarrow_modules()
        schema = arrow_schema(self._columns)
        materialised = list(rows)
        arrays = []
        for index, column in enumerate(self._columns):
            values = [row[index] for row in materialised]
            if column.type == "string":
                values = [None if v is None else _plain_text(v) for v in values]
            arrays.append(pa.array(values, type=schema.field(index).type))
        table = pa.Table.from_arrays(arrays, schema=schema)
        pq.write_table(table, self._stream)
        return len(materialised)


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
    from jobport.formats.parquet import pyarrow_modules

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
    from jobport.formats.parquet import pyarrow_modules

    pa, _, _ = pyarrow_modules()
    return pa.schema([pa.field(c.name, arrow_type(c.type)) for c in columns])


# -- assembly ---------------------------------------------------------------------------------

PartOpener = Callable[[int], IO[bytes]]


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
    if fmt in ("csv", "jsonl"):
        with open(target_path, "wb") as target:
            if fmt == "csv":
                text = io.TextIOWrapper(target, encoding="utf-8", newline="", write_through=True)
                csv.writer(text).writerow([neutralise(c.header) for c in columns])
                text.flush()
                text.detach()
            for number in range(parts):
                with open_part(number) as part:
                    while block := part.read(1 << 20):
                        target.write(block)
        return
    if fmt == "xlsx":
        _assemble_xlsx(columns, parts, open_part, target_path)
        return
    if fmt == "parquet":
        _assemble_parquet(columns, parts, open_part, target_path)
        return
    raise InputError(f"cannot write '{fmt}' files; formats: {', '.join(EXTENSIONS)}")


def _assemble_xlsx(
    columns: Sequence[OutputColumn], parts: int, open_part: Callable[[int], Any], path: str
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
    columns: Sequence[OutputColumn], parts: int, open_part: Callable[[int], Any], path: str
) -> None:
    from jobport.formats.parquet import pyarrow_modules

    _, pq, _ = pyarrow_modules()
    schema = arrow_schema(columns)
    with pq.ParquetWriter(path, schema) as writer:
        for number in range(parts):
            with open_part(number) as part:
                parquet = pq.ParquetFile(part)
                for group in range(parquet.num_row_groups):
                    writer.write_table(parquet.read_row_group(group))
