"""Proposing which column of a file feeds which field of a row model.

People's files rarely name their columns as the row model does: ``E-mail``,
``First Name``, ``Score (0-100)``. A proposal places each header by the most
certain rule that fits it:

- ``exact``: the field's name, ignoring case, spaces and punctuation
  (``E-mail`` is ``email``, ``First Name`` is ``first_name``);
- ``alias``, ``title``: the field's alias or its ``title``, the same way;
- ``synonym``: a name the type declares (``Importer(synonyms={"email": ["mail"]})``);
- ``fuzzy``: a name alike enough: rapidfuzz's token-sort ratio of the names'
  words, at least :data:`FUZZY_THRESHOLD` (:data:`SHORT_THRESHOLD` when either
  name is short, where one letter is much of the word); a note in brackets
  such as ``(0-100)`` may be left out, at a small cost to the score.

What a user said (``user``) or saved for this header (``saved``) comes first
and is never second-guessed. A field is fed by one column at most: where
several headers fit one field, the higher score wins, then the more certain
rule, then the header spelled like the field, then the leftmost column, so
the same header always gets the same proposal.

These are pure functions of the header and the row model: planning, the
preview, the API's proposal and the dashboard's mapping step agree by
construction. The work is bounded by the caller's checks (at most the
type's ``max_columns`` headers, each at most :data:`MAX_HEADER_NAME`
characters) and by the score cut-off, which rejects names of very different
lengths before comparing them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from jobport.errors import InputError, listed, shown

#: Where a column's field came from, most certain first (ties go to the earlier).
Source = Literal["user", "saved", "exact", "alias", "title", "synonym", "fuzzy"]
SOURCES: tuple[Source, ...] = ("user", "saved", "exact", "alias", "title", "synonym", "fuzzy")
#: The rules a proposal finds by itself, as opposed to what a person said.
PROPOSED: frozenset[Source] = frozenset({"exact", "alias", "title", "synonym", "fuzzy"})

#: The longest header name a file may have: a name is a label, never data.
MAX_HEADER_NAME = 1_000
#: The least likeness (0-100) for a fuzzy match.
FUZZY_THRESHOLD = 85
#: The least likeness when either name has at most :data:`SHORT_NAME` letters
#: (``page`` is 86 like ``age``: one letter is a quarter of the word); a looser
#: threshold (the hints') is raised as much.
SHORT_THRESHOLD = 92
SHORT_NAME = 4
#: What a header that matches only once its bracketed note is left out keeps of its score.
BRACKETED = 0.95
#: The least likeness for "did you mean" in the message of a missing field.
HINT_THRESHOLD = 60
#: How many of a header's words "did you mean" looks for a field's name in.
HINT_WORDS = 8

_BRACKETED = re.compile(r"\([^)]*\)|\[[^\]]*\]|\{[^}]*\}")
_PUNCTUATION = re.compile(r"[\W_]+")


def normalise(name: str) -> str:
    """A header as two of one file must differ: case and runs of spaces do not count."""
    return " ".join(name.strip().lower().split())


def compact(name: str) -> str:
    """A name as the exact rule compares it: letters and digits only, case folded."""
    return _PUNCTUATION.sub("", name.casefold())


def words(name: str) -> str:
    """A name's words, case folded and sorted (what token-sort compares)."""
    return " ".join(sorted(_PUNCTUATION.sub(" ", name.casefold()).split()))


def signature(header: Sequence[str]) -> str:
    """What identifies a header for a saved mapping: the sha256 of its column names,
    normalised (:func:`normalise`) and sorted, so the same columns in another order
    are the same header."""
    names = sorted(normalise(name) for name in header)
    return hashlib.sha256(json.dumps(names, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class Target:
    """A field a column may feed, and the names that say so, each with its rule."""

    name: str
    title: str | None
    required: bool
    names: tuple[tuple[str, Source], ...]
    description: str = ""


def targets(
    row: type[BaseModel], synonyms: Mapping[str, Sequence[str]] | None = None
) -> list[Target]:
    """The row model's fields, in declaration order, with the names each answers to."""
    found = []
    for name, info in row.model_fields.items():
        names: list[tuple[str, Source]] = [(name, "exact")]
        if info.alias:
            names.append((info.alias, "alias"))
        if info.title:
            names.append((info.title, "title"))
        names.extend((synonym, "synonym") for synonym in (synonyms or {}).get(name, ()))
        target = Target(name, info.title, info.is_required(), tuple(names), info.description or "")
        found.append(target)
    return found


def check_synonyms(row: type[BaseModel], synonyms: Mapping[str, Sequence[str]]) -> None:
    """Refuse synonyms that name no field of ``row``, are blank, or are given to two fields.

    Raised where the type is declared, so a misspelt field name is found at
    start-up rather than by the first file that needs it.
    """
    if not synonyms:
        return
    fields = list(row.model_fields)
    unknown = [name for name in synonyms if name not in row.model_fields]
    if unknown:
        raise ValueError(
            f"synonyms name {listed(unknown)}, not field(s) of {row.__name__}: {listed(fields)}"
        )
    owner: dict[str, str] = {}
    for name, names in synonyms.items():
        if isinstance(names, str):
            raise ValueError(f"synonyms of '{name}' must be a list of names, not one string")
        for synonym in names:
            key = compact(synonym) if isinstance(synonym, str) else ""
            if not key:
                raise ValueError(f"a synonym of '{name}' has no letters or digits: {synonym!r}")
            if owner.get(key, name) != name:
                raise ValueError(
                    f"synonym {synonym!r} is given to both '{owner[key]}' and '{name}'"
                )
            owner[key] = name


@dataclass(frozen=True)
class Placement:
    """Which field a column of the file feeds (None: none), how sure, and by which rule.

    ``source`` is None for a column no rule placed; a column a person chose
    to ignore has no field and the source ``user`` (or ``saved``).
    """

    index: int
    header: str
    field: str | None
    score: int
    source: Source | None

    @property
    def note(self) -> str:
        """``'E-mail' → email (fuzzy 92)``: what the run says of a column placed by likeness."""
        how = f"{self.source} {self.score}" if self.source == "fuzzy" else str(self.source)
        return f"'{shown(self.header.strip())}' → {self.field} ({how})"

    def to_json(self) -> dict[str, Any]:
        return {
            "header": self.header,
            "field": self.field,
            "score": self.score,
            "source": self.source,
        }


#: Columns placed before the proposal: index -> (field or None to ignore, the rule).
Fixed = Mapping[int, tuple[str | None, Source]]


@dataclass(frozen=True, order=True)
class _Candidate:
    """One way a header could feed a field, ordered best first."""

    rank: tuple[int, int, bool, int, int]
    index: int
    target: int
    score: int
    source: Source


def _candidate(
    score: int, source: Source, spelled_otherwise: bool, index: int, target: int
) -> _Candidate:
    rank = (-score, SOURCES.index(source), spelled_otherwise, index, target)
    return _Candidate(rank, index, target, score, source)


def propose(
    header: Sequence[str],
    fields: Sequence[Target],
    *,
    fixed: Fixed | None = None,
    threshold: int = FUZZY_THRESHOLD,
) -> list[Placement]:
    """Place every column of ``header`` (one :class:`Placement` each, in file order).

    ``fixed`` columns keep what they were given; the others go to the fields
    not fixed yet, best candidate first (see the module's docstring).
    """
    fixed = fixed or {}
    taken = {name for name, _ in fixed.values() if name}
    free = [index for index in range(len(header)) if index not in fixed]
    open_fields = [n for n, target in enumerate(fields) if target.name not in taken]
    exact = list(_exact_candidates(header, fields, free, open_fields))
    chosen = _choose(sorted(exact), fields, taken)
    if len(chosen) < len(free):
        # Every exact candidate ranks before every likeness (score 100, a better rule), so
        # likeness only matters when a column is left: most files never compute one.
        candidates = [*exact, *_fuzzy_candidates(header, fields, free, open_fields, threshold)]
        chosen = _choose(sorted(candidates), fields, taken)
    placements = []
    for index, name in enumerate(header):
        if index in fixed:
            field_name, source = fixed[index]
            placements.append(Placement(index, name, field_name, 100, source))
        elif index in chosen:
            found = chosen[index]
            placements.append(
                Placement(index, name, fields[found.target].name, found.score, found.source)
            )
        else:
            placements.append(Placement(index, name, None, 0, None))
    return placements


def _choose(
    candidates: Sequence[_Candidate], fields: Sequence[Target], taken: set[str]
) -> dict[int, _Candidate]:
    """Column index -> its candidate, best first, one column per field not in ``taken``."""
    taken = set(taken)
    chosen: dict[int, _Candidate] = {}
    for candidate in candidates:
        name = fields[candidate.target].name
        if candidate.index not in chosen and name not in taken:
            chosen[candidate.index] = candidate
            taken.add(name)
    return chosen


def _exact_candidates(
    header: Sequence[str], fields: Sequence[Target], free: list[int], open_fields: list[int]
) -> Iterable[_Candidate]:
    """Headers equal to a field's name, alias, title or synonym once compacted (score 100)."""
    by_name: dict[str, list[tuple[int, Source]]] = {}
    for n in open_fields:
        for name, source in fields[n].names:
            by_name.setdefault(compact(name), []).append((n, source))
    for index in free:
        for n, source in by_name.get(compact(header[index]), ()):
            spelled_otherwise = normalise(header[index]) != fields[n].name.lower()
            yield _candidate(100, source, spelled_otherwise, index, n)


def _fuzzy_candidates(
    header: Sequence[str],
    fields: Sequence[Target],
    free: list[int],
    open_fields: list[int],
    threshold: int,
) -> Iterable[_Candidate]:
    """Headers alike enough to one of a field's names (scores ``threshold`` and up)."""
    names = [
        (n, words(name), len(compact(name))) for n in open_fields for name, _ in fields[n].names
    ]
    for index in free:
        score_of: dict[int, int] = {}
        for n, score in _likeness(header[index], names, threshold):
            score_of[n] = max(score, score_of.get(n, 0))
        for n, score in score_of.items():
            yield _candidate(score, "fuzzy", True, index, n)


def _likeness(
    name: str, names: list[tuple[int, str, int]], threshold: int
) -> Iterable[tuple[int, int]]:
    """(field, score) for each of ``names`` at least ``threshold`` like ``name``."""
    # Imported here: a file whose headers match by name (most) never loads rapidfuzz.
    from rapidfuzz import fuzz

    variants = [(words(name), 1.0)]
    bare = words(_BRACKETED.sub(" ", name))
    if bare and bare != variants[0][0]:
        variants.append((bare, BRACKETED))
    size = len(compact(name))
    for n, other, other_size in names:
        short = min(size, other_size) <= SHORT_NAME
        least = threshold + (SHORT_THRESHOLD - FUZZY_THRESHOLD) if short else threshold
        best = 0.0
        for text, weight in variants:
            score = fuzz.ratio(text, other, score_cutoff=least / weight) * weight
            best = max(best, score)
        if best >= least:
            yield n, int(best)


def hints(
    placements: Sequence[Placement], missing: Sequence[str], fields: Sequence[Target]
) -> list[tuple[str, str]]:
    """(header, field) for missing fields a column no rule placed may hold ("did you mean").

    A looser likeness than the proposal's, then a header whose words spell one of a
    field's names (:func:`_spellings`): a guess shown to a person, never applied.
    """
    wanted = set(missing)
    free = {p.index for p in placements if p.source is None}
    header = [p.header for p in placements]
    guessed = propose(
        header,
        fields,
        fixed={p.index: (p.field, p.source) for p in placements if p.source is not None},
        threshold=HINT_THRESHOLD,
    )
    found = [
        (p.index, p.field)
        for p in guessed
        if p.index in free and p.field is not None and p.field in wanted
    ]
    used = {index for index, _ in found}
    named = {name for _, name in found}
    spelled = {i: _spellings(header[i]) for i in sorted(free - used)}
    for target in fields:
        if target.name in wanted and target.name not in named:
            names = {compact(other) for other, _ in target.names}
            holding = [i for i, words in spelled.items() if i not in used and words & names]
            if len(holding) == 1:  # one column only: a guess worth showing
                found.append((holding[0], target.name))
                used.add(holding[0])
    order = {target.name: n for n, target in enumerate(fields)}
    return sorted(((header[i].strip(), name) for i, name in found), key=lambda p: order[p[1]])


def _spellings(name: str) -> set[str]:
    """What runs of a header's first words spell: ``Customer ID`` holds ``id``,
    ``E-Mail Address`` holds ``email`` (``e`` + ``mail``). A hint only: a header
    holding a name may well mean something else (``Order ID``). Bounded whatever the
    header: its first :data:`HINT_WORDS` words, runs of up to four."""
    parts = _PUNCTUATION.sub(" ", name.casefold()).split()[:HINT_WORDS]
    return {
        "".join(parts[start:end])
        for start in range(len(parts))
        for end in range(start + 1, min(len(parts), start + 4) + 1)
    }


def resolve(
    header: Sequence[str],
    given: Mapping[str, str],
    fields: Sequence[Target],
    *,
    type_key: str,
    source: Source,
) -> dict[int, tuple[str | None, Source]]:
    """A person's mapping (header -> field name, "" to ignore) as fixed columns.

    Headers match as they must differ in a file (case and spaces aside). A
    header the file lacks, a field the type lacks or two columns onto one
    field is refused with a message that lists what there is.
    """
    columns = {normalise(name): index for index, name in enumerate(header)}
    names = [target.name for target in fields]
    fixed: dict[int, tuple[str | None, Source]] = {}
    fed_by: dict[str, str] = {}
    for given_header, field_name in given.items():
        index = columns.get(normalise(given_header))
        if index is None:
            raise InputError(
                f"the mapping names column '{shown(given_header)}', which the file does not "
                f"have; the file has: {listed(h.strip() for h in header)}"
            )
        chosen = field_name.strip() or None
        if chosen is not None and chosen not in names:
            raise InputError(
                f"the mapping feeds '{shown(chosen)}', which is not a field of '{type_key}'; "
                f"its fields: {listed(names)}"
            )
        if chosen is not None and chosen in fed_by:
            raise InputError(
                f"the mapping feeds '{chosen}' from two columns, '{shown(fed_by[chosen])}' and "
                f"'{shown(given_header)}'; a field takes one column (map the other to '' to "
                "ignore it)"
            )
        if chosen is not None:
            fed_by[chosen] = given_header
        fixed[index] = (chosen, source)
    return fixed


__all__ = [
    "FUZZY_THRESHOLD",
    "MAX_HEADER_NAME",
    "SOURCES",
    "Placement",
    "Source",
    "Target",
    "check_synonyms",
    "compact",
    "hints",
    "normalise",
    "propose",
    "resolve",
    "signature",
    "targets",
    "words",
]
