"""Part writers on batches: column-wise conversion gives the bytes row-wise conversion gave."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.formats.support import read_all, stored

from jobport.files import FileStore
from jobport.formats.cells import is_text_column, neutralise, neutralised_column
from jobport.formats.writers import (
    Batch,
    OutputColumn,
    assemble,
    batches_of,
    bool_texts,
    concatenate,
    csv_text,
    part_writer,
)

COLUMNS = [
    OutputColumn("id", "Id", "int"),
    OutputColumn("name", "Name", "string"),
    OutputColumn("active", "Active", "bool"),
    OutputColumn("balance", "Balance", "decimal(12,2)"),
]


def reference_csv(rows: list[tuple[Any, ...]], columns: list[OutputColumn]) -> bytes:
    """The CSV a row-by-row writer gives: text through csv_text, booleans spelled out."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        values = []
        for value, column in zip(row, columns, strict=True):
            if column.type == "string":
                value = csv_text(value)
            elif column.type == "bool" and value is not None:
                value = "true" if value else "false"
            values.append(value)
        writer.writerow(values)
    return out.getvalue().encode()


def written(fmt: str, rows: list[tuple[Any, ...]], columns: list[OutputColumn]) -> bytes:
    stream = io.BytesIO()
    assert part_writer(fmt, stream, columns).write(rows) == len(rows)
    return stream.getvalue()


def test_a_batch_is_rows_or_columns_and_rebuilds_rows_only_when_a_column_changed() -> None:
    rows = [(1, "a"), (2, "b")]
    batch = Batch(rows, 2)
    assert batch.column(1) == ("a", "b")
    assert batch.rows() is rows  # read, not changed
    batch.set_column(1, batch.column(1))
    assert batch.rows() is rows  # the same column given back
    batch.set_column(1, ["A", "B"])
    assert batch.rows() == [(1, "A"), (2, "B")]
    assert len(batch) == 2
    columns = Batch.of_columns([[1, 2], ["x", "y"]])
    assert columns.rows() == [(1, "x"), (2, "y")]
    empty = Batch([], 3)
    assert empty.columns() == [(), (), ()]
    assert empty.rows() == []
    assert len(empty) == 0


@given(st.lists(st.one_of(st.none(), st.text(max_size=6))))
def test_a_text_column_is_neutralised_cell_by_cell(values: list[str | None]) -> None:
    got = neutralised_column(values)
    assert list(got) == [None if v is None else neutralise(v) for v in values]
    if list(got) == values:
        assert got is values  # nothing to change: nothing copied


def test_is_text_column() -> None:
    assert is_text_column(["a", None, ""])
    assert is_text_column([])
    assert not is_text_column(["a", 1])
    assert not is_text_column([Decimal("1")])


def test_booleans_stored_as_numbers_are_spelled_as_booleans() -> None:
    assert bool_texts([True, False, None, 1, 0]) == ["true", "false", None, "true", "false"]
    assert bool_texts([2, 0, None, "x", ""]) == ["true", "false", None, "true", "false"]
    assert bool_texts([[1], None]) == ["true", None]  # unhashable: cell by cell


MIXED = [
    (1, "plain", True, Decimal("1.50")),
    (2, "=1+1", False, None),
    (3, None, None, Decimal("-2.00")),
    (4, "-5", 1, Decimal("0.00")),
    (5, "", 0, Decimal("3.10")),
    (6, 'quote"and,comma\nline', True, Decimal("4.00")),
    (7, "\tx", 2, Decimal("5.00")),
]


def test_csv_parts_are_written_as_row_by_row_conversion_wrote_them() -> None:
    assert written("csv", MIXED, COLUMNS) == reference_csv(MIXED, COLUMNS)


def test_text_columns_holding_other_values_are_converted_cell_by_cell() -> None:
    columns = [OutputColumn("x", "x", "string")]
    rows: list[tuple[Any, ...]] = [(True,), (Decimal("1E+2"),), (3,), (None,), ("@x",)]
    # A row of one empty cell is quoted by the csv module (an empty line is no row).
    assert written("csv", rows, columns) == b'true\r\n100\r\n3\r\n""\r\n\'@x\r\n'


@given(
    st.lists(
        st.tuples(
            st.integers(),
            st.one_of(st.none(), st.text(max_size=5)),
            st.one_of(st.none(), st.booleans(), st.sampled_from([0, 1])),
            st.one_of(st.none(), st.decimals(places=2, allow_nan=False, allow_infinity=False)),
        ),
        max_size=30,
    )
)
def test_csv_batches_match_the_row_by_row_writer(rows: list[tuple[Any, ...]]) -> None:
    assert written("csv", rows, COLUMNS) == reference_csv(rows, COLUMNS)


def test_csv_rows_arrive_in_order_across_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("jobport.formats.writers._CSV_FLUSH_CHARS", 10)
    rows = [(i, f"n{i}", i % 2 == 0, None) for i in range(5_000)]
    assert written("csv", rows, COLUMNS) == reference_csv(rows, COLUMNS)


def test_json_lines_parts_are_one_object_a_line() -> None:
    rows = [(1, "=x", True, Decimal("1.50")), (2, None, None, None)]
    lines = written("jsonl", rows, COLUMNS).decode().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"id": 1, "name": "=x", "active": True, "balance": "1.50"},
        {"id": 2, "name": None, "active": None, "balance": None},
    ]


def test_parquet_parts_stream_row_groups(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    monkeypatch.setattr("jobport.formats.writers.PARQUET_ROW_GROUP_ROWS", 1_000)
    rows = [(i, f"n{i}", i % 3 == 0, Decimal(i) / 4) for i in range(4_500)]
    path = tmp_path / "part.parquet"
    with open(path, "wb") as stream:
        assert part_writer("parquet", stream, COLUMNS).write_batches(batches_of(rows, 4, 500))
    parquet = pq.ParquetFile(path)
    assert parquet.num_row_groups == 5
    table = parquet.read()
    assert table.column("id").to_pylist() == list(range(4_500))
    assert table.column("active").to_pylist()[:4] == [True, False, False, True]
    assert table.column("balance").to_pylist()[5] == Decimal("1.25")


def test_an_empty_parquet_part_is_a_file_with_the_schema(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    path = tmp_path / "empty.parquet"
    path.write_bytes(written("parquet", [], COLUMNS))
    assert pq.read_table(path).num_rows == 0
    assert pq.read_schema(path).names == ["id", "name", "active", "balance"]


def test_concatenation_is_the_header_and_the_parts_in_order() -> None:
    parts = [b"1,a\r\n", b"", b"2,b\r\n3,c\r\n"]
    target = io.BytesIO()
    columns = [OutputColumn("id", "=Id"), OutputColumn("name", "Name")]
    concatenate("csv", columns, len(parts), lambda n: io.BytesIO(parts[n]), target)
    assert target.getvalue() == b"'=Id,Name\r\n1,a\r\n2,b\r\n3,c\r\n"
    target = io.BytesIO()
    concatenate("jsonl", columns, len(parts), lambda n: io.BytesIO(parts[n]), target)
    assert target.getvalue() == b"".join(parts)


# -- neutralised text comes back as it left ----------------------------------------------------

ROUND_TRIP_COLUMNS = [OutputColumn("id", "id", "int"), OutputColumn("value", "value", "string")]
#: Values a spreadsheet would run, behind apostrophes or not, and plain ones.
TRICKY_VALUES = [
    "=1+1",
    "'=1+1",
    "''=1+1",
    "+33 1 23",
    "-2",
    "'-2",
    "@SUM(A1)",
    "\tx",
    "'\tx",
    "\rx",
    "'",
    "O'Brien",
    "'quoted'",
    "plain",
]


def export_then_read(fmt: str, values: list[str], folder: Path, rows_per_chunk: int) -> list[Any]:
    """``values`` written by the export writer of ``fmt``, then read by its import reader."""
    part = io.BytesIO()
    part_writer(fmt, part, ROUND_TRIP_COLUMNS).write(list(enumerate(values, start=1)))
    path = folder / f"export.{fmt}"
    assemble(fmt, ROUND_TRIP_COLUMNS, 1, lambda _: io.BytesIO(part.getvalue()), str(path))
    files = FileStore(str(folder / "store"))
    header, records, _ = read_all(files, fmt, stored(files, path), rows_per_chunk)
    assert header == ["id", "value"]
    return [fields[1] for _, fields in records]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.lists(
        st.one_of(
            st.text(st.sampled_from(["'", "=", "+", "-", "@", "\t", "\r", "\n", "x", ","])),
            # Text a database hands back: no NUL, no lone surrogate (not encodable as UTF-8).
            st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",))),
        ),
        min_size=1,
        max_size=8,
    ),
    rows_per_chunk=st.integers(1, 3),
)
def test_any_text_exported_as_csv_imports_back_unchanged(
    tmp_path_factory: pytest.TempPathFactory, values: list[str], rows_per_chunk: int
) -> None:
    folder = tmp_path_factory.mktemp("round-trip")
    assert export_then_read("csv", values, folder, rows_per_chunk) == values


def test_text_exported_as_xlsx_imports_back_unchanged(tmp_path: Path) -> None:
    # A carriage return is stored as the escape _x000D_, which is the reader's own matter.
    values = [value for value in TRICKY_VALUES if "\r" not in value]
    assert export_then_read("xlsx", values, tmp_path, 5) == values


def test_a_neutralised_header_imports_back_as_the_column_name(tmp_path: Path) -> None:
    columns = [OutputColumn("id", "id", "int"), OutputColumn("total", "=total", "string")]
    target = io.BytesIO()
    concatenate("csv", columns, 1, lambda _: io.BytesIO(b"1,x\r\n"), target)
    path = tmp_path / "h.csv"
    path.write_bytes(target.getvalue())
    files = FileStore(str(tmp_path / "store"))
    header, records, _ = read_all(files, "csv", stored(files, path))
    assert (header, records) == (["id", "=total"], [(2, ["1", "x"])])
