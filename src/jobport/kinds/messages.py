"""What a failed cell says to the person who filled in the spreadsheet.

pydantic's messages are written for programmers ("Input should be a valid
decimal", a regular expression); these say what is wrong in the file's terms:
the words a boolean takes, the date formats expected, a field's description
instead of its pattern, and the option that reads a decimal comma. Each
failure also keeps pydantic's error ``type`` and ``ctx`` (made JSON-able), so
the messages can be translated later from those alone. Every value quoted is
cut short (:func:`jobport.errors.shown`): a cell can be megabytes.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Callable
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from jobport.errors import shown
from jobport.kinds.locale import Locale, Refused, date_example

#: Longest quote of a cell's value in a message, and in a failure's details.
QUOTED = 60
DETAIL = 200

#: The words pydantic reads as booleans (it ignores case).
TRUE_WORDS = ("true", "yes", "1", "on")
FALSE_WORDS = ("false", "no", "0", "off")

#: 963,16 or 1.234,56 or 1 234,5: what a decimal comma looks like.
DECIMAL_COMMA = re.compile(
    r"\s*[+-]?(?:\d{1,3}(?:([. \u00a0\u202f])\d{3})+|\d+),\d+\s*\Z", re.ASCII
)
#: 1,234 or 1.234.567: whole numbers grouped by thousands.
GROUPED = re.compile(r"\s*[+-]?\d{1,3}(?:([.,' ])\d{3})+\s*\Z", re.ASCII)
#: 1,234.50 or 1 234.50: grouped by thousands, with decimals after a point.
GROUPED_POINT = re.compile(r"\s*[+-]?\d{1,3}(?:([,' ])\d{3})+\.\d+\s*\Z", re.ASCII)
#: Currency signs a number may be written with ($1234.56, 12 €, -£3).
CURRENCY_SIGNS = "$€£¥₹₽₩¢"
#: What is left of such a number without its sign: digits, maybe grouped.
_AMOUNT = re.compile(r"[+-]?[\d.,' ]*\d", re.ASCII)
#: A date written as ISO 8601 (a time may follow).
ISO_DATE = re.compile(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?\s*\Z", re.ASCII | re.DOTALL)
#: The months' names, as messages say them (``calendar``'s follow the process's locale).
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
#: A word of letters, such as another language's yes or no.
WORD = re.compile(r"[^\W\d_]+(?:[-' ][^\W\d_]+)*")
#: 31/12/2024, 31.12.2024, 12-31-2024: a date with the day or the month first.
DAY_OR_MONTH_FIRST = re.compile(r"\s*(\d{1,2})([/.-])(\d{1,2})\2(\d{4})\s*\Z", re.ASCII)

_DATE_TYPES = frozenset(
    {
        "date_type",
        "date_parsing",
        "date_from_datetime_parsing",
        "datetime_type",
        "datetime_parsing",
        "datetime_from_date_parsing",
    }
)
_NUMBER_TYPES = frozenset({"float_parsing", "float_type", "decimal_parsing", "decimal_type"})
_INT_TYPES = frozenset({"int_parsing", "int_type", "int_from_float"})


def error_detail(
    error: ErrorDetails,
    column: str,
    info: FieldInfo | None,
    locale: Locale | None,
    value: Any = None,
) -> dict[str, Any]:
    """One failed cell: its column, a message in plain words, pydantic's type and ctx,
    and the value it held (cut short).

    ``value`` is the cell as the file wrote it (``963,16``), which is what a
    message quotes; pydantic's input may be what a locale made of it.
    """
    if value is None:
        value = error.get("input")
    detail: dict[str, Any] = {
        "column": column,
        "message": message(error, info, locale, value),
        "type": error["type"],
    }
    ctx = error.get("ctx")
    if ctx:
        detail["ctx"] = {key: _jsonable(item) for key, item in ctx.items()}
        if error["type"] == "string_pattern_mismatch":
            detail["pattern"] = str(ctx.get("pattern", ""))
    if isinstance(value, str | int | float):
        detail["value"] = _jsonable(value)
    return detail


def refusal_detail(refused: Refused, column: str, value: Any) -> dict[str, Any]:
    """A cell the locale refused to read (see :class:`jobport.kinds.locale.Refused`)."""
    detail: dict[str, Any] = {
        "column": column,
        "message": refused.message,
        "type": refused.type,
        "ctx": refused.ctx,
    }
    if isinstance(value, str):
        detail["value"] = shown(value, DETAIL)
    return detail


def message(
    error: ErrorDetails, info: FieldInfo | None, locale: Locale | None, value: Any = None
) -> str:
    """pydantic's error in a person's words (its own message where none fits better);
    ``value`` is the cell as written (pydantic's input if not given)."""
    kind = error["type"]
    if kind == "missing" or (error.get("input") is None and kind.endswith("_type")):
        if kind != "missing" and info is not None and not info.is_required():
            # An empty cell of a field with a default: writing the default would change an
            # existing row the file says nothing about, so the row fails, saying why.
            return (
                "is empty: write a value, or leave the column out of the file (rows there "
                "then keep theirs, new rows get the default)"
            )
        return "is required"
    if value is None:
        value = error.get("input")
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    quoted = f"'{shown(value, QUOTED)}'" if isinstance(value, str | int | float) else "the value"
    if kind in _NUMBER_TYPES or kind in _INT_TYPES:
        return _number(kind, value, quoted, locale)
    if kind in _DATE_TYPES:
        return _date(kind, value, quoted, locale)
    if kind in ("bool_parsing", "bool_type"):
        return _boolean(quoted, locale, value)
    if kind == "string_pattern_mismatch":
        described = info.description if info is not None else None
        return (
            f"is not in the expected format: {shown(described.rstrip('.'))}"
            if described
            else "is not in the expected format"
        )
    plain = _PLAIN.get(kind)
    if plain is not None:
        return plain(ctx, quoted)
    text = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        text = text.removeprefix(prefix)
    return shown(text, 500)


def _number(kind: str, value: Any, quoted: str, locale: Locale | None) -> str:
    noun = "a whole number" if kind in _INT_TYPES else "a number"
    text = value if isinstance(value, str) else ""
    decimal = (locale.decimal if locale else None) or "."
    thousands = locale.thousands if locale else None
    sign = _currency_sign(text)
    if sign is not None:
        return f"{quoted} is not {noun}: write it without the currency sign '{sign}'"
    grouped = GROUPED.match(text) or GROUPED_POINT.match(text)
    separator = grouped.group(1) if grouped else None
    if decimal != "," and (comma := DECIMAL_COMMA.match(text)) is not None:
        if separator == ",":  # 1,234: a decimal comma, or a thousands separator
            return (
                f"{quoted} is not {noun}: import with decimal=',' if ',' is its decimal "
                "separator, or with thousands=',' if it separates thousands"
            )
        group = comma.group(1)
        option = "decimal=','" + (
            f" and thousands='{'.' if group == '.' else ' '}'" if group else ""
        )
        return f"{quoted} looks like a decimal comma: import with {option}"
    if thousands is None and separator is not None:
        # A thousands point needs the decimal comma: the two separators must differ.
        option = f"thousands='{separator}'" + (" and decimal=','" if separator == "." else "")
        return f"{quoted} is not {noun}; if '{separator}' separates thousands, import with {option}"
    if locale is not None and locale.reads_numbers:
        grouping = f", '{thousands}' between thousands" if thousands else ""
        return (
            f"{quoted} is not {noun} as this import reads them "
            f"('{decimal}' before the decimals{grouping})"
        )
    return f"{quoted} is not {noun}"


def _currency_sign(text: str) -> str | None:
    """The currency sign a number is written with ("$" of "$1234.56"), else None."""
    amount = text.strip().lstrip("+-").strip()
    for sign, rest in ((amount[:1], amount[1:]), (amount[-1:], amount[:-1])):
        if sign and sign in CURRENCY_SIGNS and _AMOUNT.fullmatch(rest.strip()):
            return sign
    return None


def _date(kind: str, value: Any, quoted: str, locale: Locale | None) -> str:
    impossible = _impossible_date(value)
    if impossible is not None:
        return f"{quoted} is not a day of the calendar: {impossible}"
    with_time = kind.startswith("datetime")
    iso = "YYYY-MM-DD HH:MM:SS" if with_time else "YYYY-MM-DD"
    formats = [
        f"{fmt} (such as {date_example(fmt)})" for fmt in (locale.date_formats if locale else ())
    ]
    expected = " or ".join([*formats, iso])
    noun = "a date and time" if with_time else "a date"
    text = f"{quoted} is not {noun} in the expected format: {expected}"
    if locale is None or not locale.date_formats:
        hint = date_format_hint(value if isinstance(value, str) else "")
        if hint:
            text += f"; {hint}"
    return text


def _impossible_date(value: Any) -> str | None:
    """What is wrong with an ISO date whose month and day are in range but not together
    ("February 2021 has 28 days"), or None when that is not the problem."""
    found = ISO_DATE.match(value) if isinstance(value, str) else None
    if found is None:
        return None
    year, month, day = (int(part) for part in found.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31 and year >= 1):
        return None
    days = calendar.monthrange(year, month)[1]
    if day <= days:
        return None
    return f"{MONTHS[month - 1]} {year} has {days} days"


def date_format_hint(text: str) -> str | None:
    """The option that would read a day-first or month-first date, when the value is one."""
    found = DAY_OR_MONTH_FIRST.match(text)
    if found is None:
        return None
    first, separator, second = int(found.group(1)), found.group(2), int(found.group(3))
    day_first = f"%d{separator}%m{separator}%Y"
    month_first = f"%m{separator}%d{separator}%Y"
    if first > 12 and second <= 12:
        return f"for day-first dates import with date_format='{day_first}'"
    if second > 12 and first <= 12:
        return f"for month-first dates import with date_format='{month_first}'"
    if first <= 12 and second <= 12:
        return f"import with date_format='{day_first}' (day first) or '{month_first}' (month first)"
    return None


def _boolean(quoted: str, locale: Locale | None, value: Any) -> str:
    """The words read as yes and no; a word of another language ("WAHR", "oui") is told
    the option that reads it."""
    true_words = [*TRUE_WORDS, *(locale.true_words if locale else ())]
    false_words = [*FALSE_WORDS, *(locale.false_words if locale else ())]
    text = (
        f"{quoted} is not a yes/no value: write one of {', '.join(map(shown, true_words))} "
        f"or {', '.join(map(shown, false_words))}"
    )
    if isinstance(value, str) and WORD.fullmatch(value.strip()):
        word = f"'{shown(value.strip(), QUOTED)}'"
        text += f", or import with true_words={word} or false_words={word}"
    return text


def _limit(ctx: dict[str, Any], name: str) -> str:
    return shown(ctx.get(name, "?"), QUOTED)


#: Constraint failures in plain words: ctx (pydantic's) and the quoted value -> message.
_PLAIN: dict[str, Callable[[dict[str, Any], str], str]] = {
    "greater_than_equal": lambda ctx, _: f"must be at least {_limit(ctx, 'ge')}",
    "greater_than": lambda ctx, _: f"must be more than {_limit(ctx, 'gt')}",
    "less_than_equal": lambda ctx, _: f"must be at most {_limit(ctx, 'le')}",
    "less_than": lambda ctx, _: f"must be less than {_limit(ctx, 'lt')}",
    "multiple_of": lambda ctx, _: f"must be a multiple of {_limit(ctx, 'multiple_of')}",
    "finite_number": lambda _, quoted: f"{quoted} is not a finite number",
    "int_parsing_size": lambda _, quoted: f"{quoted} is too large a number",
    "decimal_max_digits": lambda ctx, _: f"has more than {_limit(ctx, 'max_digits')} digits in all",
    "decimal_max_places": lambda ctx, _: (
        f"has more than {_limit(ctx, 'decimal_places')} digits after the decimal point"
    ),
    "decimal_whole_digits": lambda ctx, _: (
        f"has more than {_limit(ctx, 'whole_digits')} digits before the decimal point"
    ),
    "string_too_long": lambda ctx, _: f"is longer than {_limit(ctx, 'max_length')} characters",
    "string_too_short": lambda ctx, _: (
        "must not be empty"
        if ctx.get("min_length") == 1
        else f"is shorter than {_limit(ctx, 'min_length')} characters"
    ),
    "date_from_datetime_inexact": lambda _, quoted: (
        f"{quoted} has a time of day; a date alone is expected"
    ),
    "date_future": lambda _, quoted: f"{quoted} must be a date in the future",
    "date_past": lambda _, quoted: f"{quoted} must be a date in the past",
    "literal_error": lambda ctx, quoted: f"{quoted} is not one of {_limit(ctx, 'expected')}",
    "enum": lambda ctx, quoted: f"{quoted} is not one of {_limit(ctx, 'expected')}",
    "uuid_parsing": lambda _, quoted: f"{quoted} is not a UUID",
}


def _jsonable(value: Any) -> Any:
    """A ctx value as JSON keeps it: numbers and text as they are, anything else as text."""
    if (
        value is None
        or isinstance(value, bool | int)
        or (isinstance(value, float) and math.isfinite(value))
    ):
        return value
    return shown(value, DETAIL)


__all__ = [
    "DAY_OR_MONTH_FIRST",
    "DECIMAL_COMMA",
    "GROUPED",
    "date_format_hint",
    "error_detail",
    "message",
    "refusal_detail",
]
