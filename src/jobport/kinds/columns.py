"""Pairing a file's header with the row model's fields, and naming what was left out.

Every message here is built from a file's header, so each is bounded: names
cut short, lists capped (:func:`jobport.errors.shown`, :func:`~jobport.errors.listed`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from jobport.errors import InputError, listed, shown
from jobport.formats.base import ReadOptions
from jobport.kinds.importer import Importer


def normalise(name: str) -> str:
    return " ".join(name.strip().lower().split())


#: The longest header name a file may have: a name is a label, never data.
MAX_HEADER_NAME = 1_000


def map_columns(
    header: list[str], row: type[BaseModel], *, read: ReadOptions | None = None
) -> list[list[Any]]:
    """Pair file columns with row fields: [[column index, field name], ...].

    Names match ignoring case and surrounding spaces; a field's alias counts as
    a name. Extra columns are ignored; a missing required field fails up front.
    Every message names at most a few columns, each cut short: a header can be
    megabytes of names, and the message goes into the run and HTTP bodies.
    """
    seen: dict[str, int] = {}
    for index, name in enumerate(header):
        if len(name) > MAX_HEADER_NAME:
            raise InputError(
                f"column {index + 1} of the header is {len(name):,} characters long; a column "
                f"name may be at most {MAX_HEADER_NAME:,} (is the first line a header?)"
            )
        norm = normalise(name)
        if not norm:
            raise InputError(f"column {index + 1} of the header has no name")
        if norm in seen:
            raise InputError(f"column '{shown(name.strip())}' appears twice in the header")
        seen[norm] = index
    mapping: list[list[Any]] = []
    missing: list[str] = []
    for field_name, info in row.model_fields.items():
        names = [normalise(field_name)] + ([normalise(info.alias)] if info.alias else [])
        found = next((seen[n] for n in names if n in seen), None)
        if found is None:
            if info.is_required():
                missing.append(field_name)
            continue
        mapping.append([found, field_name])
    if missing:
        raise InputError(
            f"missing required column(s): {listed(missing)}; the file has: "
            f"{listed(h.strip() for h in header)}"
        )
    return mapping


def ignored_columns(header: list[str], mapping: list[list[Any]]) -> list[str]:
    """The header's names that feed no field of the row model, in file order."""
    used = {index for index, _ in mapping}
    return [name.strip() for index, name in enumerate(header) if index not in used]


def column_warnings(ignored: list[str], type_key: str) -> list[str]:
    """What a run says of the file's columns it did not use (bounded, as messages are)."""
    if not ignored:
        return []
    noun = "column matches" if len(ignored) == 1 else "columns match"
    return [
        f"{len(ignored):,} {noun} no field of '{type_key}' and "
        f"{'was' if len(ignored) == 1 else 'were'} ignored: {listed(ignored)}"
    ]


def check_key_columns(importer: Importer, mapping: list[list[Any]], type_key: str) -> None:
    """Refuse a file without its key column: every row would share the field's default key."""
    if importer.transform is not None:
        return  # the transform may build the key
    fed = {field for _, field in mapping}
    lacking = [k for k in importer.key_columns if k in importer.row.model_fields and k not in fed]
    if lacking:
        raise InputError(
            f"the file has no column for {listed(lacking)}, which '{type_key}' matches rows on"
        )
