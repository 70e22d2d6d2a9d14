"""The dashboard's preview: the first rows of an upload validated, nothing written.

It refuses what planning the import would refuse, with the same limits and
errors, and validates its rows as the run's chunks do (the same read options,
locale, field limits and encoding), so what the preview accepts the import
accepts. It also says what it noticed: the encoding the file was read in, and
read options its rows suggest (a decimal comma, day-first dates), in words."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from jobport.errors import InputError, shown
from jobport.formats.base import ReadOptions, Record, discard
from jobport.kinds.base import PlanRequest
from jobport.kinds.columns import ignored_columns
from jobport.kinds.imports import (
    importer_of,
    layout_of,
    open_file,
    target_capacity,
)
from jobport.kinds.locale import FieldKind, Locale, field_kind, locale_for
from jobport.kinds.messages import (
    DAY_OR_MONTH_FIRST,
    DECIMAL_COMMA,
    FALSE_WORDS,
    GROUPED,
    TRUE_WORDS,
    date_format_hint,
)
from jobport.kinds.validation import raw_values, validate_records


@dataclass(frozen=True)
class PreviewRow:
    line: int
    values: dict[str, Any]
    #: Column name -> message, for each cell that failed validation.
    errors: dict[str, str]

    @property
    def valid(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class Preview:
    header: list[str]
    #: The header columns that feed a row field (the others are ignored).
    used_columns: list[str]
    rows: list[PreviewRow]
    #: The header columns that feed no field, named so nobody thinks they were imported.
    ignored_columns: list[str] = dataclasses.field(default_factory=list)
    #: What the run would say of the file (ignored columns), in words.
    warnings: list[str] = dataclasses.field(default_factory=list)
    #: A workbook's sheets in tab order, the one read, and the row its header is on.
    sheets: list[str] = dataclasses.field(default_factory=list)
    sheet: str | None = None
    header_row: int | None = None
    #: The encoding a text file was read in (None for other formats), and whether it
    #: was detected (the file is not UTF-8 and no encoding was given).
    encoding: str | None = None
    encoding_detected: bool = False
    #: Read options the rows suggest, in words ("balance looks like decimal-comma
    #: numbers (963,16): import with decimal=','").
    hints: list[str] = dataclasses.field(default_factory=list)


def preview_import(request: PlanRequest, *, limit: int = 20) -> Preview:
    """Validate the first ``limit`` rows of a file without writing anything (a dry run).

    Raises the same errors as planning the real import would (format, header,
    missing columns), so what the preview accepts the import accepts. No run
    follows a preview, so the scratch files of its preparation are discarded.
    """
    scratch: list[str] = []
    try:
        return _preview(request, limit, scratch)
    finally:
        discard(request.files, scratch)


def _preview(request: PlanRequest, limit: int, scratch: list[str]) -> Preview:
    importer = importer_of(request)
    if request.source_key is None:
        raise InputError("a preview needs a file")
    opened = open_file(request, importer, scratch)
    reader, prepared, mapping = opened.reader, opened.prepared, opened.mapping
    read = ReadOptions.checked(request.read)
    preview = Preview(
        prepared.header,
        [prepared.header[i].strip() for i, _ in mapping],
        [],
        ignored_columns(prepared.header, mapping),
        opened.placed.warnings(request.job_type.type),  # the run's own words
        sheets=list(prepared.params.get("sheets", [])),
        sheet=prepared.params.get("sheet"),
        header_row=prepared.params.get("header_row"),
        encoding=prepared.params.get("file_encoding"),
        encoding_detected=bool(prepared.params.get("encoding_detected")),
    )
    first = next(iter(reader.plan(request.files, prepared, limit)), None)
    if first is None:
        return preview
    records = list(reader.read(request.files, prepared.source_key, layout_of(prepared), first))
    records = records[:limit]
    table = request.job_type.table
    capacity = (
        target_capacity(importer, table, request.database.dialect.name)
        if table is not None
        else None
    )
    table_columns = (
        [c.name for c in table.c] if table is not None else list(importer.row.model_fields)
    )
    for line, record in records:
        _, _, failures = validate_records(
            [(line, record)],
            prepared.header,
            mapping,
            importer,
            table_columns,
            capacity=capacity,
            read=read,
        )
        values = raw_values(prepared.header, record) if type(record) is list else {}
        errors: dict[str, str] = {}
        for failure in failures:
            if failure.errors:
                for error in failure.errors:
                    errors.setdefault(error["column"], error["message"])
            else:
                errors[failure.column or ""] = failure.message
        preview.rows.append(PreviewRow(line, values, errors))
    locale = locale_for(importer.locale, read)
    preview.hints.extend(locale_hints(records, prepared.header, mapping, importer.row, locale))
    return preview


#: Most hints a preview gives (one per column at most).
MAX_HINTS = 10

#: Words for yes and no that pydantic does not read, and the other of each pair.
_BOOLEAN_PAIRS = {
    "oui": "non",
    "ja": "nein",
    "si": "no",
    "sí": "no",
    "sim": "não",
    "tak": "nie",
    "ano": "ne",
    "igen": "nem",
    "kyllä": "ei",
    "vrai": "faux",
    "wahr": "falsch",
    "waar": "onwaar",
    "vero": "falso",
    "verdadero": "falso",
    "да": "нет",
}
_TRUE_OF = {no: yes for yes, no in reversed(_BOOLEAN_PAIRS.items())}
_BOOLEAN_WORDS = {*_BOOLEAN_PAIRS, *_BOOLEAN_PAIRS.values()}


def locale_hints(
    records: list[Record],
    header: list[str],
    mapping: list[list[Any]],
    row: type[BaseModel],
    locale: Locale | None,
) -> list[str]:
    """The read options the rows suggest, one hint per column at most, in words.

    Only what the run's locale does not already read: a decimal comma, a
    thousands point in whole numbers (which pydantic would read as a decimal
    point: ``1.000`` as one), day-first or month-first dates, yes/no words of
    another language.
    """
    hints: list[str] = []
    for index, field in mapping:
        kind = field_kind(row.model_fields[field])
        if kind is None:
            continue
        values = [
            cells[index].strip()
            for _, cells in records
            if type(cells) is list and index < len(cells) and isinstance(cells[index], str)
        ]
        hint = _column_hint(kind, [value for value in values if value], locale)
        if hint is not None:
            hints.append(f"{shown(header[index].strip())} {hint}")
    return hints[:MAX_HINTS]


def _column_hint(kind: FieldKind, values: list[str], locale: Locale | None) -> str | None:
    if not values:
        return None
    if kind in ("int", "number"):
        return _number_hint(kind, values, locale)
    if kind in ("date", "datetime"):
        if locale is not None and locale.date_formats:
            return None  # the run's formats decide; a value none reads says so itself
        return _date_hint(values)
    return _boolean_hint(values, locale)


def _number_hint(kind: FieldKind, values: list[str], locale: Locale | None) -> str | None:
    decimal = (locale.decimal if locale else None) or "."
    thousands = locale.thousands if locale else None
    if decimal != ",":
        comma = [
            found
            for value in values
            if (found := DECIMAL_COMMA.match(value)) is not None
            and not (GROUPED.match(value) and "," in value)  # 1,234: either way
        ]
        if comma:
            groups = {found.group(1) for found in comma} - {None}
            option = "decimal=','" + (
                " and thousands='.'" if "." in groups else " and thousands=' '" if groups else ""
            )
            example = shown(comma[0].string.strip(), 30)
            return f"looks like decimal-comma numbers ({example}): import with {option}"
    if thousands is None and kind == "int":
        grouped = next((found for value in values if (found := GROUPED.match(value))), None)
        if grouped is not None:
            separator = grouped.group(1)
            option = f"thousands='{separator}'" + (" and decimal=','" if separator == "." else "")
            return (
                f"looks like whole numbers with '{separator}' between thousands "
                f"({shown(grouped.string.strip(), 30)}): import with {option}"
            )
    return None


def _date_hint(values: list[str]) -> str | None:
    found = [m for value in values if (m := DAY_OR_MONTH_FIRST.match(value)) is not None]
    if not found:
        return None
    separator = found[0].group(2)
    day_first = next((m for m in found if int(m.group(1)) > 12), None)
    month_first = next((m for m in found if int(m.group(3)) > 12), None)
    if day_first is not None and month_first is None:
        example = shown(day_first.string.strip(), 30)
        return (
            f"looks like day-first dates ({example}): import with "
            f"date_format='%d{separator}%m{separator}%Y'"
        )
    if month_first is not None and day_first is None:
        example = shown(month_first.string.strip(), 30)
        return (
            f"looks like month-first dates ({example}): import with "
            f"date_format='%m{separator}%d{separator}%Y'"
        )
    hint = date_format_hint(found[0].string)
    return f"holds dates such as {shown(found[0].string.strip(), 30)}: {hint}" if hint else None


def _boolean_hint(values: list[str], locale: Locale | None) -> str | None:
    known = {*TRUE_WORDS, *FALSE_WORDS, "t", "f", "y", "n"}
    if locale is not None:
        known |= {w.strip().lower() for w in (*locale.true_words, *locale.false_words)}
    foreign = sorted(({value.lower() for value in values} - known) & _BOOLEAN_WORDS)
    if not foreign:
        return None
    word = foreign[0]
    yes = word if word in _BOOLEAN_PAIRS else _TRUE_OF[word]
    no = _BOOLEAN_PAIRS[yes]
    return (
        f"holds yes/no words jobport does not read ({shown(word, 20)}): import with "
        f"true_words='{yes}' and false_words='{no}'"
    )
