"""Reading numbers, dates and booleans as a file's locale writes them, before validation.

A European Excel writes ``963,16`` and ``31/12/2024``; pydantic reads neither.
A :class:`Locale` (declared on the type, overridden per run by the read
options) says how such cells are written, and :func:`cell_converters` turns it
into one converter per file column whose field it concerns, built once per
chunk (and cached). Cells are then rewritten into the text pydantic reads
(``963.16``, ``2024-12-31``, ``true``) and validated as usual, so every check
and message of the row model still applies, and a validator of the model's
own still gets text. A value that would be *misread* (with a
decimal comma, ``1.500`` would pass pydantic as one and a half) is refused with
:class:`Refused` instead, never passed on. With no locale option set there are
no converters and validation does not change at all.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from jobport.errors import InputError, shown

if TYPE_CHECKING:
    # Only named: importing it loads every format, which declaring a type must not.
    from jobport.formats.base import ReadOptions

#: What a field holds, as far as a locale is concerned.
FieldKind = Literal["int", "number", "date", "datetime", "bool"]

#: A cell in, the text pydantic reads out, or a :class:`Refused` (anything but text, such
#: as a blank's None or a number a spreadsheet stored as one, goes through as it is).
Converter = Callable[[Any], Any]

#: A whole column in, its converted cells out (the same list if none changes); None where
#: it cannot take the short way.
Bulk = Callable[[list[Any]], list[Any] | None]

#: Joins a column's cells for whole-column string operations (no cell of text holds it).
_UNIT = "\x1f"

#: Spaces that French and other locales put between thousands (plain, no-break, narrow).
_SPACES = " \u00a0\u202f"


class Refused(str):
    """A cell a locale would misread, in the cell's place: the row fails with this
    ``message``, never with a guess.

    A string that no number, date or boolean parser accepts (the cell's text
    and a NUL), so the batch validator turns its record away like any invalid
    one, and a field validator of the model's own still gets text.
    """

    type: str
    message: str
    ctx: dict[str, Any]

    def __new__(cls, text: str, type: str, message: str, ctx: dict[str, Any]) -> Refused:
        refused = super().__new__(cls, text + "\x00")
        refused.type, refused.message, refused.ctx = type, message, ctx
        return refused


@dataclass(frozen=True)
class Locale:
    """How a file writes numbers, dates and booleans.

    ``decimal`` and ``thousands`` are the separators of numbers (``thousands``
    is only ever removed between groups of three digits); ``date_formats`` are
    strftime formats tried in order (ISO 8601 is still read after them);
    ``true_words``/``false_words`` are read as booleans besides pydantic's own
    (true/false, yes/no, on/off, 1/0), ignoring case.
    """

    decimal: Literal[".", ","] | None = None
    thousands: Literal[",", ".", " ", "'", "_"] | None = None
    date_formats: tuple[str, ...] = ()
    true_words: tuple[str, ...] = ()
    false_words: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.thousands is not None and self.thousands == (self.decimal or "."):
            raise ValueError(
                f"the decimal and thousands separators are both '{self.thousands}'; "
                "give two different ones"
            )
        both = {w.strip().lower() for w in self.true_words} & {
            w.strip().lower() for w in self.false_words
        }
        if both:
            raise ValueError(f"'{shown(sorted(both)[0])}' cannot be both a true and a false word")
        for fmt in self.date_formats:
            _check_date_format(fmt)

    @property
    def reads_numbers(self) -> bool:
        """Whether numbers need rewriting (anything but plain ``1234.56``)."""
        return self.decimal == "," or self.thousands is not None

    @property
    def is_plain(self) -> bool:
        return not (self.reads_numbers or self.date_formats or self.true_words or self.false_words)


def locale_for(declared: Locale | None, read: ReadOptions | None) -> Locale | None:
    """The locale of a run: the type's, with each option the run sets taking its place.

    The two separators go together (a run that says ``decimal`` or
    ``thousands`` says how its numbers are written, whatever the type
    declared). None when nothing is set: validation then skips locales
    entirely. Raises InputError when the result contradicts itself.
    """
    base = declared or Locale()
    if read is None:
        return None if base.is_plain else base
    numbers_given = read.decimal is not None or read.thousands is not None
    try:
        locale = Locale(
            decimal=read.decimal if numbers_given else base.decimal,
            thousands=read.thousands if numbers_given else base.thousands,
            date_formats=tuple(read.date_formats) or base.date_formats,
            true_words=tuple(read.true_words) or base.true_words,
            false_words=tuple(read.false_words) or base.false_words,
        )
    except ValueError as exc:
        raise InputError(f"invalid read options: {exc}") from None
    return None if locale.is_plain else locale


def field_kind(info: FieldInfo) -> FieldKind | None:
    """What a field holds (optional or not), when a locale can concern it; else None."""
    annotation: Any = info.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        held = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(held) != 1:
            return None
        annotation = held[0]
    if not isinstance(annotation, type) or issubclass(annotation, enum.Enum):
        return None
    if issubclass(annotation, bool):
        return "bool"
    if issubclass(annotation, int):
        return "int"
    if issubclass(annotation, float | Decimal):
        return "number"
    if issubclass(annotation, dt.datetime):
        return "datetime"
    if issubclass(annotation, dt.date):
        return "date"
    return None


@dataclass(frozen=True)
class ColumnConverter:
    """How one column's cells are read: cell by cell, and, for some, a whole column at
    once by C-level string operations (``bulk``), which is what the batch path uses."""

    convert: Converter
    bulk: Bulk | None = None


@dataclass(frozen=True)
class CellConverters:
    """The converters of one chunk's columns: (cell index, field name, converter)."""

    cells: tuple[tuple[int, str, ColumnConverter], ...]

    def records(self, inputs: list[Any], width: int) -> list[Any]:
        """Records with their cells converted (new lists; ``inputs`` are left as they are).

        Column by column: each converter takes its whole column, most often in
        a few C-level string calls (``bulk``), else cell by cell; a column that
        needs no change (whole numbers under a decimal comma) costs no write,
        and a chunk none of whose cells change is returned as it is. A refused
        cell holds a :class:`Refused`, which the batch validator turns away:
        the row is then checked on its own, where the refusal becomes its
        failure (see :meth:`values`).
        """
        whole = [k for k, cells in enumerate(inputs) if type(cells) is list and len(cells) == width]
        rows = inputs if len(whole) == len(inputs) else [inputs[k] for k in whole]
        changed: list[tuple[int, list[Any]]] = []
        for index, _, column in self.cells:
            cells = [row[index] for row in rows]
            converted = column.bulk(cells) if column.bulk is not None else None
            if converted is None:
                changed.append((index, list(map(column.convert, cells))))
            elif converted is not cells:
                changed.append((index, converted))
        if not changed:
            return inputs
        copies = [row.copy() for row in rows]
        for index, converted in changed:
            for row, value in zip(copies, converted, strict=True):
                row[index] = value
        if rows is inputs:
            return copies
        out = list(inputs)
        for k, row in zip(whole, copies, strict=True):
            out[k] = row
        return out

    def values(self, data: dict[str, Any]) -> dict[str, Refused] | None:
        """Convert a row's field values in place; the refused ones become None (so that
        pydantic says nothing of them) and are returned by field (None if none was)."""
        refused: dict[str, Refused] | None = None
        for _, name, column in self.cells:
            value = data[name] = column.convert(data[name])
            if type(value) is Refused:
                data[name] = None
                refused = refused or {}
                refused[name] = value
        return refused


def cell_converters(
    locale: Locale | None, row: type[BaseModel], columns: Sequence[Sequence[Any]]
) -> CellConverters | None:
    """The converters a chunk applies, or None when the locale concerns none of its columns."""
    if locale is None:
        return None
    return _cached_converters(locale, row, tuple((int(i), str(name)) for i, name in columns))


@lru_cache(maxsize=64)
def _cached_converters(
    locale: Locale, row: type[BaseModel], columns: tuple[tuple[int, str], ...]
) -> CellConverters | None:
    cells: list[tuple[int, str, ColumnConverter]] = []
    for index, name in columns:
        kind = field_kind(row.model_fields[name])
        convert = converter(locale, kind) if kind is not None else None
        if convert is not None:
            cells.append((index, name, convert))
    return CellConverters(tuple(cells)) if cells else None


def converter(locale: Locale, kind: FieldKind) -> ColumnConverter | None:
    """The converter of one kind of field under ``locale``, or None if it reads as is."""
    if kind in ("int", "number"):
        return _number_converter(locale) if locale.reads_numbers else None
    if kind in ("date", "datetime") and locale.date_formats:
        return ColumnConverter(_date_converter(locale.date_formats, kind))
    if kind == "bool" and (locale.true_words or locale.false_words):
        return ColumnConverter(_bool_converter(locale.true_words, locale.false_words))
    return None


# -- numbers ----------------------------------------------------------------------------------


def number_pattern(decimal: str, thousands: str | None) -> re.Pattern[str]:
    """A number as written with these separators: (sign, whole part, fraction).

    Thousands separators count only between groups of three digits
    (``1.234.567``); a space separator also matches the no-break spaces
    spreadsheets write.
    """
    whole = r"\d+"
    if thousands is not None:
        group = "[" + re.escape(_SPACES if thousands == " " else thousands) + "]"
        whole = rf"\d{{1,3}}(?:{group}\d{{3}})+|\d+"
    return re.compile(rf"\s*([+-]?)({whole})?(?:{re.escape(decimal)}(\d+))?\s*\Z", re.ASCII)


def _number_converter(locale: Locale) -> ColumnConverter:
    """Numbers as ``locale`` writes them, as pydantic reads them.

    The common cells take the short way: without a thousands separator, a
    decimal comma becomes a point by one ``replace`` (what is then not a
    number, pydantic refuses). Cells holding a thousands separator are
    checked against the grouping (threes) and stripped of it. A point in a
    decimal-comma number is refused, since pydantic would read it as the
    decimal point: ``1.500`` as one and a half.
    """
    decimal = locale.decimal or "."
    thousands = locale.thousands
    grouping = _SPACES if thousands == " " else thousands or ""
    grouped = re.compile("[" + re.escape(grouping) + "]").search if grouping else None
    match = number_pattern(decimal, thousands).match
    separators = str.maketrans("", "", grouping)
    comma = decimal == ","
    ctx = {"decimal": decimal, "thousands": thousands}

    def refuse(text: str) -> Refused:
        written = shown(text.strip(), 60)
        return Refused(
            text,
            "number_ambiguous_point",
            f"'{written}' is not a number as this import reads them: '{decimal}' before "
            "the decimals, '.' only between groups of three digits"
            if thousands == "."
            else f"'{written}' holds a '.', but this import reads '{decimal}' as the "
            "decimal separator; if '.' separates thousands, import with thousands='.'",
            ctx,
        )

    def by_pattern(text: str) -> Any:
        found = match(text)
        if found is None:
            if comma and "." in text:
                return refuse(text)
            return text  # not a number as written here: pydantic refuses it, saying why
        sign, whole, fraction = found.groups()
        if whole is None and fraction is None:
            return text  # blank, or a bare sign: pydantic's to say
        digits = whole.translate(separators) if whole else "0"
        return f"{sign}{digits}.{fraction}" if fraction is not None else f"{sign}{digits}"

    def convert(text: Any) -> Any:
        if type(text) is not str:
            return text  # a blank (None), or a number a spreadsheet stored as one
        if grouped is not None and grouped(text) is not None:
            return by_pattern(text)
        if comma:
            if "." in text:
                return refuse(text)
            return text.replace(",", ".")
        return text

    def bulk(column: list[Any]) -> list[Any] | None:
        """The whole column in a few C-level calls when no cell holds a point or a
        thousands separator (the usual column): ``column`` itself when no cell needs a
        change, else each cell converted by the ``replace`` alone; None otherwise."""
        texts = ["" if value is None else value for value in column]
        try:
            joined = _UNIT.join(texts)
        except TypeError:
            return None  # a number a spreadsheet stored as one
        if (
            joined.count(_UNIT) != len(texts) - 1
            or (grouped is not None and grouped(joined) is not None)
            or (comma and "." in joined)
        ):
            return None
        if not comma or "," not in joined:
            return column  # whole numbers, or numbers as pydantic writes them: unchanged
        cells: list[Any] = joined.replace(",", ".").split(_UNIT)
        if None in column:
            pairs = zip(column, cells, strict=True)
            cells = [None if value is None else cell for value, cell in pairs]
        return cells

    return ColumnConverter(convert, bulk)


# -- dates ------------------------------------------------------------------------------------

#: strftime directives a date format may be compiled from: regex group, and which part.
_DIRECTIVES = {
    "d": (r"(\d{1,2})", "day"),
    "m": (r"(\d{1,2})", "month"),
    "Y": (r"(\d{4})", "year"),
    "y": (r"(\d{2})", "short_year"),
    "H": (r"(\d{1,2})", "hour"),
    "M": (r"(\d{1,2})", "minute"),
    "S": (r"(\d{1,2})", "second"),
}
_SAMPLE = dt.datetime(2024, 12, 31, 23, 59, 58)


def _check_date_format(fmt: str) -> None:
    """Refuse a format that cannot read back the date it writes (no day, a bad directive)."""
    try:
        back = dt.datetime.strptime(_SAMPLE.strftime(fmt), fmt)
    except ValueError:
        raise ValueError(f"'{shown(fmt)}' is not a date format such as '%d/%m/%Y'") from None
    if back.date() != _SAMPLE.date():
        raise ValueError(
            f"the date format '{shown(fmt)}' does not hold a day, a month and a year "
            "(such as '%d/%m/%Y')"
        )


def date_example(fmt: str) -> str:
    """31 December 2024 written in ``fmt``: how a message shows a format to a person."""
    return _SAMPLE.strftime(fmt)


def _compiled(fmt: str) -> Callable[[str], dt.datetime | None]:
    """A parser of ``fmt``: a regex for the usual numeric formats (five times faster
    than strptime), strptime itself for any other."""
    parts = re.split(r"(%.)", fmt)
    pattern, fields = "", []
    for part in parts:
        if part.startswith("%") and len(part) == 2:
            if part[1] == "%":
                pattern += "%"
                continue
            if part[1] not in _DIRECTIVES:
                return _strptime(fmt)
            group, name = _DIRECTIVES[part[1]]
            pattern += group
            fields.append(name)
        else:
            pattern += re.escape(part)
    match = re.compile(pattern + r"\Z").match

    def parse(text: str) -> dt.datetime | None:
        found = match(text)
        if found is None:
            return None
        values = dict(zip(fields, map(int, found.groups()), strict=True))
        if "short_year" in values:  # as strptime: 69-99 are 1969-1999, 00-68 are 2000-2068
            short = values.pop("short_year")
            values["year"] = short + (1900 if short >= 69 else 2000)
        try:
            return dt.datetime(
                values["year"],
                values["month"],
                values["day"],
                values.get("hour", 0),
                values.get("minute", 0),
                values.get("second", 0),
            )
        except (KeyError, ValueError):  # 31/02, or a format without a year
            return None

    return parse


def _strptime(fmt: str) -> Callable[[str], dt.datetime | None]:
    def parse(text: str) -> dt.datetime | None:
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            return None

    return parse


def _date_converter(formats: tuple[str, ...], kind: FieldKind) -> Converter:
    parsers = [_compiled(fmt) for fmt in formats]
    midnight = dt.time()

    def convert(text: Any) -> Any:
        if type(text) is not str:
            return text
        stripped = text.strip()
        for parse in parsers:
            found = parse(stripped)
            if found is not None:
                if kind == "date" and found.time() == midnight:
                    return found.date().isoformat()
                return found.isoformat()  # a date with a time of day: pydantic says so
        return text  # ISO 8601, or pydantic's refusal naming the formats (see messages)

    return convert


# -- booleans ---------------------------------------------------------------------------------


def _bool_converter(true_words: tuple[str, ...], false_words: tuple[str, ...]) -> Converter:
    table = {w.strip().lower(): "true" for w in true_words}
    table.update((w.strip().lower(), "false") for w in false_words)
    get = table.get

    def convert(text: Any) -> Any:
        if type(text) is not str:
            return text
        return get(text.strip().lower(), text.strip())

    return convert


__all__ = [
    "CellConverters",
    "Locale",
    "Refused",
    "cell_converters",
    "date_example",
    "field_kind",
    "locale_for",
    "number_pattern",
]
