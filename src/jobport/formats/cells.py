"""Cell values between typed sources and text: what readers hand to validation, and
what writers put in a spreadsheet cell.

Readers of typed formats (XLSX, JSON Lines, Parquet) turn each value into the
text a CSV file would hold for it, so a row validates exactly as the same row
in a CSV does: a number in a text column is accepted, "42.0" is an integer,
a date is ``YYYY-MM-DD``. Writers of spreadsheet formats (CSV, XLSX)
neutralise text that a spreadsheet would run as a formula (OWASP's CSV
injection advice); numbers are left as they are.

Neutralising is undone on import, exactly: text made of apostrophes (maybe
none) and then a trigger gets one more apostrophe on the way out, and text
made of apostrophes (at least one) and then a trigger loses one on the way
in. Every value therefore comes back as it left, ``'=x`` included (it leaves
as ``''=x``), and a corrected error report or an export imports as the values
it was made of.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

#: Characters that make a spreadsheet read a text cell as a formula (or a DDE call).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_TRIGGERS = "".join(FORMULA_TRIGGERS)
#: First characters of text that may need neutralising (a quick test before the exact one).
_SUSPECT = _TRIGGERS + "'"
#: Text that leaves with one more apostrophe: apostrophes (maybe none), then a trigger.
_TO_NEUTRALISE = re.compile("'*[" + re.escape(_TRIGGERS) + "]")
#: Text that arrives with one apostrophe too many: apostrophes (one or more), then a trigger.
_NEUTRALISED = re.compile("'+[" + re.escape(_TRIGGERS) + "]")
#: What every neutralised text holds somewhere: an apostrophe just before a trigger.
_NEUTRALISED_ANYWHERE = re.compile("'[" + re.escape(_TRIGGERS) + "]")
_TEXT_OR_NONE = frozenset({str, type(None)})


def neutralise(text: str) -> str:
    """Text that no spreadsheet will evaluate: a leading trigger gets a ``'`` in front,
    and so does a trigger behind apostrophes, so that :func:`unneutralise` can tell a
    neutralised ``'=x`` (from ``=x``) from a genuine one (which leaves as ``''=x``)."""
    if text and text[0] in _SUSPECT and _TO_NEUTRALISE.match(text):
        return "'" + text
    return text


def unneutralise(text: str) -> str:
    """The text a cell held before :func:`neutralise`: one apostrophe fewer in front of
    apostrophes and a trigger; any other text as it is."""
    if text[:1] == "'" and _NEUTRALISED.match(text):
        return text[1:]
    return text


def may_hold_neutralised(text: str) -> bool:
    """Whether some cell of ``text`` (a whole file, a chunk, a line) may need
    :func:`unneutralise`; when not, readers skip the cell by cell pass altogether."""
    return "'" in text and _NEUTRALISED_ANYWHERE.search(text) is not None


def unneutralise_row(values: list[Any]) -> list[Any]:
    """A row read from a spreadsheet format with its neutralised text cells restored
    (in place: readers own the lists they hand over)."""
    for index, value in enumerate(values):
        if type(value) is str and value[:1] == "'" and _NEUTRALISED.match(value):
            values[index] = value[1:]
    return values


def safe_cell(value: Any) -> Any:
    """A value for a CSV or XLSX cell: text neutralised, anything else untouched."""
    if type(value) is str and value and value[0] in _SUSPECT and _TO_NEUTRALISE.match(value):
        return "'" + value
    return value


def is_text_column(values: Sequence[Any]) -> bool:
    """Whether every value of a column is text or None (one pass in C)."""
    return _TEXT_OR_NONE.issuperset(map(type, values))


def neutralised_column(values: Sequence[str | None]) -> Sequence[str | None]:
    """A column of text (or None) with every cell neutralised, as :func:`neutralise` does.

    The common case, no cell starting with a trigger, costs one quick pass and
    returns ``values`` itself; only a column with a hit is copied.
    """
    suspect, needs = _SUSPECT, _TO_NEUTRALISE.match
    if not [v for v in values if v and v[0] in suspect and needs(v)]:
        return values
    return [None if v is None else neutralise(v) for v in values]


def number_text(value: float) -> str:
    """The shortest text of a float, without a pointless ``.0`` (``42.0`` -> ``42``)."""
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def as_text(value: Any) -> str | None:
    """The CSV text of a typed value; None stays None (a blank cell)."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if value is None:
        return None
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return number_text(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def json_value(value: Any) -> Any:
    """A JSON-ready value for export: dates as ISO text, decimals as exact text."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)
