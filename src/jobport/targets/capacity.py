"""What a target column can hold, checked before a chunk is written.

A value that validated against the row model may still not fit its column:
an id of 10**20 into SQLite's 64-bit integers, 3,000,000,000 into a
PostgreSQL ``integer``, 1e12 into ``NUMERIC(12, 2)``, 300 characters into
``VARCHAR(254)``. Written as is, it fails the whole chunk's transaction (and,
after the retries, the run), and the database names a COPY line rather than
the file's. Checked here first, it fails only its own row, with its column.

The check is made column by column with C-level passes (``min``/``max``,
``len``, ``sum``); a row is looked at on its own only once a column is known
to hold a value that does not fit, so a clean chunk costs a few passes.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal
from functools import lru_cache
from operator import itemgetter
from types import NoneType
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from jobport.errors import shown

#: (row index, column name, message) of a value that does not fit its column.
Misfit = tuple[int, str, str]
ColumnCheck = Callable[[Sequence[Any]], list[tuple[int, str]]]

_INT_BITS = {"small": 15, "int": 31, "big": 63}


@dataclass(frozen=True)
class Capacity:
    """The checks of one target table's columns, in one database dialect.

    ``finite`` names the number columns that take only finite values: NaN and
    infinities are refused unless the row model allows them (see
    :func:`finite_fields`).
    """

    table: sa.Table
    dialect: str
    finite: frozenset[str] = frozenset()
    #: Columns whose values the row model's own constraints already keep in range.
    trusted: frozenset[str] = frozenset()

    def misfits(self, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> list[Misfit]:
        """Every value of ``rows`` (tuples in ``columns`` order) that its column cannot hold."""
        found: list[Misfit] = []
        for index, name in enumerate(columns):
            if name in self.trusted:
                continue
            check = _column_check(self.table, name, self.dialect, name in self.finite)
            if check is None:
                continue
            values = tuple(map(itemgetter(index), rows))
            found.extend((row, name, message) for row, message in check(values))
        found.sort()
        return found


@lru_cache(maxsize=128)
def row_capacity(
    row: type[BaseModel], table: sa.Table, dialect: str, *, validated: bool = True
) -> Capacity:
    """The checks of ``table`` for rows validated by ``row``.

    ``validated``: the rows are the model's output as is (no transform in
    between), so a column the model's constraints keep in range needs no check.
    """
    trusted = trusted_columns(row, table, dialect) if validated else frozenset()
    return Capacity(table, dialect, finite_fields(row), trusted)


def finite_fields(row: type[BaseModel]) -> frozenset[str]:
    """The row model's fields that must not hold NaN or an infinity.

    pydantic lets a ``float`` field take ``nan`` and ``1e400`` (infinity) by
    default, which a person typing a spreadsheet never means; only a field
    (or model) that says ``allow_inf_nan=True`` keeps them.
    """
    model_allows = row.model_config.get("allow_inf_nan") is True
    out = set()
    for name, info in row.model_fields.items():
        said = [m.allow_inf_nan for m in info.metadata if hasattr(m, "allow_inf_nan")]
        if not (said[-1] if said else model_allows):
            out.add(name)
    return frozenset(out)


def trusted_columns(row: type[BaseModel], table: sa.Table, dialect: str) -> frozenset[str]:
    """Columns whose field constraints already keep every value the model accepts in range.

    ``age: int = Field(ge=18, le=120)`` into ``INTEGER``, ``Field(max_length=100)``
    into ``VARCHAR(100)``, ``Decimal`` with ``max_digits=12, decimal_places=2``
    into ``NUMERIC(12, 2)``: checking those again would cost every row for
    nothing. A field whose value a validator function may change is not trusted.
    """
    decorators = row.__pydantic_decorators__
    if decorators.model_validators:
        return frozenset()
    validated = {name for d in decorators.field_validators.values() for name in d.info.fields}
    out = set()
    for name, info in row.model_fields.items():
        if name in validated or "*" in validated or name not in table.c:
            continue
        if any(callable(getattr(m, "func", None)) for m in info.metadata):
            continue
        if _kept_in_range(info, table.c[name].type, dialect):
            out.add(name)
    return frozenset(out)


def _kept_in_range(info: FieldInfo, column_type: Any, dialect: str) -> bool:
    if isinstance(column_type, sa.types.TypeDecorator):
        return False
    bounds = {k: getattr(m, k) for m in info.metadata for k in _BOUNDS if hasattr(m, k)}
    types = {t for t in typing.get_args(info.annotation) or (info.annotation,) if t is not NoneType}
    if isinstance(column_type, sa.Integer):
        if types != {int}:
            return False
        bits = _int_bits(column_type, dialect)
        low = bounds.get("ge", bounds.get("gt"))
        high = bounds.get("le", bounds.get("lt"))
        return low is not None and high is not None and -(1 << bits) <= low and high < 1 << bits
    if isinstance(column_type, sa.String) and column_type.length:
        longest = bounds.get("max_length")
        return types == {str} and longest is not None and longest <= column_type.length
    if isinstance(column_type, sa.Numeric) and not isinstance(column_type, sa.Float):
        digits, places = bounds.get("max_digits"), bounds.get("decimal_places")
        precision, scale = column_type.precision, column_type.scale or 0
        if types != {Decimal} or digits is None or places is None or not precision:
            return False
        return bool(places <= scale and digits - places <= precision - scale)
    return False


_BOUNDS = ("ge", "gt", "le", "lt", "max_length", "max_digits", "decimal_places")


@lru_cache(maxsize=512)
def _column_check(table: sa.Table, name: str, dialect: str, finite: bool) -> ColumnCheck | None:
    """The check for one column's values, or None when its type holds anything it is given."""
    if name not in table.c:
        return None
    column_type = table.c[name].type
    if isinstance(column_type, sa.types.TypeDecorator):
        column_type = column_type.impl_instance
    if isinstance(column_type, sa.Integer):
        return _int_range(_int_bits(column_type, dialect))
    if isinstance(column_type, sa.Float):
        return _finite_floats if finite else None
    if isinstance(column_type, sa.Numeric):
        precision, scale = column_type.precision, column_type.scale
        if precision:
            return _numeric_range(precision, scale or 0)
        return _finite_decimals if finite else None
    if isinstance(column_type, sa.String) and column_type.length:
        return _max_length(column_type.length)
    return None


def _int_bits(column_type: sa.Integer, dialect: str) -> int:
    """How many value bits the column's integers have in this database."""
    if dialect == "sqlite":
        return 63  # every SQLite INTEGER is a 64-bit signed integer
    if isinstance(column_type, sa.BigInteger):
        return _INT_BITS["big"]
    if isinstance(column_type, sa.SmallInteger):
        return _INT_BITS["small"]
    return _INT_BITS["int"]


def _int_range(bits: int) -> ColumnCheck:
    low, high = -(1 << bits), (1 << bits) - 1

    def check(values: Sequence[Any]) -> list[tuple[int, str]]:
        try:
            # filter(None, ...) drops NULLs and zeros; neither can leave a range.
            if (
                low <= min(filter(None, values), default=0)
                and max(filter(None, values), default=0) <= high
            ):
                return []
        except TypeError:
            pass  # not all integers: look at each value
        return [
            (row, f"{shown(value)} is outside the column's range ({low:,} to {high:,})")
            for row, value in enumerate(values)
            if isinstance(value, int) and not low <= value <= high
        ]

    return check


def _numeric_range(precision: int, scale: int) -> ColumnCheck:
    """NUMERIC(precision, scale) holds values under 10**(precision - scale) once rounded."""
    whole = precision - scale
    places = Decimal(1).scaleb(-scale)
    # Below this, rounding to ``scale`` places cannot carry a value up to the limit.
    safe = Decimal(10) ** whole - places / 2
    rounding = Context(prec=precision + 1, rounding=ROUND_HALF_UP)

    def fits(value: Any) -> bool:
        if not isinstance(value, Decimal | int | float):
            return True  # not a number: the database's own error is clearer
        number = value if isinstance(value, Decimal) else Decimal(value)
        if not number.is_finite() or (number and number.adjusted() >= whole):
            return False
        return number.quantize(places, context=rounding).adjusted() < whole

    def check(values: Sequence[Any]) -> list[tuple[int, str]]:
        if _all_finite(values) and _largest(values) < safe:
            return []
        return [
            (
                row,
                f"{shown(value)} does not fit the column: at most {whole} digits before "
                f"the point and {scale} after",
            )
            for row, value in enumerate(values)
            if value is not None and not fits(value)
        ]

    return check


def _largest(values: Sequence[Any]) -> Any:
    """The largest magnitude among the values; infinite when they cannot be compared."""
    try:
        return max(map(abs, filter(None, values)), default=0)
    except (TypeError, ArithmeticError):
        return Decimal("Infinity")


def _all_finite(values: Sequence[Any]) -> bool:
    """Whether no value is NaN or infinite: the sum of a column proves it, in one C pass.

    NaN and infinities carry into a sum; a sum that overflows or mixes types
    sends the caller to the value-by-value path, which decides exactly.
    """
    try:
        total = sum(filter(None, values))
        return total.is_finite() if isinstance(total, Decimal) else math.isfinite(total)
    except (TypeError, ArithmeticError):
        return False


def _finite_decimals(values: Sequence[Any]) -> list[tuple[int, str]]:
    if _all_finite(values):
        return []
    return [
        (row, f"{shown(value)} is not a finite number")
        for row, value in enumerate(values)
        if isinstance(value, Decimal | float) and not _is_finite(value)
    ]


def _finite_floats(values: Sequence[Any]) -> list[tuple[int, str]]:
    if _all_finite(values):
        return []
    return [
        (row, f"{shown(value)} is not a finite number (NaN and infinities are refused)")
        for row, value in enumerate(values)
        if isinstance(value, Decimal | float) and not _is_finite(value)
    ]


def _is_finite(value: Decimal | float) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)


def _max_length(length: int) -> ColumnCheck:
    def check(values: Sequence[Any]) -> list[tuple[int, str]]:
        try:
            if max(map(len, filter(None, values)), default=0) <= length:
                return []
        except TypeError:
            pass  # not all strings: look at each value
        return [
            (row, f"is {len(value):,} characters long; the column holds at most {length:,}")
            for row, value in enumerate(values)
            if isinstance(value, str) and len(value) > length
        ]

    return check


__all__ = ["Capacity", "Misfit", "finite_fields", "row_capacity", "trusted_columns"]
