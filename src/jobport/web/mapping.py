"""The import's mapping step as a form shows it: one row per file column, a field to
choose for each, and how sure the proposal was.

The proposal itself is the engine's (:func:`jobport.kinds.columns.proposed`, through
:meth:`JobService.upload_mapping`); this module only turns it into rows, reads the
user's choices back from the form, and says what is wrong with them before the
preview is asked (two columns onto one field, a required field no column fills).

The choices travel as one query field per column, ``map:<header>`` = field name
("" ignores the column), so the step is a plain GET form that works without
script, and the preview's address says which mapping it shows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from jobport.errors import listed, shown
from jobport.kinds.columns import ColumnMapping
from jobport.kinds.mapping import Source, normalise

#: Prefix of the form fields that carry the mapping (``map:E-mail=email``).
MAP_PREFIX = "map:"

#: Rules sure enough that a file placed by them alone goes straight to its preview:
#: the field's own name, or a mapping a person gave or saved.
CERTAIN: frozenset[Source] = frozenset({"exact", "user", "saved"})

#: How each rule reads in the step's "Match" column.
WORDS: dict[Source, str] = {
    "user": "your choice",
    "saved": "saved mapping",
    "exact": "exact",
    "alias": "alias",
    "title": "field title",
    "synonym": "synonym",
}


@dataclass(frozen=True)
class FieldChoice:
    """One option of the field selects."""

    name: str
    label: str
    required: bool
    description: str = ""


@dataclass(frozen=True)
class MappingRow:
    """One column of the file: its name, the field chosen (None: ignored), the match."""

    index: int
    header: str
    input_name: str
    field: str | None
    match: str
    tone: str
    #: The values of the first rows, so the column can be told by what it holds.
    examples: list[str] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class MappingStep:
    rows: list[MappingRow]
    choices: list[FieldChoice]
    #: Required fields no column fills, as labels.
    missing: list[str]
    #: Field -> the headers chosen for it, where more than one is.
    duplicates: dict[str, list[str]]
    saved_at: datetime | None = None
    notes: list[str] = dataclasses.field(default_factory=list)


def match_words(source: Source | None, score: int) -> str:
    """``exact``, ``synonym``, ``likely (87%)``, ``saved mapping``: the rule, in words."""
    if source is None:
        return "no match"
    if source == "fuzzy":
        return f"likely ({score}%)"
    return WORDS[source]


def tone(source: Source | None) -> str:
    """The colour of a match: sure (a known name), likely (a guess), none."""
    if source is None:
        return "none"
    return "likely" if source == "fuzzy" else "sure"


def chosen_mapping(fields: Mapping[str, str]) -> dict[str, str]:
    """The mapping a submitted step says (header -> field, "" to ignore); empty if none."""
    return {k[len(MAP_PREFIX) :]: v for k, v in fields.items() if k.startswith(MAP_PREFIX)}


def without_mapping(fields: Mapping[str, str]) -> dict[str, str]:
    """The form's other fields (what a new step or a new sheet starts from)."""
    return {k: v for k, v in fields.items() if not k.startswith(MAP_PREFIX)}


def as_fields(mapping: Mapping[str, str]) -> dict[str, str]:
    """A mapping as the step's form fields."""
    return {MAP_PREFIX + header: name for header, name in mapping.items()}


def is_certain(placed: ColumnMapping) -> bool:
    """Whether the step has nothing to ask: every column placed by a sure rule, and
    every required field filled."""
    sure = all(p.source in CERTAIN for p in placed.placements)
    return sure and not placed.missing_required


def explicit(placed: ColumnMapping) -> dict[str, str]:
    """The mapping to carry on when it was not the field's own names: a saved one
    (so the preview and the run use what it said, whatever is saved meanwhile)."""
    if all(p.source == "exact" for p in placed.placements if p.source is not None):
        return {}
    return {p.header: p.field or "" for p in placed.placements}


def build_step(
    placed: ColumnMapping,
    chosen: Mapping[str, str] | None = None,
    examples: Sequence[list[str]] = (),
) -> MappingStep:
    """The rows of the step: the proposal, with the user's choices (``chosen``) over it,
    and each column's first values (``examples``, in file order)."""
    given = {normalise(header): name for header, name in (chosen or {}).items()}
    rows = []
    for p in placed.placements:
        key = normalise(p.header)
        picked = (given[key] or None) if key in given else p.field
        source: Source | None = p.source
        if key in given and picked != p.field:
            source = "user"
        rows.append(
            MappingRow(
                index=p.index,
                header=p.header.strip(),
                input_name=MAP_PREFIX + p.header,
                field=picked,
                match=match_words(source, p.score),
                tone=tone(source),
                examples=list(examples[p.index]) if p.index < len(examples) else [],
            )
        )
    choices = [
        FieldChoice(
            t.name, f"{t.title} ({t.name})" if t.title else t.name, t.required, t.description
        )
        for t in placed.fields
    ]
    fed = {row.field for row in rows}
    return MappingStep(
        rows=rows,
        choices=choices,
        missing=[c.label for c in choices if c.required and c.name not in fed],
        duplicates=duplicates({row.header: row.field or "" for row in rows}),
        saved_at=placed.saved_at,
        notes=list(placed.notes),
    )


def duplicates(mapping: Mapping[str, str]) -> dict[str, list[str]]:
    """Field -> its headers, for each field more than one column is chosen for."""
    fed: dict[str, list[str]] = {}
    for header, name in mapping.items():
        if name:
            fed.setdefault(name, []).append(header.strip())
    return {name: headers for name, headers in fed.items() if len(headers) > 1}


def problems(mapping: Mapping[str, str], required: Sequence[str]) -> list[str]:
    """What stops a chosen mapping before the preview: a field chosen for two columns,
    a required field no column fills (messages bounded, as header names come from files)."""
    said = [
        f"'{shown(name)}' is chosen for {len(headers)} columns ({listed(headers)}); "
        "a field takes one column: ignore the others or choose another field"
        for name, headers in duplicates(mapping).items()
    ]
    fed = set(mapping.values())
    missing = [name for name in required if name not in fed]
    if missing:
        said.append(
            f"no column is chosen for the required field(s) {listed(missing)}; "
            "choose the column that holds each"
        )
    return said
