"""The chunk-at-once validation path gives exactly what row-by-row validation gives."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import SchemaValidator, core_schema

from jobport.demo import Customer, customers
from jobport.kinds import Importer
from jobport.kinds import validation as validation_module
from jobport.kinds.batch import _faster, batch_validator
from jobport.kinds.columns import map_columns
from jobport.kinds.validation import validate_records

HEADER = [c.name for c in customers.c]
TABLE = [c.name for c in customers.c]


def _both_ways(
    records: list[Any],
    importer: Importer,
    header: list[str] = HEADER,
    table: list[str] = TABLE,
    monkeypatch: pytest.MonkeyPatch | None = None,
) -> tuple[Any, Any]:
    columns = map_columns(header, importer.row)
    fast = validate_records(records, header, columns, importer, table)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(validation_module, "batch_validator", lambda *args: None)
        slow = validate_records(records, header, columns, importer, table)
    return fast, slow


# -- decimals: the quick way in accepts exactly what the constrained schema accepts --------

decimal_text = st.one_of(
    st.from_regex(r"\A[-+]?[0-9]{0,14}(\.[0-9]{0,4})?\Z"),
    st.from_regex(r"\A[-+ ]?0*[0-9]{0,3}[.,]?[0-9]{0,3}([eE][-+]?[0-9]{1,2})?[ _]?\Z"),
    st.text(alphabet="0123456789.-+eE _naNIif", max_size=12),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.integers(),
    st.floats(allow_nan=True),
)


@settings(max_examples=600, deadline=None)
@given(
    value=decimal_text,
    digits=st.integers(min_value=1, max_value=14),
    places=st.integers(min_value=0, max_value=4),
    bounds=st.sampled_from([{}, {"ge": 0}, {"lt": 1000}]),
)
def test_quick_decimal_agrees_with_pydantic(
    value: Any, digits: int, places: int, bounds: dict[str, Any]
) -> None:
    original = core_schema.decimal_schema(max_digits=digits, decimal_places=places, **bounds)
    reference = SchemaValidator(original)
    quick = SchemaValidator(_faster(original))
    try:
        expected: Any = reference.validate_python(value)
    except ValueError:
        expected = "refused"
    try:
        got: Any = quick.validate_python(value)
    except ValueError:
        got = "refused"
    assert type(got) is type(expected)
    assert str(got) == str(expected)  # same value *and* same exponent


# -- whole chunks: the batch path against the row-by-row path ------------------------------

good_row = st.fixed_dictionaries(
    {
        "id": st.integers(min_value=-2, max_value=40).map(str),
        "email": st.sampled_from(["a@b.example", "x.y@corp.test", "bad-address", ""]),
        "first_name": st.sampled_from(["Ada", "", "  Linus ", "x" * 101]),
        "last_name": st.sampled_from(["Hopper", "", " ", "Lovelace"]),
        "country": st.sampled_from(["BE", "be", "ZZ", "", " fr "]),
        "signup_date": st.sampled_from(["2020-02-29", "2021-02-29", "", "yesterday"]),
        "balance": st.sampled_from(["1.50", "-0", "12345678901.5", "1e3", "0.125", "", "+7"]),
        "active": st.sampled_from(["true", "no", "1", "maybe", ""]),
        "age": st.sampled_from(["18", "17", "121", "", "40.0", "forty"]),
        "score": st.sampled_from(["1.5", "nan", "", "1e400", "x"]),
    }
).map(lambda row: [row[name] for name in HEADER])

record = st.one_of(
    good_row,
    good_row,
    good_row,
    good_row.map(lambda row: row[:-1]),  # a short row
    good_row.map(lambda row: [*row, "extra"]),  # a long row
    st.just("the record could not be parsed"),
    st.none(),  # undecodable bytes
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(record, max_size=40))
def test_batch_path_matches_row_by_row(cells: list[Any]) -> None:
    records = [(line, cell) for line, cell in enumerate(cells, start=2)]
    importer = Importer(row=Customer, key="id")
    assert batch_validator(Customer, len(HEADER), map_columns(HEADER, Customer)) is not None
    fast, slow = _both_ways(records, importer)
    assert repr(fast) == repr(slow)  # a score of "nan" is NaN, which never equals itself


class WithDefaults(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)
    id: int
    last_name: str = "unknown"
    active: bool = True
    balance: Annotated[Decimal, Field(max_digits=6, decimal_places=2)] = Decimal("0.00")


def test_fields_without_a_column_take_their_defaults() -> None:
    header = ["ID", "Balance"]
    records = [(2, ["1", "2.50"]), (3, ["2", "oops"]), (4, ["1", "3.00"]), (5, ["3", ""])]
    importer = Importer(row=WithDefaults, key="id")
    table = ["id", "last_name", "active", "balance"]
    fast, slow = _both_ways(records, importer, header, table)
    assert fast == slow
    rows, columns, failures = fast
    assert columns == ["id", "last_name", "active", "balance"]
    assert rows == [(1, "unknown", True, Decimal("3.00"))]  # the later duplicate wins
    assert [(f.line, f.column) for f in failures] == [(3, "Balance"), (5, "Balance")]


class ChecksAcrossFields(BaseModel):
    id: int
    starts: dt.date
    ends: dt.date

    @model_validator(mode="after")
    def ordered(self) -> ChecksAcrossFields:
        if self.ends < self.starts:
            raise ValueError("ends before it starts")
        return self


class ReadsOtherFields(BaseModel):
    id: int
    code: str

    @field_validator("code")
    @classmethod
    def prefixed(cls, value: str, info: ValidationInfo) -> str:
        return f"{info.data['id']}-{value}"


class FactoryDefault(BaseModel):
    id: int
    tags: list[str] = Field(default_factory=list)


class Strict(BaseModel):
    model_config = ConfigDict(strict=True)
    id: int


class Nested(BaseModel):
    id: int
    inner: WithDefaults | None = None


@pytest.mark.parametrize(
    ("model", "header"),
    [
        (ChecksAcrossFields, ["id", "starts", "ends"]),
        (ReadsOtherFields, ["id", "code"]),
        (FactoryDefault, ["id"]),
        (Strict, ["id"]),
        (Nested, ["id", "inner"]),
    ],
)
def test_models_it_cannot_mirror_keep_the_row_by_row_path(
    model: type[BaseModel], header: list[str]
) -> None:
    assert batch_validator(model, len(header), map_columns(header, model)) is None


def test_row_by_row_models_still_validate_fully() -> None:
    importer = Importer(row=ChecksAcrossFields, key="id")
    records = [(2, ["1", "2024-01-01", "2024-02-01"]), (3, ["2", "2024-02-01", "2024-01-01"])]
    rows, _, failures = validate_records(
        records,
        ["id", "starts", "ends"],
        map_columns(["id", "starts", "ends"], ChecksAcrossFields),
        importer,
        ["id", "starts", "ends"],
    )
    assert rows == [(1, dt.date(2024, 1, 1), dt.date(2024, 2, 1))]
    assert [f.line for f in failures] == [3]
    assert "ends before it starts" in failures[0].message


def _upper(value: str) -> str:
    if not value.isalpha():
        raise ValueError("letters only")
    return value.upper()


class PlainFunctions(BaseModel):
    id: int
    code: Annotated[str, AfterValidator(_upper)]


def test_no_info_validators_run_on_the_batch_path() -> None:
    header = ["id", "code"]
    assert batch_validator(PlainFunctions, 2, map_columns(header, PlainFunctions)) is not None
    records = [(2, ["1", "ab"]), (3, ["2", "a1"]), (4, ["3", "cd"])]
    fast, slow = _both_ways(records, Importer(row=PlainFunctions, key="id"), header, header)
    assert fast == slow
    assert fast[0] == [(1, "AB"), (3, "CD")]
    assert [(f.line, f.message) for f in fast[2]] == [(3, "code: letters only")]
