"""Reading numbers, dates and booleans as a file's locale writes them, before validation.

A European Excel writes ``963,16`` and ``31/12/2024``; pydantic reads neither.
A :class:`Locale` (declared on the type, overridden per run by the read
options) says how such cells are written, and :func:`cell_converters` turns it
into one converter per file column whose field it concerns, built once per
chunk (and cached). Cells are then rewritten into what pydantic reads
(``963.16``, a ``date``, ``True``) and validated as usual, so every check and
message of the row model still applies. A value that would be *misread* (with a
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
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from jobport.errors import InputError, shown
from jobport.formats.base import ReadOptions

#: What a field holds, as far as a locale is concerned.
FieldKind = Literal["int", "number", "date", "datetime", "bool"]

#: A cell's text in, the value pydantic reads out (raises :class:`Refused`).
Converter = Callable[[str], Any]

#: Spaces that French and other locales put between thousands (plain, no-break, narrow).
_SPACES = " \u00a0\u202f"


class Refused(Exception):
    """A cell a locale would misread: the row fails with this, never with a guess."""

    def __init__(self, type: str, message: str, ctx: dict[str, Any]) -> None:
        super().__init__(message)
        self.type = type
        self.message = message
        self.ctx = ctx


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
class CellConverters:
    """The converters of one chunk's columns: (cell index, field name, converter)."""

    cells: tuple[tuple[int, str, Converter], ...]

    def records(self, inputs: list[Any], width: int) -> list[Any]:
        """Records with their cells converted (copies); a refused record becomes None.

        None is what the batch validator turns away: the row is then checked on
        its own, where the refusal becomes its failure (see :meth:`values`).
        """
        cells = self.cells
        out: list[Any] = []
        append = out.append
        for record in inputs:
            if type(record) is list and len(record) == width:
                record = record.copy()
                try:
                    for index, _, convert in cells:
                        value = record[index]
                        if type(value) is str:
                            record[index] = convert(value)
                except Refused:
                    record = None
            append(record)
        return out

    def values(self, data: dict[str, Any]) -> dict[str, Refused] | None:
        """Convert a row's field values in place; the refused ones become None and are
        returned by field (None when nothing was refused)."""
        refused: dict[str, Refused] | None = None
        for _, name, convert in self.cells:
            value = data[name]
            if type(value) is str:
                try:
                    data[name] = convert(value)
                except Refused as why:
                    data[name] = None
                    refused = refused or {}
                    refused[name] = why
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
    cells: list[tuple[int, str, Converter]] = []
    for index, name in columns:
        kind = field_kind(row.model_fields[name])
        convert = converter(locale, kind) if kind is not None else None
        if convert is not None:
            cells.append((index, name, convert))
    return CellConverters(tuple(cells)) if cells else None


def converter(locale: Locale, kind: FieldKind) -> Converter | None:
    """The converter of one kind of field under ``locale``, or None if it reads as is."""
    if kind in ("int", "number"):
        return _number_converter(locale) if locale.reads_numbers else None
    if kind in ("date", "datetime"):
        return _date_converter(locale.date_formats, kind) if locale.date_formats else None
    if locale.true_words or locale.false_words:
        return _bool_converter(locale.true_words, locale.false_words)
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


def _number_converter(locale: Locale) -> Converter:
    decimal = locale.decimal or "."
    pattern = number_pattern(decimal, locale.thousands)
    match = pattern.match
    ctx = {"decimal": decimal, "thousands": locale.thousands}
    removed = _SPACES if locale.thousands == " " else locale.thousands or ""
    separators = str.maketrans("", "", removed)

    def convert(text: str) -> Any:
        found = match(text)
        if found is not None:
            sign, whole, fraction = found.groups()
            if whole is None and fraction is None:
                return text  # blank or a bare sign: pydantic's to say
            digits = whole.translate(separators) if whole else "0"
            return f"{sign}{digits}.{fraction}" if fraction is not None else f"{sign}{digits}"
        if "." in text and decimal != ".":
            # pydantic would read this point as a decimal point: 1.500 as one and a half.
            written = shown(text.strip(), 60)
            raise Refused(
                "number_ambiguous_point",
                f"'{written}' is not a number as this import reads them: '{decimal}' before "
                f"the decimals, '.' only between groups of three digits"
                if locale.thousands == "."
                else f"'{written}' holds a '.', but this import reads '{decimal}' as the "
                "decimal separator; if '.' separates thousands, import with thousands='.'",
                ctx,
            )
        return text  # not a number as written here: pydantic refuses it with its reason

    return convert


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

    def convert(text: str) -> Any:
        stripped = text.strip()
        for parse in parsers:
            found = parse(stripped)
            if found is not None:
                if kind == "date" and found.time() == midnight:
                    return found.date()
                return found  # a datetime, or a date with a time (pydantic says so)
        return text  # ISO 8601, or pydantic's refusal naming the formats (see messages)

    return convert


# -- booleans ---------------------------------------------------------------------------------


def _bool_converter(true_words: tuple[str, ...], false_words: tuple[str, ...]) -> Converter:
    table = {w.strip().lower(): True for w in true_words}
    table.update((w.strip().lower(), False) for w in false_words)
    get = table.get

    def convert(text: str) -> Any:
        return get(text.strip().lower(), text)

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
