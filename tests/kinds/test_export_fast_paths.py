"""The export's shortcuts give what the slow way gives: a stored date or decimal column
is written as SQLAlchemy's value would be, and a date it refuses fails with its error."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from jobport.kinds.export_rows import _iso_dates, _scaled_floats

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


def test_iso_dates_are_written_as_stored() -> None:
    convert = _iso_dates(processor_of(sa.Date()))
    assert convert is not None
    values = (dt.date.today().isoformat(), None)
    assert convert(values) is values  # no date object made for the writer
