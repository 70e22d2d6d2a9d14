"""Cell values: typed values as CSV text, and formula triggers neutralised."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobport.formats.cells import (
    as_text,
    may_hold_neutralised,
    neutralise,
    safe_cell,
    unneutralise,
    unneutralise_row,
)

#: Text made mostly of apostrophes and triggers, where neutralising could go wrong.
tricky_text = st.text(st.sampled_from(["'", "=", "+", "-", "@", "\t", "\r", "x", " "]))


@pytest.mark.parametrize("text", ["=1+1", "+33 1 23", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_a_leading_formula_trigger_is_neutralised(text: str) -> None:
    assert neutralise(text) == "'" + text
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["", "plain", "a=b", "1-2", " =x", "'quoted", "O'Brien"])
def test_other_text_is_left_alone(text: str) -> None:
    assert neutralise(text) == text
    assert unneutralise(text) == text


@pytest.mark.parametrize(
    ("text", "written"), [("'=x", "''=x"), ("''-2", "'''-2"), ("'@", "''@"), ("'", "'")]
)
def test_text_already_behind_apostrophes_gets_one_more(text: str, written: str) -> None:
    # Else '=x and =x would both leave as '=x, and no import could tell them apart.
    assert neutralise(text) == written
    assert safe_cell(text) == written
    assert unneutralise(written) == text


@given(tricky_text)
def test_neutralising_is_undone_exactly(text: str) -> None:
    written = neutralise(text)
    assert written == safe_cell(text)
    assert unneutralise(written) == text
    assert unneutralise_row([written, None, 5]) == [text, None, 5]
    if written != text:
        assert may_hold_neutralised(written)  # readers never skip a cell to restore


@pytest.mark.parametrize("number", [-5, -2.5, 0, Decimal("-1.50")])
def test_numbers_are_never_touched(number: object) -> None:
    assert safe_cell(number) is number


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        ("x", "x"),
        (42, "42"),
        (42.0, "42"),
        (12.5, "12.5"),
        (1e20, "1e+20"),
        (True, "true"),
        (False, "false"),
        (Decimal("12.50"), "12.50"),
        (dt.date(2020, 1, 2), "2020-01-02"),
        (dt.datetime(2020, 1, 2, 10, 30), "2020-01-02T10:30:00"),
        ({"a": 1}, '{"a": 1}'),
    ],
)
def test_typed_values_become_the_text_a_csv_would_hold(value: object, text: str | None) -> None:
    assert as_text(value) == text
