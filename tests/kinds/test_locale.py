"""Locales: cells written with a decimal comma, day-first dates and words for booleans,
converted before validation, on the batch path and the per-row path alike."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field, model_validator
from tests.conftest import MakeJobport

from jobport.demo import customers
from jobport.errors import InputError
from jobport.formats.base import ReadOptions
from jobport.kinds.importer import Importer
from jobport.kinds.locale import (
    Locale,
    Refused,
    cell_converters,
    converter,
    field_kind,
    locale_for,
)
from jobport.kinds.validation import validate_records

EU = Locale(decimal=",", thousands=".")


def number(locale: Locale, text: str) -> Any:
    column = converter(locale, "number")
    assert column is not None
    return column.convert(text)


@pytest.mark.parametrize(
    ("locale", "text", "read_as"),
    [
        (Locale(decimal=","), "963,16", "963.16"),
        (Locale(decimal=","), "-0,5", "-0.5"),
        (Locale(decimal=","), "12", "12"),
        (EU, "1.234,56", "1234.56"),
        (EU, "-1.234.567", "-1234567"),
        (EU, " 963,16 ", " 963.16 "),  # pydantic strips the spaces
        (Locale(decimal=",", thousands=" "), "1\u00a0234,5", "1234.5"),
        (Locale(decimal=",", thousands=" "), "12 345 678", "12345678"),
        (Locale(thousands=","), "1,234.5", "1234.5"),
        (Locale(thousands="'"), "1'000'000", "1000000"),
        # Not numbers as written here: left for pydantic to refuse, saying why.
        (Locale(thousands=","), "1,5", "1,5"),
        (Locale(decimal=","), "abc", "abc"),
    ],
)
def test_numbers_are_read_as_their_locale_writes_them(
    locale: Locale, text: str, read_as: str
) -> None:
    assert number(locale, text) == read_as


@pytest.mark.parametrize(
    ("locale", "text"),
    [
        (Locale(decimal=","), "1.500"),  # a thousand and a half, or one and a half?
        (Locale(decimal=","), "1.5"),
        (EU, "1.5"),  # not a group of three
        (EU, "12.34.567,8"),
    ],
)
def test_a_point_pydantic_would_misread_is_refused(locale: Locale, text: str) -> None:
    refused = number(locale, text)
    assert type(refused) is Refused
    assert refused.type == "number_ambiguous_point"
    assert f"'{text}'" in refused.message
    assert refused.ctx == {"decimal": ",", "thousands": locale.thousands}


@given(st.lists(st.one_of(st.none(), st.text("0123456789,. -\u00a0x", max_size=8)), max_size=30))
def test_a_whole_column_converts_as_its_cells_do(column: list[str | None]) -> None:
    """The short way (whole-column string operations) never differs from cell by cell."""
    for locale in (Locale(decimal=","), EU, Locale(decimal=",", thousands=" ")):
        convert = converter(locale, "number")
        assert convert is not None
        assert convert.bulk is not None
        bulk = convert.bulk(column)
        if bulk is not None:
            assert bulk == [convert.convert(cell) for cell in column]


def test_dates_try_each_format_in_order_then_iso() -> None:
    locale = Locale(date_formats=("%d/%m/%Y", "%d.%m.%y", "%d %b %Y"))
    date, moment = converter(locale, "date"), converter(locale, "datetime")
    assert date is not None
    assert moment is not None
    assert date.convert("31/12/2024") == "2024-12-31"
    assert date.convert("1/2/2024") == "2024-02-01"
    assert date.convert("01.02.69") == "1969-02-01"  # as strptime reads two-digit years
    assert date.convert("3 Jan 2025") == "2025-01-03"  # strptime for the other directives
    assert date.convert("2024-12-31") == "2024-12-31"  # ISO is left to pydantic
    assert date.convert("31/02/2024") == "31/02/2024"  # no such day: pydantic refuses it
    assert moment.convert("31/12/2024") == "2024-12-31T00:00:00"


@pytest.mark.parametrize("fmt", ["%d/%m", "%Q", "nothing"])
def test_a_date_format_without_a_whole_date_is_refused(fmt: str) -> None:
    with pytest.raises(ValueError, match="date format"):
        Locale(date_formats=(fmt,))


def test_boolean_words_ignore_case_and_spaces() -> None:
    column = converter(Locale(true_words=("oui", "Ja"), false_words=("non", "nein")), "bool")
    assert column is not None
    assert [column.convert(w) for w in ("OUI", " ja ", "Non", "nein", "yes", "x")] == [
        "true",
        "true",
        "false",
        "false",
        "yes",
        "x",
    ]


def test_the_run_overrides_the_type_and_the_separators_go_together() -> None:
    declared = Locale(decimal=",", thousands=".", date_formats=("%d/%m/%Y",))
    assert locale_for(None, ReadOptions()) is None
    assert locale_for(declared, None) == declared
    run = locale_for(declared, ReadOptions(thousands=","))
    assert run == Locale(thousands=",", date_formats=("%d/%m/%Y",))  # decimal back to "."
    run = locale_for(declared, ReadOptions(date_formats=["%m/%d/%Y"], true_words=["oui"]))
    assert run == Locale(
        decimal=",", thousands=".", date_formats=("%m/%d/%Y",), true_words=("oui",)
    )


@pytest.mark.parametrize(
    ("read", "says"),
    [
        (ReadOptions(decimal=",", thousands=","), "separators are both ','"),
        (ReadOptions(thousands="."), "separators are both '.'"),
        (ReadOptions(true_words=["Oui"], false_words=["oui"]), "both a true and a false word"),
        (ReadOptions(date_formats=["%d/%m"]), "does not hold a day, a month and a year"),
    ],
)
def test_options_that_contradict_themselves_are_refused_in_words(
    read: ReadOptions, says: str
) -> None:
    with pytest.raises(InputError, match=says):
        locale_for(None, read)


class Size(enum.IntEnum):
    SMALL = 1


def test_the_kind_of_a_field_comes_from_its_type() -> None:
    class Row(BaseModel):
        a: int
        b: Decimal | None = None
        c: Annotated[float, Field(ge=0)] = 0
        d: dt.date | None = None
        e: dt.datetime
        f: bool = True
        g: str
        h: Size = Size.SMALL
        i: int | str = 0

    kinds = {name: field_kind(info) for name, info in Row.model_fields.items()}
    assert kinds == {
        "a": "int",
        "b": "number",
        "c": "number",
        "d": "date",
        "e": "datetime",
        "f": "bool",
        "g": None,
        "h": None,
        "i": None,
    }


class Account(BaseModel):
    id: int
    balance: Decimal | None = Field(default=None, max_digits=12, decimal_places=2)
    opened: dt.date | None = None
    active: bool = True
    name: str = ""


class CheckedAccount(Account):
    """The same fields with a model validator: no batch path, every row on its own."""

    @model_validator(mode="after")
    def _fine(self) -> CheckedAccount:
        return self


HEADER = ["id", "balance", "opened", "active", "name"]
COLUMNS = [[i, name] for i, name in enumerate(HEADER)]
FRENCH = ReadOptions(
    decimal=",", thousands=" ", date_formats=["%d/%m/%Y"], true_words=["oui"], false_words=["non"]
)


@pytest.mark.parametrize("row", [Account, CheckedAccount])
def test_a_european_chunk_validates_into_the_right_values(row: type[BaseModel]) -> None:
    records: list[Any] = [
        (2, ["1", "963,16", "31/12/2024", "oui", "Müller"]),
        (3, ["2", "1 234,5", "", "NON", "Dupont, Jean"]),
        (4, ["3", "", "2024-01-05", "true", "z"]),
    ]
    rows, columns, failures = validate_records(
        records, HEADER, COLUMNS, Importer(row=row, key="id"), HEADER, read=FRENCH
    )
    assert failures == []
    assert [dict(zip(columns, r, strict=True)) for r in rows] == [
        {
            "id": 1,
            "balance": Decimal("963.16"),
            "opened": dt.date(2024, 12, 31),
            "active": True,
            "name": "Müller",
        },
        {
            "id": 2,
            "balance": Decimal("1234.5"),
            "opened": None,
            "active": False,
            "name": "Dupont, Jean",
        },
        {"id": 3, "balance": None, "opened": dt.date(2024, 1, 5), "active": True, "name": "z"},
    ]


@pytest.mark.parametrize("read", [None, FRENCH])
@pytest.mark.parametrize("row", [Account, CheckedAccount])
def test_yes_no_and_date_cells_padded_with_spaces_read_as_their_text(
    row: type[BaseModel], read: ReadOptions | None
) -> None:
    opened = " 31/12/2024 " if read else " 2024-12-31 "
    records: list[Any] = [(2, ["1", "", opened, " yes ", "a"]), (3, ["2", "", "\t", " no", "b"])]
    rows, columns, failures = validate_records(
        records, HEADER, COLUMNS, Importer(row=row, key="id"), HEADER, read=read
    )
    assert failures == []
    values = [dict(zip(columns, r, strict=True)) for r in rows]
    assert [(v["opened"], v["active"]) for v in values] == [
        (dt.date(2024, 12, 31), True),
        (None, False),  # a cell of spaces alone is empty
    ]


def test_a_padded_word_of_another_language_is_told_without_its_spaces() -> None:
    records: list[Any] = [(2, ["1", "", "", " WAHR ", "a"])]
    _, _, [failure] = validate_records(
        records, HEADER, COLUMNS, Importer(row=Account, key="id"), HEADER
    )
    assert failure.message.endswith("or import with true_words='WAHR' or false_words='WAHR'")


@pytest.mark.parametrize("row", [Account, CheckedAccount])
def test_a_refused_cell_fails_its_row_beside_the_other_errors(row: type[BaseModel]) -> None:
    records: list[Any] = [
        (2, ["1", "1.500", "32/12/2024", "peut-être", "x"]),
        (3, ["2", "7,5", "01/01/2024", "oui", "y"]),
    ]
    read = ReadOptions(decimal=",", date_formats=["%d/%m/%Y"], true_words=["oui"])
    rows, _, failures = validate_records(
        records, HEADER, COLUMNS, Importer(row=row, key="id"), HEADER, read=read
    )
    assert len(rows) == 1
    [failure] = failures
    assert failure.line == 2
    assert [(e["column"], e["type"], e["value"]) for e in failure.errors] == [
        ("balance", "number_ambiguous_point", "1.500"),
        ("opened", "date_from_datetime_parsing", "32/12/2024"),
        ("active", "bool_parsing", "peut-être"),
    ]
    assert failure.column == "balance"
    assert failure.message.startswith("balance: '1.500' holds a '.', but this import reads ','")
    assert "opened: '32/12/2024' is not a date in the expected format: %d/%m/%Y" in failure.message
    assert failure.raw == dict(zip(HEADER, records[0][1], strict=True))  # as the file wrote it


def test_a_type_declares_its_locale_and_a_run_overrides_it() -> None:
    importer = Importer(row=Account, key="id", locale=Locale(decimal=","))
    records: list[Any] = [(2, ["1", "963,16", "", "yes", "x"])]
    rows, _, failures = validate_records(records, HEADER, COLUMNS, importer, HEADER)
    assert failures == []
    assert rows[0][1] == Decimal("963.16")
    _, _, failures = validate_records(
        records, HEADER, COLUMNS, importer, HEADER, read=ReadOptions(decimal=".")
    )
    assert [e["message"] for e in failures[0].errors] == [
        "'963,16' looks like a decimal comma: import with decimal=','"
    ]


def test_no_locale_means_no_converters() -> None:
    assert cell_converters(None, Account, COLUMNS) is None
    assert cell_converters(Locale(decimal=","), Account, [[0, "name"], [1, "opened"]]) is None


def test_a_european_excel_file_imports_through_the_engine(
    tmp_path: Path, make_jobport: MakeJobport
) -> None:
    engine = make_jobport()
    path = tmp_path / "eu.csv"
    path.write_text(
        "id;email;last_name;country;balance;signup_date;active\n"
        "1;a@b.de;Müller;DE;963,16;31/12/2024;ja\n"
        "2;c@d.fr;Dupont;FR;1.234,5;01/02/2024;nein\n"
        "3;e@f.it;Rossi;IT;1.5;;ja\n",
        encoding="utf-8",
    )
    read = {
        "decimal": ",",
        "thousands": ".",
        "date_formats": ["%d/%m/%Y"],
        "true_words": ["ja"],
        "false_words": ["nein"],
    }
    run = engine.import_file("customers", path, read=read)
    assert run.status == "completed_with_errors", run.error
    [failure] = engine.store.list_failures(run.id)[0]
    assert failure["line"] == 4
    assert failure["errors"][0]["type"] == "number_ambiguous_point"
    with engine.database.connect() as conn:
        c = customers.c
        stored = conn.execute(sa.select(c.id, c.balance, c.signup_date, c.active)).all()
    assert sorted(stored) == [
        (1, Decimal("963.16"), dt.date(2024, 12, 31), True),
        (2, Decimal("1234.50"), dt.date(2024, 2, 1), False),
    ]
