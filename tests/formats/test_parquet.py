"""Parquet: typed columns as text, one chunk per row group, oversized groups split."""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.conftest import MakeJobport
from tests.formats.support import read_all, stored

from jobport import StartRequest
from jobport.errors import MissingExtraError
from jobport.files import FileStore
from jobport.formats import ReadOptions, reader_for, sniff_format
from jobport.formats.spec import Extra


def test_typed_columns_validate_as_text(files: FileStore, tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": pa.array([1, 2], pa.int64()),
            "score": pa.array([1.5, 42.0]),
            "day": pa.array([dt.date(2020, 1, 2), None]),
            "at": pa.array([dt.datetime(2020, 1, 2, 10, 30), dt.datetime(2021, 5, 6)]),
            "ok": pa.array([True, False]),
            "amount": pa.array([Decimal("12.50"), Decimal("-1.00")], pa.decimal128(12, 2)),
            "name": pa.array(["Ada", None]),
        }
    )
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    header, records, _ = read_all(files, "parquet", stored(files, path))
    assert header == ["id", "score", "day", "at", "ok", "amount", "name"]
    assert records == [
        (1, ["1", "1.5", "2020-01-02", "2020-01-02T10:30:00", "true", "12.50", "Ada"]),
        (2, ["2", "42", None, "2021-05-06T00:00:00", "false", "-1.00", None]),
    ]


def test_one_chunk_per_row_group(files: FileStore, tmp_path: Path) -> None:
    path = tmp_path / "g.parquet"
    pq.write_table(pa.table({"i": list(range(10))}), path, row_group_size=4)
    _, records, specs = read_all(files, "parquet", stored(files, path), rows_per_chunk=4)
    assert [spec["rows"] for spec in specs] == [4, 4, 2]
    assert records == [(i + 1, [str(i)]) for i in range(10)]


def test_oversized_row_groups_are_split(files: FileStore, tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"i": list(range(100))}), path, row_group_size=100)
    _, records, specs = read_all(files, "parquet", stored(files, path), rows_per_chunk=10)
    assert len(specs) == 10
    assert max(spec["rows"] for spec in specs) <= 10
    assert records == [(i + 1, [str(i)]) for i in range(100)]


def test_missing_extra_is_a_clear_error(
    files: FileStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.parquet"
    pq.write_table(pa.table({"i": [1]}), path)
    key = stored(files, path)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(MissingExtraError, match=r"jobport\[parquet\]"):
        reader_for("parquet").prepare(files, key, ReadOptions())


def test_sniffing(tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"i": [1]}), path)
    assert sniff_format(path.read_bytes()[:8192]) == "parquet"


def test_without_the_extra_no_run_is_recorded(
    make_jobport: MakeJobport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A missing extra is this installation's, not the request's: the start is refused
    (the CLI's exit 2), and no failed run stands in the history for it."""
    engine = make_jobport()
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"id": [1]}), path)
    monkeypatch.setattr(Extra, "missing", lambda extra: extra.module == "pyarrow")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(MissingExtraError, match=r"jobport\[parquet\]"):
        engine.start(StartRequest(type="customers-export", format="parquet"))
    with pytest.raises(MissingExtraError, match=r"jobport\[parquet\]"):
        engine.import_file("customers", path)
    assert engine.store.list_runs() == ([], 0)
