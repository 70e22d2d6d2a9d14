"""Bulk fixes of one column: what each does to a cell's text, with its cost bounded.

A bulk fix is a pure function of a cell's text (:meth:`BulkFix.compile`); the
fix service applies it to every row a view selects, counts the cells it would
change (the preview) and stores the changed rows validated like single edits.

Regular expressions come from users and run over thousands of cells, so a
pattern like ``(x+x+)+y`` could hold a server for hours on one cell. They run
on the ``regex`` module, whose matching can be interrupted: every call gets
what is left of one time budget for the whole operation (:data:`REGEX_SECONDS`),
and running out is a clear refusal that changes nothing. Patterns are short
(:data:`MAX_PATTERN`), a pattern matching the empty text is refused (it would
insert the replacement between every two characters), and no cell may grow
past :data:`MAX_CELL_CHARS`.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from typing import Literal

import regex
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from jobport.errors import InputError, shown

#: The longest pattern (or text to find) a bulk fix takes.
MAX_PATTERN = 200
#: The longest replacement or value a bulk fix takes.
MAX_VALUE = 1_000
#: The longest cell a bulk fix may make.
MAX_CELL_CHARS = 20_000
#: How long a regular expression may run, over all the rows of one operation.
REGEX_SECONDS = 2.0

Operation = Literal[
    "replace", "trim", "upper", "lower", "title", "set", "decimal_comma", "date_format"
]
#: Each operation as a person reads it (the dashboard's choices).
OPERATIONS: dict[str, str] = {
    "replace": "Find and replace",
    "trim": "Trim spaces",
    "upper": "UPPER CASE",
    "lower": "lower case",
    "title": "Title Case",
    "set": "Set a value",
    "decimal_comma": "Decimal comma to dot (1.234,5 → 1234.5)",
    "date_format": "Date in a format to ISO (YYYY-MM-DD)",
}
#: strftime directives that make a date format a date-and-time format.
_TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%f", "%p", "%z")
#: A number written with a decimal comma, thousands grouped by dots, spaces or apostrophes.
_DECIMAL_COMMA = re.compile(
    r"\s*([+-]?)(\d{1,3}(?:[.\u00a0\u202f ']\d{3})+|\d+)(?:,(\d+))?\s*", re.ASCII
)
_GROUPING = re.compile(r"[.\u00a0\u202f ']")

Change = Callable[[str], str]


class BulkFix(BaseModel):
    """One bulk fix of a column, as every face sends it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str = Field(min_length=1, max_length=1_000, description="The column to change.")
    op: Operation = Field(description=", ".join(f"{k}: {v}" for k, v in OPERATIONS.items()))
    find: str = Field(
        default="", max_length=MAX_PATTERN, description="replace: the text (or pattern) to find."
    )
    replace: str = Field(default="", max_length=MAX_VALUE, description="replace: what replaces it.")
    regex: bool = Field(
        default=False,
        description="replace: `find` is a regular expression (`\\1` in `replace` is a group).",
    )
    value: str = Field(default="", max_length=MAX_VALUE, description="set: the new value.")
    date_format: str = Field(
        default="",
        max_length=64,
        description="date_format: the strftime format the dates are in, e.g. %d/%m/%Y.",
    )

    @model_validator(mode="after")
    def _complete(self) -> BulkFix:
        if self.op == "replace" and not self.find:
            raise ValueError("find and replace needs the text to find")
        if self.op == "date_format" and "%" not in self.date_format:
            raise ValueError("a date format needs strftime directives, e.g. %d/%m/%Y")
        return self

    @classmethod
    def checked(cls, values: dict[str, object]) -> BulkFix:
        """A bulk fix from a form's values, or an InputError saying what is wrong."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                (f"{'.'.join(map(str, e['loc']))}: " if e["loc"] else "")
                + str(e["msg"]).removeprefix("Value error, ")
                for e in exc.errors(include_url=False)
            )
            raise InputError(f"invalid bulk fix: {problems}") from None

    def describe(self) -> str:
        """The fix in words, for a person who is about to run it."""
        if self.op == "replace":
            what = "the pattern " if self.regex else ""
            return f"replace {what}'{shown(self.find)}' with '{shown(self.replace)}'"
        if self.op == "set":
            return f"set to '{shown(self.value)}'"
        if self.op == "date_format":
            return f"dates written {shown(self.date_format)} to ISO"
        return OPERATIONS[self.op]

    def compile(self) -> Change:
        """The fix as a function of a cell's text (checked once here, not per cell)."""
        if self.op == "replace":
            return _regex_change(self.find, self.replace) if self.regex else _plain(self)
        if self.op == "set":
            value = self.value
            return lambda _: value
        if self.op == "date_format":
            return _date_change(self.date_format)
        simple: dict[str, Change] = {
            "trim": str.strip,
            "upper": str.upper,
            "lower": str.lower,
            "title": str.title,
            "decimal_comma": decimal_comma,
        }
        return simple[self.op]


def _plain(fix: BulkFix) -> Change:
    find, replace = fix.find, fix.replace

    def change(text: str) -> str:
        return _bounded(text.replace(find, replace))

    return change


def _regex_change(pattern: str, replacement: str) -> Change:
    """A regular expression substitution under one time budget (see the module's docstring)."""
    try:
        compiled = regex.compile(pattern)
        compiled.sub(replacement, "", timeout=REGEX_SECONDS)  # checks the replacement's groups
    except regex.error as exc:
        raise InputError(f"the regular expression is invalid: {shown(exc, 200)}") from None
    except TimeoutError:
        raise _too_slow() from None
    if compiled.search("", timeout=REGEX_SECONDS) is not None:
        raise InputError(
            "the regular expression matches an empty text, so it would insert the replacement "
            "between every two characters; make it match at least one character"
        )
    deadline = time.monotonic() + REGEX_SECONDS

    def change(text: str) -> str:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _too_slow()
        try:
            return _bounded(compiled.sub(replacement, text, timeout=left))
        except TimeoutError:
            raise _too_slow() from None

    return change


def _too_slow() -> InputError:
    return InputError(
        f"the regular expression ran for more than {REGEX_SECONDS:g} s over these rows and "
        "was stopped; nothing was changed. Simplify it (a repetition inside a repetition, "
        "such as (a+)+, can take exponential time) or narrow the rows with the filters"
    )


def _bounded(text: str) -> str:
    if len(text) > MAX_CELL_CHARS:
        raise InputError(
            f"the fix makes a cell of {len(text):,} characters, over the limit of "
            f"{MAX_CELL_CHARS:,}; nothing was changed"
        )
    return text


def decimal_comma(text: str) -> str:
    """``1.234,56`` (or ``1 234,56``, ``12,5``) as ``1234.56``; any other text as it is."""
    found = _DECIMAL_COMMA.fullmatch(text)
    if found is None or ("," not in text and not _GROUPING.search(found.group(2))):
        return text
    sign, whole, fraction = found.groups()
    number = sign + _GROUPING.sub("", whole)
    return f"{number}.{fraction}" if fraction else number


def _date_change(fmt: str) -> Change:
    with_time = any(directive in fmt for directive in _TIME_DIRECTIVES)

    def change(text: str) -> str:
        try:
            moment = dt.datetime.strptime(text.strip(), fmt)
        except ValueError:
            return text
        return moment.isoformat() if with_time else moment.date().isoformat()

    try:
        dt.datetime.now().strftime(fmt)
    except ValueError:
        raise InputError(f"'{shown(fmt)}' is not a date format") from None
    return change


__all__ = [
    "MAX_CELL_CHARS",
    "MAX_PATTERN",
    "OPERATIONS",
    "REGEX_SECONDS",
    "BulkFix",
    "Change",
    "Operation",
    "decimal_comma",
]
