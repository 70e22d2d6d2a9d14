"""The cap on the failures one run stores: further ones are counted, not kept, and the run
says so (its warning, its error report)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from tests.apps import people as people_app
from tests.conftest import MakeJobport

from jobport.principal import Principal
from jobport.registry import registry_of
from jobport.service import JobService
from jobport.store import ChunkOutcome, Claim, Failure, JobStore, NewRun, make_engine
from jobport.store.migrations import upgrade
from jobport.store.prune import cap_note, capped_failures


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade(engine)
    yield JobStore(engine)
    engine.dispose()


def failures(count: int, first_line: int = 2) -> list[Failure]:
    return [Failure(line=first_line + i, message=f"bad {i}") for i in range(count)]


def commit(store: JobStore, run_id: str, no: int, outcome: ChunkOutcome, cap: int | None) -> None:
    held = store.claim_chunk(run_id, no, "me", 30)
    assert isinstance(held, Claim), held
    store.commit_chunk(held, outcome, max_stored_failures=cap)


def test_the_failures_past_the_cap_are_counted_not_stored(store: JobStore) -> None:
    new = NewRun(
        type="things",
        kind="import",
        strategy="polling",
        broadcast=True,
        owner=None,
        params={"warnings": ["1 column matches no field of 'things' and was ignored: x"]},
        max_attempts=3,
        total=30,
    )
    run_id = store.create_run(new, [{"rows": 10}] * 3).id

    commit(store, run_id, 0, ChunkOutcome(10, failures(6)), cap=8)
    run = store.get_run(run_id)
    assert (run.failed, store.list_failures(run_id)[1]) == (6, 6)
    assert cap_note(run.params) is None  # under the cap: nothing to say

    commit(store, run_id, 1, ChunkOutcome(10, failures(5, first_line=12)), cap=8)
    commit(store, run_id, 2, ChunkOutcome(10, failures(4, first_line=22)), cap=8)

    run = store.get_run(run_id)
    stored, count = store.list_failures(run_id, limit=100)
    assert (run.failed, count) == (15, 8)
    assert [f["line"] for f in stored] == [2, 3, 4, 5, 6, 7, 12, 13]  # the first ones, in order
    assert run.status == "completed_with_errors"
    assert run.warnings == [
        "1 column matches no field of 'things' and was ignored: x",
        "only the first 8 failures were kept; 7 more were counted",
    ]


def test_capped_failures_is_a_no_op_under_the_cap_or_without_one() -> None:
    chunk = failures(3)
    assert capped_failures(chunk, {"failed": 5, "params": {}}, None) == (chunk, None)
    assert capped_failures(chunk, {"failed": 5, "params": {}}, 8) == (chunk, None)
    kept, params = capped_failures(chunk, {"failed": 9, "params": {}}, 8)
    assert (list(kept), params) == (
        [],
        {"warnings": ["only the first 8 failures were kept; 4 more were counted"]},
    )


def test_a_types_cap_keeps_the_first_failures_and_the_error_report_says_so(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    """Ten rows over four chunks, seven invalid, a type that stores three of them."""
    capped = replace(people_app.registry.get("people"), max_stored_failures=3)
    engine = make_jobport(app=None, registry=registry_of(capped), max_stored_failures=1_000)
    source = tmp_path / "people.csv"
    rows = [[f"p{i}", "Ann" if i % 3 == 0 else "", ""] for i in range(10)]
    with open(source, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["code", "name", "age"], *rows])

    run = engine.wait(engine.import_file("people", source).id)

    assert (run.processed, run.failed) == (10, 6)
    assert [f["line"] for f in engine.store.list_failures(run.id)[0]] == [3, 4, 6]
    assert run.warnings == ["only the first 3 failures were kept; 3 more were counted"]
    report = list(JobService(engine).error_report(Principal.operator(), run.id))
    assert report[0] == [
        "code",
        "name",
        "age",
        "line",
        "error (only the first 3 failures were kept; 3 more were counted)",
    ]
    assert len(report) == 1 + 3
