"""Form fields generated from a job type's options schema, and the values read back.

The registry already describes each type's options as JSON Schema (the
pydantic model's ``model_json_schema()``), the same description the API
publishes; the dashboard builds its forms from it so a new option never
needs a template change. Only what HTML forms can carry is mapped:

- ``boolean``: a checkbox; an optional boolean (``true``/``false``/unset, a
  filter such as "active") is a select with "any", "yes" and "no";
- ``integer``/``number``: a number input with the schema's bounds;
- ``string`` with ``format: date`` / ``date-time``: a date / datetime input;
- ``enum`` (inline or through ``$ref``): a select;
- other strings: a text input; anything else: a JSON text area.

An empty field means "not given", so the option keeps its default.
Validation stays with the type's pydantic model: :func:`validate` maps its
errors back onto the fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from jobport.errors import InputError
from jobport.formats import FORMATS

#: Prefix of the form names of options (they cannot clash with type, format, file, ...).
PREFIX = "option."

Widget = Literal["text", "number", "date", "datetime-local", "checkbox", "select", "json"]


@dataclass
class FormField:
    """One input of an options form, ready for the template."""

    name: str
    label: str
    widget: Widget
    required: bool = False
    description: str = ""
    value: str = ""
    checked: bool = False
    choices: list[tuple[str, str]] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def input_name(self) -> str:
        return PREFIX + self.name

    @property
    def input_id(self) -> str:
        return "opt-" + self.name.replace("_", "-")


def form_fields(
    schema: Mapping[str, Any],
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> list[FormField]:
    """The fields of an options schema, filled with submitted ``values`` (form names)."""
    values = values or {}
    errors = errors or {}
    required = set(schema.get("required", ()))
    out = []
    for name, prop in (schema.get("properties") or {}).items():
        built = _field(name, _resolve(schema, prop), name in required)
        submitted = values.get(PREFIX + name)
        if built.widget == "checkbox":
            built.checked = submitted is not None if values else bool(prop.get("default", False))
        elif submitted is not None:
            built.value = submitted
        elif prop.get("default") is not None:
            built.value = _text(prop["default"])
        built.error = errors.get(name)
        out.append(built)
    return out


def read_options(schema: Mapping[str, Any], form: Mapping[str, str]) -> dict[str, Any]:
    """The options a submitted form gives, as JSON values (empty fields left out)."""
    options: dict[str, Any] = {}
    required = set(schema.get("required", ()))
    for name, prop in (schema.get("properties") or {}).items():
        spec = _field(name, _resolve(schema, prop), name in required)
        raw = form.get(PREFIX + name)
        if spec.widget == "checkbox":
            options[name] = raw is not None
            continue
        if raw is None or raw.strip() == "":
            continue
        raw = raw.strip()
        options[name] = _convert(spec, _resolve(schema, prop), raw)
    return options


def validate(model: type[BaseModel], options: dict[str, Any]) -> dict[str, str]:
    """Errors of ``options`` by option name ("" for the form as a whole); empty if valid."""
    try:
        model.model_validate(options)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors(include_url=False):
            loc = error.get("loc", ())
            key = str(loc[0]) if loc else ""
            errors.setdefault(key, str(error.get("msg", "invalid")))
        return errors
    return {}


def missing_extra(fmt: str) -> str | None:
    """The optional extra ``fmt`` needs and this server lacks; None when it can be used.

    A form must not offer a format whose reader or writer cannot load: the user
    would only learn it from a failed run.
    """
    spec = FORMATS.get(fmt)
    return spec.missing_extra() if spec is not None else None


def usable_formats(formats: Iterable[str]) -> list[str]:
    """The formats this server can read and write, in the type's order."""
    return [f for f in formats if missing_extra(f) is None]


def missing_extras(formats: Iterable[str]) -> list[tuple[str, str]]:
    """(format, extra) of each of ``formats`` this server cannot use, for the form to say."""
    return [(f, extra) for f in formats if (extra := missing_extra(f)) is not None]


def require_format(fmt: str | None, formats: Iterable[str]) -> None:
    """Refuse a format that is not the type's, or whose extra is missing, in a sentence."""
    if fmt is None:
        return
    formats = list(formats)
    if fmt not in formats:
        raise InputError(f"choose one of the formats: {', '.join(usable_formats(formats))}")
    extra = missing_extra(fmt)
    if extra is not None:
        raise InputError(
            f"{fmt.upper()} files need the '{extra}' extra on this server "
            f"(pip install 'jobport[{extra}]'); choose another format"
        )


# -- mapping ------------------------------------------------------------------------------------


def _field(name: str, prop: Mapping[str, Any], required: bool) -> FormField:
    nullable, kind, fmt = _shape(prop)
    label = str(prop.get("title") or name.replace("_", " ").capitalize())
    built = FormField(name, label, "text", required, str(prop.get("description") or ""))
    enum = prop.get("enum")
    if enum:
        built.widget = "select"
        built.choices = ([("", "—")] if nullable or not required else []) + [
            (_text(v), _text(v)) for v in enum if v is not None
        ]
    elif kind == "boolean":
        if nullable:
            built.widget = "select"
            built.choices = [("", "Any"), ("true", "Yes"), ("false", "No")]
        else:
            built.widget = "checkbox"
    elif kind in ("integer", "number"):
        built.widget = "number"
        built.attrs["step"] = "1" if kind == "integer" else "any"
        for key, attr in (("minimum", "min"), ("maximum", "max")):
            if key in prop:
                built.attrs[attr] = _text(prop[key])
        built.attrs["inputmode"] = "numeric" if kind == "integer" else "decimal"
    elif kind == "string" and fmt == "date":
        built.widget = "date"
    elif kind == "string" and fmt == "date-time":
        built.widget = "datetime-local"
    elif kind == "string" or kind is None:
        if "maxLength" in prop:
            built.attrs["maxlength"] = _text(prop["maxLength"])
        if "pattern" in prop:
            built.attrs["pattern"] = str(prop["pattern"])
    else:
        built.widget = "json"
    return built


def _shape(prop: Mapping[str, Any]) -> tuple[bool, str | None, str | None]:
    """Whether ``null`` is allowed, and the JSON type and format of the non-null branch."""
    options = prop.get("anyOf") or prop.get("oneOf")
    if options:
        nullable = any(o.get("type") == "null" for o in options)
        rest = [o for o in options if o.get("type") != "null"]
        if len(rest) == 1:
            _, kind, fmt = _shape(rest[0])
            return nullable, kind, fmt
        return nullable, None, None
    kind = prop.get("type")
    if isinstance(kind, list):
        nullable = "null" in kind
        others = [k for k in kind if k != "null"]
        return nullable, others[0] if len(others) == 1 else None, prop.get("format")
    return False, kind, prop.get("format")


def _resolve(schema: Mapping[str, Any], prop: Mapping[str, Any]) -> dict[str, Any]:
    """``prop`` with local ``$ref``s (pydantic puts enums in ``$defs``) merged in."""
    out = dict(prop)
    ref = out.pop("$ref", None)
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        out = {**(schema.get("$defs") or {}).get(ref.rsplit("/", 1)[1], {}), **out}
    for key in ("anyOf", "oneOf"):
        if key in out:
            out[key] = [_resolve(schema, option) for option in out[key]]
            enums = [o for o in out[key] if "enum" in o]
            if len(enums) == 1 and "enum" not in out:
                out["enum"] = enums[0]["enum"]
    return out


def _convert(spec: FormField, prop: Mapping[str, Any], raw: str) -> Any:
    """A form string as the JSON value the schema expects; left as text when it is not one."""
    _, kind, _ = _shape(prop)
    if spec.widget == "select" and kind == "boolean":
        return raw == "true"
    if spec.widget == "number":
        try:
            return int(raw) if kind == "integer" else float(raw)
        except ValueError:
            return raw  # the model's error then says what is expected
    if spec.widget == "json":
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    if spec.widget == "select" and prop.get("enum"):
        for value in prop["enum"]:
            if _text(value) == raw:
                return value
    return raw


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
