"""Failure messages in a person's words, with pydantic's type and context kept beside them."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Annotated, Any

import pytest
from pydantic import AfterValidator, BaseModel, Field

from jobport.formats.base import ReadOptions
from jobport.kinds.importer import Importer
from jobport.kinds.locale import Locale
from jobport.kinds.messages import error_detail
from jobport.kinds.validation import validate_records


def _even(value: int) -> int:
    if value % 2:
        raise ValueError("must be an even number")
    return value


class Row(BaseModel):
    id: int = Field(ge=1, le=1000)
    amount: Decimal | None = Field(default=None, max_digits=6, decimal_places=2)
    ratio: float | None = None
    active: bool | None = None
    day: dt.date | None = None
    at: dt.datetime | None = None
    code: str | None = Field(
        default=None, pattern=r"^[A-Z]{2}$", description="Two capital letters."
    )
    tag: str | None = Field(default=None, pattern=r"^#\w+$")
    name: str | None = Field(default=None, min_length=1, max_length=5)
    even: Annotated[int, AfterValidator(_even)] | None = None


HEADER = list(Row.model_fields)
COLUMNS = [[i, name] for i, name in enumerate(HEADER)]


def failure_of(
    cells: dict[str, str], read: ReadOptions | None = None, locale: Locale | None = None
) -> dict[str, dict[str, Any]]:
    """The failure of one row holding ``cells`` (others blank), by column."""
    record = ["1" if name == "id" else "" for name in HEADER]
    for name, value in cells.items():
        record[HEADER.index(name)] = value
    importer = Importer(row=Row, key="id", locale=locale)
    _, _, failures = validate_records([(2, record)], HEADER, COLUMNS, importer, HEADER, read=read)
    [failure] = failures
    json.dumps(failure.errors)  # stored as JSON: every detail must be JSON-able
    return {e["column"]: e for e in failure.errors}


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ({"amount": "963,16"}, "'963,16' looks like a decimal comma: import with decimal=','"),
        (
            {"amount": "1.234,56"},
            "'1.234,56' looks like a decimal comma: import with decimal=',' and thousands='.'",
        ),
        ({"ratio": "0,5"}, "'0,5' looks like a decimal comma: import with decimal=','"),
        (
            {"amount": "1,234"},
            "'1,234' is not a number: import with decimal=',' if ',' is its decimal separator, "
            "or with thousands=',' if it separates thousands",
        ),
        (
            {"id": "12.345"},
            "'12.345' is not a whole number; if '.' separates thousands, import with "
            "thousands='.' and decimal=','",
        ),
        (
            {"ratio": "1,000.50"},
            "'1,000.50' is not a number; if ',' separates thousands, import with thousands=','",
        ),
        (
            {"ratio": "$1234.56"},
            "'$1234.56' is not a number: write it without the currency sign '$'",
        ),
        ({"ratio": "-12 €"}, "'-12 €' is not a number: write it without the currency sign '€'"),
        ({"ratio": "5$5"}, "'5$5' is not a number"),
        ({"id": "abc"}, "'abc' is not a whole number"),
        ({"id": "1.5"}, "'1.5' is not a whole number"),
        ({"id": "99999999999999999999999"}, "must be at most 1000"),
        ({"id": "0"}, "must be at least 1"),
        ({"amount": "12345.6"}, "has more than 4 digits before the decimal point"),
        ({"amount": "1.234"}, "has more than 2 digits after the decimal point"),
        ({"ratio": "lots"}, "'lots' is not a number"),
        (
            {"active": "maybe"},
            "'maybe' is not a yes/no value: write one of true, yes, 1, on or false, no, 0, off, "
            "or import with true_words='maybe' or false_words='maybe'",
        ),
        (
            {"active": "2"},
            "'2' is not a yes/no value: write one of true, yes, 1, on or false, no, 0, off",
        ),
        (
            {"day": "2021-02-30"},
            "'2021-02-30' is not a day of the calendar: February 2021 has 28 days",
        ),
        (
            {"day": "31/12/2024"},
            "'31/12/2024' is not a date in the expected format: YYYY-MM-DD; "
            "for day-first dates import with date_format='%d/%m/%Y'",
        ),
        (
            {"day": "12.31.2024"},
            "'12.31.2024' is not a date in the expected format: YYYY-MM-DD; "
            "for month-first dates import with date_format='%m.%d.%Y'",
        ),
        (
            {"day": "01/02/2024"},
            "'01/02/2024' is not a date in the expected format: YYYY-MM-DD; import with "
            "date_format='%d/%m/%Y' (day first) or '%m/%d/%Y' (month first)",
        ),
        (
            {"day": "2024-01-01T10:00"},
            "'2024-01-01T10:00' has a time of day; a date alone is expected",
        ),
        (
            {"at": "noon"},
            "'noon' is not a date and time in the expected format: YYYY-MM-DD HH:MM:SS",
        ),
        ({"code": "fr"}, "is not in the expected format: Two capital letters"),
        ({"tag": "nope"}, "is not in the expected format"),
        ({"name": "Maximilian"}, "is longer than 5 characters"),
        ({"even": "3"}, "must be an even number"),
    ],
)
def test_each_error_is_said_in_plain_words(cells: dict[str, str], message: str) -> None:
    [(column, detail)] = failure_of(cells).items()
    assert column == next(iter(cells))
    assert detail["message"] == message


def test_the_locale_is_in_the_words() -> None:
    read = ReadOptions(
        decimal=",", thousands=".", date_formats=["%d/%m/%Y", "%d.%m.%Y"], true_words=["oui"]
    )
    by_column = failure_of({"amount": "12,3,4", "day": "2024/12/31", "active": "peut-être"}, read)
    assert by_column["amount"]["message"] == (
        "'12,3,4' is not a number as this import reads them (',' before the decimals, "
        "'.' between thousands)"
    )
    assert by_column["day"]["message"] == (
        "'2024/12/31' is not a date in the expected format: %d/%m/%Y (such as 31/12/2024) or "
        "%d.%m.%Y (such as 31.12.2024) or YYYY-MM-DD"
    )
    assert by_column["active"]["message"] == (
        "'peut-être' is not a yes/no value: write one of true, yes, 1, on, oui or false, no, 0, "
        "off, or import with true_words='peut-être' or false_words='peut-être'"
    )


def test_each_error_keeps_its_type_context_column_and_value() -> None:
    by_column = failure_of({"amount": "1.234", "name": "Maximilian", "even": "3"})
    assert by_column["amount"] == {
        "column": "amount",
        "message": "has more than 2 digits after the decimal point",
        "type": "decimal_max_places",
        "ctx": {"decimal_places": 2},
        "value": "1.234",
    }
    assert by_column["name"]["type"] == "string_too_long"
    assert by_column["name"]["ctx"] == {"max_length": 5}
    assert by_column["name"]["value"] == "Maximilian"
    assert by_column["even"]["type"] == "value_error"
    assert by_column["even"]["ctx"] == {"error": "must be an even number"}  # the exception, as text
    assert by_column["even"]["value"] == "3"


def test_a_pattern_keeps_its_regular_expression_in_the_details_only() -> None:
    detail = failure_of({"code": "fr"})["code"]
    assert detail["pattern"] == "^[A-Z]{2}$"
    assert "[A-Z]" not in detail["message"]


def test_a_huge_value_is_quoted_short_and_the_whole_message_is_bounded() -> None:
    huge = "9," + "9" * 100_000
    detail = failure_of({"ratio": huge})["ratio"]
    assert len(detail["message"]) < 200
    assert len(detail["value"]) <= 200
    many = [f"f{i}" for i in range(400)]
    model: Any = type("Wide", (BaseModel,), {"__annotations__": dict.fromkeys(many, int)})
    columns = [[i, name] for i, name in enumerate(many)]
    record = ["not a number " * 5] * len(many)
    importer = Importer(row=model, key="f0")
    _, _, [failure] = validate_records([(2, record)], many, columns, importer, many)
    assert len(failure.errors) == 400
    assert len(failure.message) < 11_000
    assert failure.message.endswith("more characters)")


def test_a_value_a_message_quotes_is_the_cell_as_written() -> None:
    """A locale converts ``12,345`` to ``12.345`` before pydantic; a person wrote the comma."""
    detail = failure_of({"amount": "12,345"}, ReadOptions(decimal=","))["amount"]
    assert detail["value"] == "12,345"
    assert detail["message"] == "has more than 2 digits after the decimal point"


def test_a_ctx_that_json_cannot_hold_is_kept_as_text() -> None:
    error: Any = {
        "type": "greater_than",
        "loc": ("x",),
        "msg": "Input should be greater than 0.5",
        "input": "0",
        "ctx": {"gt": Decimal("0.5"), "inf": float("inf")},
    }
    detail = error_detail(error, "x", None, None)
    assert detail["ctx"] == {"gt": "0.5", "inf": "inf"}
    assert detail["message"] == "must be more than 0.5"
