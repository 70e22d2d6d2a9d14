"""Validate a whole chunk of records in one call into pydantic-core.

Validating row by row costs, for every row, a Python call into the validator,
a dict built from the record and the loop around both: more than the field
checks themselves. Here the row model's own field schemas are laid out as one
tuple schema in the file's column order, and the chunk's records (already
lists) go through a single list validator: the same checks, run in Rust, with
no per-row Python on the way.

Exactness is kept by construction. Each item is ``tuple | anything``: a record
the fast schema accepts comes back as a tuple of validated values; any other
record comes back as it was, and the caller validates that one row again with
the model's usual validator, which gives the real values or the real error
messages. So the fast schema only ever has to agree with the model on what it
*accepts*; everything else is decided by the model itself. Models the fast
schema cannot mirror faithfully (model validators, validators that read other
fields, nested models, strict mode, computed defaults) get ``None`` and keep
the per-row path.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined, SchemaValidator, core_schema

#: Core schema types that only make sense inside their model (references to shared
#: definitions, nested models and the like): a model using them keeps the per-row path.
_UNMIRRORED = frozenset(
    {
        "definitions",
        "definition-ref",
        "model",
        "model-fields",
        "dataclass",
        "dataclass-args",
        "typed-dict",
        "call",
        "arguments",
        "arguments-v3",
    }
)


@dataclass(frozen=True)
class BatchValidator:
    """Validates a list of records; each item is a tuple of values, or the record unchanged."""

    validate_list: Callable[[list[Any]], list[Any]]
    #: Values of the model's fields that no column feeds, in ``default_fields`` order.
    defaults: tuple[Any, ...]
    default_fields: tuple[str, ...]


def model_fields_schema(row: type[BaseModel]) -> tuple[dict[str, Any], Any] | None:
    """The model's fields schema and config when the model is plain fields.

    Plain means no model-level validators, no custom initialiser or
    ``model_post_init``, no computed fields: validating the fields *is*
    validating the model.
    """
    schema: Any = row.__pydantic_core_schema__
    plain = (
        not row.__pydantic_decorators__.model_validators
        and row.model_post_init is BaseModel.model_post_init
        and row.__init__ is BaseModel.__init__
        and not row.model_computed_fields
        and schema.get("type") == "model"
        and schema["schema"].get("type") == "model-fields"
    )
    if not plain:
        return None
    return schema["schema"], schema.get("config")


def batch_validator(
    row: type[BaseModel], width: int, columns: Sequence[Sequence[Any]]
) -> BatchValidator | None:
    """A chunk validator for records of ``width`` cells, ``columns`` pairing cell and field.

    None when the model cannot be mirrored exactly (see the module's docstring).
    """
    return _cached(row, width, tuple((int(index), str(name)) for index, name in columns))


@lru_cache(maxsize=64)
def _cached(
    row: type[BaseModel], width: int, columns: tuple[tuple[int, str], ...]
) -> BatchValidator | None:
    found = model_fields_schema(row)
    if found is None:
        return None
    fields_schema, config = found
    if config and config.get("strict"):
        return None  # strict tuples refuse the lists that records are
    fields: Mapping[str, Any] = fields_schema["fields"]
    items: list[Any] = [core_schema.any_schema() for _ in range(width)]
    for index, name in columns:
        item = _unwrap_default(fields[name]["schema"])
        if not _mirrorable(item):
            return None
        items[index] = _faster(item)
    fed = {name for _, name in columns}
    default_fields = tuple(name for name in row.model_fields if name not in fed)
    defaults = []
    for name in default_fields:
        info = row.model_fields[name]
        if info.default_factory is not None or info.validate_default:
            return None  # a value per row, or a validated one: the model's own path
        if info.default is PydanticUndefined:
            return None  # a required field with no column is refused when planning
        defaults.append(info.default)
    each = core_schema.union_schema(
        [core_schema.tuple_schema(items), core_schema.any_schema()], mode="left_to_right"
    )
    validator = SchemaValidator(core_schema.list_schema(each), config)
    return BatchValidator(validator.validate_python, tuple(defaults), default_fields)


#: Core schema types whose validated values are always of exactly this Python type.
_OUTPUT_TYPES: dict[str, type] = {
    "int": int,
    "str": str,
    "float": float,
    "bool": bool,
    "date": datetime.date,
    "decimal": Decimal,
}


@lru_cache(maxsize=64)
def field_value_types(row: type[BaseModel]) -> Mapping[str, frozenset[type]]:
    """Field name -> the types its validated values can have (None aside), where certain.

    Certain means the field is a plain int, str, float, bool, date or Decimal,
    possibly nullable, with no validator function of the model's own, and a
    default (if any) of that type: the bulk writer then need not look at the
    type of every value. Other fields are left out and get looked at.
    """
    fields_schema = model_fields_schema(row)
    if fields_schema is None:
        return {}
    out: dict[str, frozenset[type]] = {}
    for name, field in fields_schema[0]["fields"].items():
        schema = _unwrap_default(field["schema"])
        if schema.get("type") == "nullable":
            schema = schema["schema"]
        kind = _OUTPUT_TYPES.get(schema.get("type", ""))
        info = row.model_fields.get(name)
        if kind is None or info is None or info.default_factory is not None:
            continue
        default = info.default
        if default is PydanticUndefined or default is None or type(default) is kind:
            out[name] = frozenset({kind})
    return out


def _unwrap_default(schema: dict[str, Any]) -> dict[str, Any]:
    """A field's schema without its default: a column feeds the field on every row."""
    if schema.get("type") == "default":
        inner: dict[str, Any] = schema["schema"]
        return inner
    return schema


def _mirrorable(schema: Any) -> bool:
    return all(
        node.get("type") not in _UNMIRRORED and "ref" not in node and not _reads_other_fields(node)
        for node in _nodes(schema)
    )


def _reads_other_fields(node: dict[str, Any]) -> bool:
    """A validator given ``info`` may read ``info.data``, which only a model fills in."""
    function = node.get("function")
    return isinstance(function, dict) and function.get("type") == "with-info"


def _nodes(schema: Any) -> Iterator[dict[str, Any]]:
    if isinstance(schema, dict):
        if "type" in schema:
            yield schema
        for key, value in schema.items():
            if key not in ("metadata", "serialization"):
                yield from _nodes(value)
    elif isinstance(schema, list | tuple):
        for value in schema:
            yield from _nodes(value)


def _faster(schema: Any) -> Any:
    """The same schema with constrained decimals given a quick way in.

    pydantic-core checks ``max_digits``/``decimal_places`` through Python calls
    on the Decimal, the slowest check of a typical row. A plain decimal string
    within both limits (no exponent, sign ``-`` only, no leading zeros) is
    recognised by a Rust regex first and parsed unconstrained; anything else
    falls through to the original schema, which decides as it always does.
    """
    if isinstance(schema, list):
        return [_faster(value) for value in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("type") == "decimal":
        return _fast_decimal(schema)
    return {
        key: value if key in ("metadata", "serialization") else _faster(value)
        for key, value in schema.items()
    }


def _fast_decimal(schema: dict[str, Any]) -> Any:
    digits, places = schema.get("max_digits"), schema.get("decimal_places")
    if digits is None or places is None or digits < max(places, 1) or schema.get("strict"):
        return schema
    whole = digits - places
    if whole == 0:  # pydantic counts the 0 of a bare "0" as a whole digit
        integer, fraction = "0", f"\\.[0-9]{{1,{places}}}"
    else:
        integer = f"(?:0|[1-9][0-9]{{0,{whole - 1}}})"
        fraction = f"(?:\\.[0-9]{{1,{places}}})?" if places else ""
    plain_text = core_schema.str_schema(
        pattern=f"^-?{integer}{fraction}$", strip_whitespace=False, strict=True
    )
    unconstrained = {k: v for k, v in schema.items() if k not in ("max_digits", "decimal_places")}
    quick = core_schema.chain_schema([plain_text, unconstrained])
    return core_schema.union_schema([quick, schema], mode="left_to_right")


__all__ = ["BatchValidator", "batch_validator", "field_value_types", "model_fields_schema"]
