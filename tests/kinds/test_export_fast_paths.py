"""The export's shortcuts give what the slow way gives: a stored date or decimal column
is written as SQLAlchemy's value would be, and a local folder's assembly stores the
header and the parts byte for byte under the checksum of the whole file."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from jobport.files import FileStore
from jobport.formats.writers import OutputColumn
from jobport.kinds.export_rows import _iso_dates, _scaled_floats
from jobport.kinds.exports import _concatenate_local

DIALECT = sqlite.dialect()


def processor_of(column_type: Any) -> Any:
    return column_type.dialect_impl(DIALECT).result_processor(DIALECT, None)


def written(values: Sequence[Any]) -> list[str | None]:
    """A column's values as the CSV writer would write each (None stays None)."""
    return [None if v is None else str(v) for v in values]


DATE_BATCHES: list[list[Any]] = [
    ["2020-09-11", "1999-12-31", None, "2000-02-29"],
    [None, None],
    [],
    ["2000-W09-2", "2020-09-11"],  # a week date: written as the date it names
    ["20200911", None],  # the basic form: likewise
]


@pytest.mark.parametrize("values", DATE_BATCHES)
def test_stored_dates_are_written_as_sqlalchemys_dates(values: list[Any]) -> None:
    processor = processor_of(sa.Date())
    convert = _iso_dates(processor)
    assert convert is not None
    assert written(convert(values)) == written([processor(v) for v in values])


@pytest.mark.parametrize(
    "bad",
    ["2020-13-45", "2021-02-29", "0000-01-01", "", "x", "2020-9-1", "2020-01-01\n2020-01-02"],
)
def test_a_date_sqlalchemy_refuses_raises_its_error(bad: str) -> None:
    processor = processor_of(sa.Date())
    convert = _iso_dates(processor)
    assert convert is not None
    with pytest.raises(ValueError, match=r"isoformat|date|month|day|year") as expected:
        processor(bad)
    with pytest.raises(ValueError, match=r"isoformat|date|month|day|year") as got:
        convert(["2020-09-11", bad])
    assert str(got.value) == str(expected.value)


DECIMAL_BATCHES: list[list[Any]] = [
    [450.7, -0.0, 1.005, -2.675, 1e15, 2.5e-7, 100, 0],
    [1.5, None, 3],
    [float("inf"), 2.0],
    [float("nan")],
    [-float("inf"), None],
    [],
]


@pytest.mark.parametrize("values", DECIMAL_BATCHES)
def test_stored_decimals_are_written_as_sqlalchemys_decimals(values: list[Any]) -> None:
    column = sa.Numeric(12, 2)
    processor = processor_of(column)
    convert = _scaled_floats(column, processor)
    assert convert is not None
    expected = [processor(v) for v in values]
    assert all(v is None or isinstance(v, Decimal) for v in expected)
    assert written(convert(values)) == written(expected)


def test_a_local_assembly_is_header_and_parts_under_their_checksum(tmp_path: Path) -> None:
    files = FileStore(str(tmp_path / "files"))
    contents = [b"1,a\r\n" * 1000, b"", b"2,b\r\n", bytes(range(256)) * 5000]
    keys = []
    for content in contents:
        key = files.new_key("work", ".csv")
        with files.open(key, "wb") as stream:
            stream.write(content)
        keys.append(key)
    columns = [OutputColumn("id", "id", "int"), OutputColumn("name", "name")]
    digest = hashlib.sha256()
    out = files.new_key("results", ".csv")
    with files.open(out, "wb") as stream:
        size = _concatenate_local(files, "csv", columns, keys, stream, digest)
    with files.open(out) as stream:
        data = stream.read()
    assert data == b"id,name\r\n" + b"".join(contents)
    assert size == len(data)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


def test_iso_dates_are_written_as_stored() -> None:
    convert = _iso_dates(processor_of(sa.Date()))
    assert convert is not None
    values = (dt.date.today().isoformat(), None)
    assert convert(values) is values  # no date object made for the writer
