"""A file to fill in for an import type: its columns in the row model's order, and a row
that imports as it is.

The example row comes from the row model: a field's own examples
(``Field(examples=[...])`` or ``json_schema_extra={"examples": [...]}``) where
it gives them, else a placeholder of its type that meets its bounds (a date is
2024-12-31, a boolean true, a number 0 or its minimum, text made of its name,
the first of its allowed values). A field with a pattern or a validator of its
own should give an example: no placeholder can guess one.

CSV is the header and the example row, nothing else, so that the file imports
as it is. XLSX adds what CSV cannot say: required columns are bold, marked
with a fill and a comment, every header cell has a comment with the field's
description and type, and a second sheet, "About", lists them. The first
sheet is the data's, so the import reads it without ``--sheet``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from jobport.errors import InputError, JobportError, listed
from jobport.formats import FORMATS
from jobport.formats.cells import neutralise
from jobport.registry import JobType

#: The formats a template comes in.
TEMPLATE_FORMATS = ("csv", "xlsx")

#: Placeholders of the string formats of JSON Schema.
_FORMATTED = {
    "date": "2024-12-31",
    "date-time": "2024-12-31T12:00:00",
    "time": "12:00:00",
    "email": "name@example.com",
    "uuid": "123e4567-e89b-42d3-a456-426614174000",
    "uri": "https://example.com/",
    "duration": "P1D",
}
#: How the About sheet names a JSON Schema type (and string format).
_WORDS = {
    "integer": "whole number",
    "number": "number",
    "boolean": "true or false",
    "string": "text",
    "date": "date (YYYY-MM-DD)",
    "date-time": "date and time (YYYY-MM-DDTHH:MM:SS)",
    "time": "time (HH:MM:SS)",
    "email": "e-mail address",
    "uuid": "UUID",
    "uri": "URL",
}


class TemplateNotFound(JobportError):
    """There is no template of this type: it is not an import, or not one the caller may start."""

    status_code = 404
    title = "No such template"


@dataclass(frozen=True)
class TemplateColumn:
    """One column of a template: a field of the row model, as a person filling it needs it."""

    name: str
    required: bool
    #: What the field holds, in words ("whole number, at least 1").
    kind: str
    description: str
    #: The example row's value (a JSON value; None leaves the cell empty).
    example: Any
    #: The JSON Schema format of a string field ("date", "date-time", ...), if any.
    format: str | None = None


@dataclass(frozen=True)
class Template:
    """A template file, ready to send: small enough to hold (one header, one row)."""

    filename: str
    media_type: str
    content: bytes


def build_template(job_type: JobType, fmt: str) -> Template:
    """The template of an import type in ``fmt`` (csv or xlsx, and one the type takes)."""
    row = job_type.row_schema
    if job_type.kind != "import" or row is None:
        kind = job_type.kind
        what = f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind} type"
        if kind == "import":
            what = "an import type without a row model"
        raise TemplateNotFound(f"'{job_type.type}' is {what}: only import types have a template")
    fmt = fmt.strip().lower()
    if fmt not in TEMPLATE_FORMATS:
        raise InputError(f"a template comes as {' or '.join(TEMPLATE_FORMATS)}, not '{fmt[:20]}'")
    if fmt not in job_type.formats:
        offered = [f for f in TEMPLATE_FORMATS if f in job_type.formats]
        raise InputError(
            f"'{job_type.type}' takes {listed(job_type.formats)} files; its template comes as "
            f"{' or '.join(offered) if offered else 'none of ' + ', '.join(TEMPLATE_FORMATS)}"
        )
    columns = template_columns(row)
    content = csv_template(columns) if fmt == "csv" else xlsx_template(job_type.label, columns)
    return Template(f"{job_type.type}-template.{fmt}", FORMATS.media_type(fmt), content)


def template_columns(row: type[BaseModel]) -> list[TemplateColumn]:
    """The row model's fields in order, each with its kind in words and an example."""
    schema = row.model_json_schema(mode="validation")
    definitions = schema.get("$defs", {})
    properties = schema.get("properties", {})
    columns = []
    for name, info in row.model_fields.items():
        prop = _resolved(properties.get(info.alias or name, properties.get(name, {})), definitions)
        columns.append(
            TemplateColumn(
                name=name,
                required=info.is_required(),
                kind=_kind(prop),
                description=info.description or "",
                example=_example(name, prop),
                format=prop.get("format") if prop.get("type") == "string" else None,
            )
        )
    return columns


def _resolved(prop: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """A property's own schema: a reference followed, an optional's null left out (its
    examples and description kept)."""
    if "$ref" in prop:
        target = definitions.get(prop["$ref"].rsplit("/", 1)[-1], {})
        prop = {**target, **{k: v for k, v in prop.items() if k != "$ref"}}
    options = [o for o in prop.get("anyOf", []) if o.get("type") != "null"]
    if options:
        inner = _resolved(options[0], definitions)
        prop = {**inner, **{k: v for k, v in prop.items() if k != "anyOf"}}
    return prop


def _example(name: str, prop: dict[str, Any]) -> Any:
    """The field's first example, else a placeholder of its type within its bounds."""
    if prop.get("examples"):
        examples = prop["examples"]
        return examples[0] if isinstance(examples, list) else examples
    if "const" in prop:
        return prop["const"]
    if prop.get("enum"):
        return prop["enum"][0]
    kind = prop.get("type")
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        return _number(prop, kind == "integer")
    if kind == "string":
        if prop.get("format") in _FORMATTED:
            return _FORMATTED[prop["format"]]
        text = name.replace("_", " ").strip().capitalize() or "text"
        short, long = int(prop.get("minLength", 0)), prop.get("maxLength")
        text = text.ljust(short, "x")
        return text[: int(long)] if long is not None else text
    return None


def _number(prop: dict[str, Any], integer: bool) -> int | float:
    """0, moved into the field's bounds (the least value they allow)."""
    value: int | float = 0
    step = 1 if integer else 0.5
    if "minimum" in prop:
        value = max(value, prop["minimum"])
    if "exclusiveMinimum" in prop and value <= prop["exclusiveMinimum"]:
        value = prop["exclusiveMinimum"] + step
    if "maximum" in prop:
        value = min(value, prop["maximum"])
    if "exclusiveMaximum" in prop and value >= prop["exclusiveMaximum"]:
        value = prop["exclusiveMaximum"] - step
    return int(value) if integer and float(value).is_integer() else value


def _kind(prop: dict[str, Any]) -> str:
    """What a field holds, in words, with its bounds."""
    if prop.get("enum"):
        return "one of: " + ", ".join(str(v) for v in prop["enum"][:20])
    kind = str(prop.get("type", "string"))
    words = [_WORDS.get(prop.get("format", ""), _WORDS.get(kind, kind))]
    for key, say in (
        ("minimum", "at least"),
        ("exclusiveMinimum", "over"),
        ("maximum", "at most"),
        ("exclusiveMaximum", "under"),
        ("minLength", "at least {} character"),
        ("maxLength", "at most {} character"),
    ):
        if key in prop:
            plural = "s" if "{}" in say and prop[key] != 1 else ""
            words.append(say.format(prop[key]) + plural if "{}" in say else f"{say} {prop[key]}")
    return ", ".join(words)


def cell_text(value: Any) -> str:
    """A JSON value as a CSV cell holds it (and as the import reads it back)."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    return neutralise(str(value))


def csv_template(columns: Sequence[TemplateColumn]) -> bytes:
    """The header and the example row, as UTF-8 CSV."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([column.name for column in columns])
    writer.writerow([cell_text(column.example) for column in columns])
    return out.getvalue().encode("utf-8")


def xlsx_template(label: str, columns: Sequence[TemplateColumn]) -> bytes:
    """The data sheet (styled header with comments, the example row) and the About sheet."""
    import xlsxwriter  # type: ignore[import-untyped]

    out = io.BytesIO()
    book = xlsxwriter.Workbook(
        out,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    header = book.add_format({"bold": True, "bottom": 1})
    required = book.add_format({"bold": True, "bottom": 1, "bg_color": "#FFF2CC"})
    dates = {
        "date": book.add_format({"num_format": "yyyy-mm-dd"}),
        "date-time": book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
    }
    sheet = book.add_worksheet(_sheet_name(label))
    for col, column in enumerate(columns):
        sheet.write_string(0, col, column.name, required if column.required else header)
        note = f"{'Required' if column.required else 'Optional'}: {column.kind}."
        if column.description:
            note += f"\n{column.description}"
        sheet.write_comment(0, col, note, {"x_scale": 2, "y_scale": 1.5})
        sheet.set_column(col, col, max(12, min(40, len(column.name) + 4)))
        _write_example(sheet, col, column, dates)
    sheet.freeze_panes(1, 0)
    _about_sheet(book, label, columns, header)
    book.close()
    return out.getvalue()


def _write_example(sheet: Any, col: int, column: TemplateColumn, dates: dict[str, Any]) -> None:
    """The example value in its own type: a number, a boolean, a date, or text."""
    value = column.example
    if value is None:
        return
    if value is True or value is False:
        sheet.write_boolean(1, col, value)
    elif isinstance(value, int | float):
        sheet.write_number(1, col, value)
    elif column.format in dates and isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            sheet.write_string(1, col, cell_text(value))
        else:
            sheet.write_datetime(1, col, moment, dates[column.format])
    else:
        sheet.write_string(1, col, cell_text(value))


def _sheet_name(label: str) -> str:
    """The data sheet's name: the type's label as a sheet may be named, else "Data"."""
    name = label.translate(str.maketrans("[]:*?/\\", "       ")).strip(" '")[:31].strip()
    return name if name and name.lower() != "about" else "Data"


def _about_sheet(book: Any, label: str, columns: Sequence[TemplateColumn], bold: Any) -> None:
    about = book.add_worksheet("About")
    about.write_string(0, 0, f"{label}: one row per record on the first sheet", bold)
    about.write_row(2, 0, ["Column", "Required", "Holds", "Description"], bold)
    for number, column in enumerate(columns, start=3):
        about.write_row(
            number,
            0,
            [column.name, "yes" if column.required else "no", column.kind, column.description],
        )
    about.set_column(0, 0, 20)
    about.set_column(2, 2, 36)
    about.set_column(3, 3, 60)
