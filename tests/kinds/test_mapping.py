"""Column mapping: which column of a person's file feeds which field, and why.

The proposal's rules (exact name, alias, title, synonyms, fuzzy likeness),
one column per field, the user's mapping before them, the saved mapping, the
refusals and their messages, and a property: a file with renamed, reordered
and extra columns, mapped, stores exactly what the canonical file stores.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field
from tests.apps.people import people as people_table
from tests.conftest import MakeJobport

from jobport import Importer
from jobport.errors import InputError, RegistryError
from jobport.formats.base import ReadOptions
from jobport.kinds.columns import map_columns, place_columns, proposed
from jobport.kinds.mapping import (
    FUZZY_THRESHOLD,
    Placement,
    normalise,
    propose,
    signature,
    targets,
)
from jobport.store.mappings import SavedMapping


class Contact(BaseModel):
    id: int
    email: str
    first_name: str | None = Field(default=None, title="Given name")
    last_name: str
    address: str | None = None
    score: float | None = None
    age: int | None = None
    phone: str | None = Field(default=None, alias="tel")


def placed(header: Sequence[str], **read: Any) -> dict[str, tuple[str | None, int, str | None]]:
    """Header -> (field, score, source), through the importer's synonyms."""
    importer = Importer(row=Contact, key="id", synonyms={"email": ["courriel", "mail"]})
    columns = place_columns(
        list(header),
        Contact,
        read=ReadOptions(**read),
        synonyms=importer.synonyms,
        type_key="contacts",
    )
    return {p.header: (p.field, p.score, p.source) for p in columns.placements}


# -- the rules ----------------------------------------------------------------------------------


def test_exact_names_ignore_case_spaces_and_punctuation() -> None:
    found = placed(["ID", "E-mail", "First Name", " last_name "])
    assert found == {
        "ID": ("id", 100, "exact"),
        "E-mail": ("email", 100, "exact"),
        "First Name": ("first_name", 100, "exact"),
        " last_name ": ("last_name", 100, "exact"),
    }


def test_alias_title_and_synonyms_place_their_columns() -> None:
    found = placed(["id", "Courriel", "Given-Name", "last_name", "TEL"])
    assert found["Courriel"] == ("email", 100, "synonym")
    assert found["Given-Name"] == ("first_name", 100, "title")
    assert found["TEL"] == ("phone", 100, "alias")


def test_fuzzy_matches_above_the_threshold_only() -> None:
    found = placed(["id", "email", "last_name", "Adress", "Score (0-100)", "Page", "Notes"])
    assert found["Adress"] == ("address", 92, "fuzzy")
    assert found["Score (0-100)"] == ("score", 95, "fuzzy")  # the bracketed note left out
    assert found["Page"] == (None, 0, None)  # short names need more: one letter is much
    assert found["Notes"] == (None, 0, None)
    # A typo two letters away is below the threshold: named, never guessed.
    assert placed(["id", "email", "last_name", "Adress", "Emial"])["Emial"] == (None, 0, None)
    assert FUZZY_THRESHOLD == 85


def test_a_field_takes_one_column_the_best_and_ties_go_the_same_way() -> None:
    # Both are exact; the header spelled as the field wins, wherever it is.
    for header in (["E-mail", "email", "id", "last_name"], ["email", "E-mail", "id", "last_name"]):
        found = placed(header)
        assert found["email"] == ("email", 100, "exact")
        assert found["E-mail"] == (None, 0, None)
    # An exact name beats a synonym, a synonym beats a likeness.
    found = placed(["Mail", "id", "Email Adress", "Courriel", "last_name", "e_mail"])
    assert found["e_mail"][0] == "email"
    assert found["Mail"][0] is None
    assert found["Courriel"][0] is None
    # Two alike headers, no rule between them: the leftmost.
    found = placed(["id", "email", "last_name", "Adress", "Adresse"])
    assert (found["Adress"][0], found["Adresse"][0]) == ("address", None)


def test_the_same_header_in_any_order_gets_the_same_mapping() -> None:
    header = ["id", "E-mail", "Given name", "last_name", "Adress", "Score (0-100)", "Notes"]
    first = placed(header)
    shuffled = list(header)
    for seed in range(5):
        random.Random(seed).shuffle(shuffled)
        assert placed(shuffled) == first


def test_synonyms_are_checked_when_the_type_is_declared() -> None:
    with pytest.raises(RegistryError, match=r"synonyms name emial, not field\(s\) of Contact"):
        Importer(row=Contact, key="id", synonyms={"emial": ["mail"]})
    with pytest.raises(RegistryError, match="'M-ail' is given to both 'email' and 'phone'"):
        Importer(row=Contact, key="id", synonyms={"email": ["mail"], "phone": ["M-ail"]})
    with pytest.raises(RegistryError, match="must be a list of names"):
        Importer(row=Contact, key="id", synonyms={"email": "mail"})
    with pytest.raises(RegistryError, match="no letters or digits"):
        Importer(row=Contact, key="id", synonyms={"email": ["--"]})


# -- the user's mapping -------------------------------------------------------------------------


def test_the_users_mapping_comes_first_and_can_ignore_a_column() -> None:
    found = placed(
        ["Ref", "email", "Courriel", "last_name", "Notes"],
        mapping={"ref": "id", "Courriel": "email", "email": ""},
    )
    assert found["Ref"] == ("id", 100, "user")
    assert found["Courriel"] == ("email", 100, "user")
    assert found["email"] == (None, 100, "user")  # ignored as asked
    assert found["Notes"] == (None, 0, None)


def test_a_bad_mapping_says_what_there_is() -> None:
    header = ["id", "email", "last_name"]
    with pytest.raises(InputError) as unknown_header:
        placed(header, mapping={"Mail": "email"})
    assert unknown_header.value.message == (
        "the mapping names column 'Mail', which the file does not have; "
        "the file has: id, email, last_name"
    )
    with pytest.raises(InputError) as unknown_field:
        placed(header, mapping={"email": "e_mail"})
    assert unknown_field.value.message == (
        "the mapping feeds 'e_mail', which is not a field of 'contacts'; its fields: "
        "id, email, first_name, last_name, address, score, age, phone"
    )
    with pytest.raises(InputError, match="feeds 'email' from two columns, 'id' and 'email'"):
        placed(header, mapping={"id": "email", "email": "email"})


def test_strict_columns_refuses_a_column_no_rule_placed() -> None:
    header = ["id", "email", "last_name", "Notes", "Colour"]
    with pytest.raises(InputError) as refused:
        placed(header, strict_columns=True)
    assert refused.value.message.startswith("column(s) Notes, Colour feed no field of 'contacts'; ")
    # Ignored on purpose is placed: strict is then satisfied.
    assert placed(header, strict_columns=True, mapping={"Notes": "", "Colour": ""})


def test_a_missing_field_says_the_header_it_may_have_been() -> None:
    with pytest.raises(InputError) as refused:
        placed(["id", "Emial", "Surname", "Notes"])
    assert refused.value.message == (
        "missing required column(s): email, last_name; the file has: id, Emial, Surname, Notes; "
        "did you mean 'Emial' for email, 'Surname' for last_name? "
        "use --map 'Emial=email' --map 'Surname=last_name'"
    )
    with pytest.raises(InputError) as plain:
        placed(["id", "email", "Notes"])
    assert plain.value.message == (
        "missing required column(s): last_name; the file has: id, email, Notes"
    )


def test_a_missing_field_is_hinted_from_a_header_whose_words_spell_its_name() -> None:
    with pytest.raises(InputError) as refused:
        placed(["Customer ID", "E-Mail Address", "Surname"])
    assert refused.value.message.endswith(
        "did you mean 'Customer ID' for id, 'E-Mail Address' for email, 'Surname' for "
        "last_name? use --map 'Customer ID=id' --map 'E-Mail Address=email' "
        "--map 'Surname=last_name'"
    )
    # Two columns hold "id": no guess is better than a wrong one.
    with pytest.raises(InputError) as two:
        placed(["Order ID", "Customer ID", "email", "last_name"])
    assert two.value.message == (
        "missing required column(s): id; the file has: Order ID, Customer ID, email, last_name"
    )


def test_the_work_is_bounded() -> None:
    with pytest.raises(InputError, match="at most 1,000"):
        placed(["id", "x" * 1_001])
    # The widest header a type takes by default, every name at the longest: placed,
    # the cut-off rejecting names of other lengths before comparing them.
    wide = [f"{n} " + "y" * 994 for n in range(1_000)]
    columns = proposed(wide, Contact, type_key="contacts")
    assert columns.unplaced == [name.strip() for name in wide]
    assert columns.missing_required == ["id", "email", "last_name"]


def test_a_sync_keeps_exact_columns() -> None:
    assert map_columns(["id", "email", "last_name"], Contact) == [
        [0, "id"],
        [1, "email"],
        [2, "last_name"],
    ]


# -- saved mappings -----------------------------------------------------------------------------


def test_the_signature_is_the_set_of_names_as_a_file_may_differ() -> None:
    assert signature(["E-mail", "First  Name"]) == signature([" first name", "e-mail"])
    assert signature(["E-mail"]) != signature(["Email"])
    assert len(signature([])) == 64


def saved_lookup(mapping: dict[str, str]) -> Any:
    saved_at = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    asked: list[tuple[str, str]] = []

    def lookup(type_key: str, sig: str) -> SavedMapping | None:
        asked.append((type_key, sig))
        return SavedMapping(type_key, sig, [], mapping, "alice", saved_at)

    lookup.asked = asked  # type: ignore[attr-defined]
    return lookup


def test_a_saved_mapping_is_applied_and_said() -> None:
    header = ["id", "Mail address", "Family", "Notes"]
    lookup = saved_lookup({"Mail address": "email", "Family": "last_name", "Notes": ""})
    columns = place_columns(header, Contact, type_key="contacts", saved_mappings=lookup)
    assert lookup.asked == [("contacts", signature(header))]
    assert [(p.field, p.source) for p in columns.placements] == [
        ("id", "exact"),
        ("email", "saved"),
        ("last_name", "saved"),
        (None, "saved"),
    ]
    assert columns.warnings("contacts") == ["used the mapping saved on 2024-05-01 for this header"]
    # The user's own mapping wins: the saved one is not even looked up.
    lookup.asked.clear()
    place_columns(
        ["id", "email", "last_name"],
        Contact,
        read=ReadOptions(mapping={"email": "email"}),
        type_key="contacts",
        saved_mappings=lookup,
    )
    assert lookup.asked == []


def test_a_saved_mapping_that_no_longer_fits_is_passed_over_and_said() -> None:
    lookup = saved_lookup({"Family": "surname"})
    columns = place_columns(
        ["id", "email", "last_name", "Family"],
        Contact,
        type_key="contacts",
        saved_mappings=lookup,
    )
    assert columns.saved_at is None
    assert columns.warnings("contacts") == [
        "the mapping saved on 2024-05-01 for this header was not used: the mapping feeds "
        "'surname', which is not a field of 'contacts'; its fields: id, email, first_name, "
        "last_name, address, score, age, phone",
        "1 column matches no field of 'contacts' and was ignored: Family",
    ]


def test_the_run_says_each_column_placed_by_likeness() -> None:
    columns = place_columns(
        ["id", "Courriel", "last_name", "Score (0-100)"],
        Contact,
        synonyms={"email": ["courriel"]},
        type_key="contacts",
    )
    assert columns.warnings("contacts") == [
        "'Courriel' → email (synonym)",
        "'Score (0-100)' → score (fuzzy 95)",
    ]
    assert columns.to_json() == [
        {"column": 0, "field": "id", "score": 100, "source": "exact"},
        {"column": 1, "field": "email", "score": 100, "source": "synonym"},
        {"column": 2, "field": "last_name", "score": 100, "source": "exact"},
        {"column": 3, "field": "score", "score": 95, "source": "fuzzy"},
    ]
    assert columns.columns == [[0, "id"], [1, "email"], [2, "last_name"], [3, "score"]]


def test_the_store_keeps_one_mapping_per_type_and_signature(make_jobport: MakeJobport) -> None:
    store = make_jobport().store
    assert store.saved_mapping("customers", "a" * 64) is None
    store.save_mapping("customers", "a" * 64, ["Mail"], {"Mail": "email"}, saved_by="alice")
    store.save_mapping("customers", "a" * 64, ["Mail"], {"Mail": ""}, saved_by="bob")
    store.save_mapping("people", "a" * 64, ["Mail"], {"Mail": "name"})
    kept = store.saved_mapping("customers", "a" * 64)
    assert kept is not None
    assert (kept.header, kept.mapping, kept.saved_by) == (["Mail"], {"Mail": ""}, "bob")
    assert kept.saved_at.tzinfo is not None


def test_propose_leaves_fixed_columns_alone() -> None:
    fields = targets(Contact)
    found = propose(["email", "x"], fields, fixed={0: ("last_name", "user")})
    assert found == [
        Placement(0, "email", "last_name", 100, "user"),
        Placement(1, "x", None, 0, None),
    ]


# -- the property: a mapped file stores what the canonical file stores --------------------------

FIELDS = ("code", "name", "age")
EXTRAS = ("Notes", "Colour", "Remarks", "Zip")


def write_people(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def stored(engine: Any) -> list[dict[str, Any]]:
    with engine.database.connect() as conn:
        rows = conn.execute(sa.select(people_table).order_by(people_table.c.code)).mappings()
        return [dict(row) for row in rows]


people_rows = st.lists(
    st.tuples(
        st.text("abcdefghij", min_size=1, max_size=6),
        st.text("ABC xyz", min_size=1, max_size=8).filter(lambda s: s.strip()),
        st.one_of(st.just(""), st.integers(0, 150).map(str)),
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda row: row[0],
)
#: A field's column named otherwise: by the user (explicit) or as a person writes it.
renamed = st.one_of(
    st.tuples(st.just("user"), st.text("Colum nrefX-_()", min_size=1, max_size=10)),
    st.tuples(st.just("spelling"), st.sampled_from(["upper", "title", "dashes"])),
)


def spelled(name: str, how: str) -> str:
    return {"upper": name.upper(), "title": name.title(), "dashes": "-".join(name)}[how]


def test_a_mapped_file_stores_what_the_canonical_file_stores(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    canonical = make_jobport(app="tests.apps.people", database_url=f"sqlite:///{tmp_path}/a.db")
    mapped = make_jobport(app="tests.apps.people", database_url=f"sqlite:///{tmp_path}/b.db")

    @settings(max_examples=12)
    @given(
        rows=people_rows,
        names=st.tuples(renamed, renamed, renamed),
        extras=st.lists(st.sampled_from(EXTRAS), unique=True, max_size=3),
        order=st.randoms(use_true_random=False),
    )
    def check(
        rows: list[tuple[str, str, str]],
        names: tuple[tuple[str, str], ...],
        extras: list[str],
        order: random.Random,
    ) -> None:
        header, mapping = [], {}
        for field_name, (how, name) in zip(FIELDS, names, strict=True):
            if how == "user":
                mapping[name] = field_name
                header.append(name)
            else:
                header.append(spelled(field_name, name))
        header += extras
        assume(len({normalise(name) for name in header}) == len(header))
        assume(all(normalise(name) for name in header))
        width = len(header)
        cells = [[*row, *(f"{extra} value" for extra in extras)] for row in rows]
        permutation = list(range(width))
        order.shuffle(permutation)
        for engine in (canonical, mapped):
            with engine.database.begin() as conn:
                conn.execute(people_table.delete())
        one = write_people(tmp_path / "canonical.csv", FIELDS, rows)
        assert canonical.import_file("people", one).status == "completed"
        other = write_people(
            tmp_path / "mapped.csv",
            [header[i] for i in permutation],
            [[row[i] for i in permutation] for row in cells],
        )
        run = mapped.import_file("people", other, read={"mapping": mapping})
        assert run.status == "completed", run.error
        assert stored(mapped) == stored(canonical)

    check()
