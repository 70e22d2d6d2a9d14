"""Pairing a file's header with the row model's fields, and naming what was left out.

The user's mapping (``--map``, the API's ``mapping``) places its columns
first, or else the mapping saved for this header; the proposal
(:mod:`jobport.kinds.mapping`) places the rest. A header no rule placed is
ignored and named, or refused with ``strict_columns``; a required field no
column feeds refuses the file, with the header it may have been.

Every message here is built from a file's header, so each is bounded: names
cut short, lists capped (:func:`jobport.errors.shown`, :func:`~jobport.errors.listed`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from jobport.errors import InputError, listed, shown
from jobport.formats.base import ReadOptions
from jobport.kinds.importer import Importer
from jobport.kinds.mapping import (
    MAX_HEADER_NAME,
    PROPOSED,
    Placement,
    Target,
    hints,
    normalise,
    propose,
    resolve,
    signature,
    targets,
)

if TYPE_CHECKING:
    from jobport.store.mappings import SavedMapping

#: Looks up the mapping saved for (job type, header signature); see :mod:`jobport.store.mappings`.
SavedMappings = Callable[[str, str], "SavedMapping | None"]
#: How many "did you mean" guesses a refusal gives at most.
MAX_HINTS = 5

#: The columns an error report adds (:mod:`jobport.reports`), and the prefix they take
#: where the file had a column of that name already.
LINE_COLUMN, ERROR_COLUMN, REPORT_PREFIX = "line", "error", "jobport_"
#: Those columns as a corrected report brings them back: prefixed or not, the error's
#: name with the note of a run that stored only its first failures.
_REPORT_COLUMN = re.compile(
    rf"(?:{REPORT_PREFIX})?(?:{LINE_COLUMN}|{ERROR_COLUMN})(?: \(.*\))?", re.IGNORECASE | re.DOTALL
)


def is_report_column(name: str) -> bool:
    """Whether ``name`` is a column an error report adds. Such a column feeding no field
    is how a corrected report comes back: it is ignored without a word, even with
    strict columns, and the next report does not carry it (it adds its own)."""
    return _REPORT_COLUMN.fullmatch(name.strip()) is not None


__all__ = [
    "MAX_HEADER_NAME",
    "ColumnMapping",
    "SavedMappings",
    "check_header",
    "check_key_columns",
    "column_warnings",
    "ignored_columns",
    "is_report_column",
    "map_columns",
    "normalise",
    "place_columns",
    "proposed",
]


@dataclass(frozen=True)
class ColumnMapping:
    """Where each column of a file goes, and what the run says of it."""

    #: One per header column, in file order.
    placements: list[Placement]
    #: The fields in declaration order (the order :attr:`columns` lists them in).
    fields: list[Target]
    #: When the mapping saved for this header was applied: when it was saved.
    saved_at: datetime | None = None
    #: What else the run should say (a saved mapping that no longer fits).
    notes: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[list[Any]]:
        """[[column index, field name], ...] in field order, as the run's params keep them."""
        order = {target.name: n for n, target in enumerate(self.fields)}
        fed = [p for p in self.placements if p.field is not None]
        return [[p.index, p.field] for p in sorted(fed, key=lambda p: order[p.field or ""])]

    @property
    def missing_required(self) -> list[str]:
        """The required fields no column feeds, in declaration order."""
        fed = {p.field for p in self.placements}
        return [t.name for t in self.fields if t.required and t.name not in fed]

    @property
    def unplaced(self) -> list[str]:
        """The headers no rule placed (ignored, and said so), in file order."""
        return [p.header.strip() for p in self.placements if p.source is None]

    def warnings(self, type_key: str) -> list[str]:
        """What a run says of its columns: a saved mapping used, each column placed by
        likeness (alias, title, synonym, fuzzy), the columns ignored."""
        said = list(self.notes)
        if self.saved_at is not None:
            said.append(
                f"used the mapping saved on {self.saved_at.date().isoformat()} for this header"
            )
        said.extend(p.note for p in self.placements if p.source in PROPOSED - {"exact"})
        return said + column_warnings(self.unplaced, type_key)

    def to_json(self) -> list[dict[str, Any]]:
        """The mapping a run used, per placed column: {column, field, score, source}
        (the header's names are in the run's layout)."""
        return [
            {"column": p.index, "field": p.field, "score": p.score, "source": p.source}
            for p in self.placements
            if p.source is not None
        ]


def check_header(header: Sequence[str]) -> None:
    """Refuse a header with a name too long, a blank name, or a name twice (case and
    spaces aside): messages name at most a few columns, each cut short."""
    seen: set[str] = set()
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
        seen.add(norm)


def proposed(
    header: list[str],
    row: type[BaseModel],
    *,
    read: ReadOptions | None = None,
    synonyms: Mapping[str, Sequence[str]] | None = None,
    type_key: str = "",
    saved_mappings: SavedMappings | None = None,
) -> ColumnMapping:
    """Place every column of ``header``: the user's mapping, else the one saved for this
    header, then the proposal. Refuses a bad header or mapping, not a file lacking a
    field (what :func:`place_columns` adds): the API's and dashboard's proposal."""
    read = read or ReadOptions()
    check_header(header)
    fields = targets(row, synonyms)
    fixed: dict[int, Any] = {}
    saved_at = None
    notes: list[str] = []
    if read.mapping:
        fixed = resolve(header, read.mapping, fields, type_key=type_key, source="user")
    elif saved_mappings is not None and type_key:
        saved = saved_mappings(type_key, signature(header))
        if saved is not None:
            try:
                fixed = resolve(header, saved.mapping, fields, type_key=type_key, source="saved")
                saved_at = saved.saved_at
            except InputError as exc:
                notes.append(
                    f"the mapping saved on {saved.saved_at.date().isoformat()} for this header "
                    f"was not used: {exc.message}"
                )
    return ColumnMapping(propose(header, fields, fixed=fixed), fields, saved_at, notes)


def place_columns(
    header: list[str],
    row: type[BaseModel],
    *,
    read: ReadOptions | None = None,
    synonyms: Mapping[str, Sequence[str]] | None = None,
    type_key: str = "",
    saved_mappings: SavedMappings | None = None,
) -> ColumnMapping:
    """The columns of a file to import placed (:func:`proposed`), once it is sure the file
    can be: with ``strict_columns`` every column feeds a field, and every required field
    is fed."""
    read = read or ReadOptions()
    placed = proposed(
        header,
        row,
        read=read,
        synonyms=synonyms,
        type_key=type_key,
        saved_mappings=saved_mappings,
    )
    unplaced = [name for name in placed.unplaced if not is_report_column(name)]
    if read.strict_columns and unplaced:
        raise InputError(
            f"column(s) {listed(unplaced)} feed no field of '{type_key}'; map each "
            "with --map 'Header=field' or ignore it with --map 'Header=' (strict columns)"
        )
    _check_required(placed, header)
    return placed


def _check_required(placed: ColumnMapping, header: list[str]) -> None:
    """Refuse a file no column of which feeds a required field, saying the header it may
    have been (a guess never applied: the file does not say so)."""
    missing = placed.missing_required
    if not missing:
        return
    message = (
        f"missing required column(s): {listed(missing)}; the file has: "
        f"{listed(h.strip() for h in header)}"
    )
    guesses = hints(placed.placements, missing, placed.fields)[:MAX_HINTS]
    if guesses:
        meant = ", ".join(f"'{shown(name)}' for {field_name}" for name, field_name in guesses)
        use = " ".join(f"--map '{shown(name)}={field_name}'" for name, field_name in guesses)
        message += f"; did you mean {meant}? use {use}"
    raise InputError(message)


def map_columns(
    header: list[str], row: type[BaseModel], *, read: ReadOptions | None = None
) -> list[list[Any]]:
    """Pair file columns with row fields: [[column index, field name], ...].

    :func:`place_columns` without synonyms nor saved mappings (a sync's pages, tests).
    """
    return place_columns(header, row, read=read).columns


def ignored_columns(header: list[str], mapping: list[list[Any]]) -> list[str]:
    """The header's names that feed no field of the row model, in file order."""
    used = {index for index, _ in mapping}
    return [name.strip() for index, name in enumerate(header) if index not in used]


def column_warnings(ignored: list[str], type_key: str) -> list[str]:
    """What a run says of the file's columns it did not use (bounded, as messages are);
    nothing of those an error report added (a corrected report coming back)."""
    ignored = [name for name in ignored if not is_report_column(name)]
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
