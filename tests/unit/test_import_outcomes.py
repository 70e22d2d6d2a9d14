"""What an import did to the table (created, updated, unchanged), dry runs and error thresholds.

On SQLite, in-process (inline executor, four-row chunks): each run's counts
against what the table holds after it; a matched row whose fed columns already
held the values is not rewritten (an UPDATE trigger would see it); a dry run
leaves the table exactly as it was and reports the counts the real run then
produces; a dry run is imported from its stored upload; a run past its failure
threshold stops with its committed chunks named; a run whose every row failed
fails.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel, Field
from tests.conftest import MakeJobport

from jobport import Importer, InputError, Jobport, JobRegistry, JobType
from jobport.errors import RegistryError, RunStateError
from jobport.events import JobEvent
from jobport.lifecycle import FailureLimits, RunStatus, number_ranges, status_when_done
from jobport.principal import Principal
from jobport.service import ImportStart, JobService
from jobport.store import RunRecord

HEADER = ["id", "name", "score", "joined"]
FIRST = [
    ["1", "Ada", "12.00", "2024-01-01"],
    ["2", "Bob", "3.5", ""],
    ["3", "Cy", "", "2024-02-02"],
    ["4", "Di", "1", "2024-03-03"],
    ["5", "Ed", "2", ""],
]
#: 1 the same values written otherwise (12.0 is 12.00 as stored), 2 changed (twice: the
#: last wins, counted once), 3 the same, 6 new, 7 invalid.
SECOND = [
    ["1", "Ada", "12.0", "2024-01-01"],
    ["2", "Bobby", "3.5", ""],
    ["3", "Cy", "", "2024-02-02"],
    ["2", "Robert", "3.5", ""],
    ["6", "Fay", "7", ""],
    ["7", "Gus", "not a number", ""],
]


class Person(BaseModel):
    id: int = Field(ge=1)
    name: str
    score: Decimal | None = Field(default=None, max_digits=6, decimal_places=2)
    joined: dt.date | None = None


def people_table() -> sa.Table:
    return sa.Table(
        "people",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(20), nullable=False),
        sa.Column("score", sa.Numeric(6, 2)),
        sa.Column("joined", sa.Date),
        sa.Column("note", sa.String(20), server_default="kept"),
    )


def registry(**importer: Any) -> JobRegistry:
    reg = JobRegistry()
    reg.add(
        JobType(
            type="people",
            label="People",
            kind="import",
            model=people_table(),
            handler=Importer(row=Person, key="id", **importer),
            chunk_size=4,
        )
    )
    return reg


def write(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([HEADER, *rows])
    return path


@pytest.fixture
def engine(make_jobport: MakeJobport) -> Jobport:
    jobport = make_jobport(registry=registry())
    with jobport.database.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE rewrites (id INTEGER)")
        conn.exec_driver_sql(
            "CREATE TRIGGER people_rewritten AFTER UPDATE ON people "
            "BEGIN INSERT INTO rewrites VALUES (new.id); END"
        )
    return jobport


def run_file(engine: Jobport, path: Path, **controls: Any) -> RunRecord:
    run = engine.import_file("people", path, controls=controls)
    return engine.wait(run.id, timeout=30)


def counts(run: RunRecord) -> tuple[int | None, int | None, int | None]:
    return run.created, run.updated, run.unchanged


def snapshot(engine: Jobport) -> list[tuple[Any, ...]]:
    """Every row of the table, each value with its SQLite storage class."""
    with engine.database.connect() as conn:
        return [
            tuple(row)
            for row in conn.exec_driver_sql(
                "SELECT rowid, id, typeof(id), name, typeof(name), score, typeof(score), "
                "joined, typeof(joined), note FROM people ORDER BY rowid"
            )
        ]


def rewritten(engine: Jobport) -> list[int]:
    with engine.database.connect() as conn:
        return [row[0] for row in conn.exec_driver_sql("SELECT id FROM rewrites ORDER BY id")]


def failures(engine: Jobport, run: RunRecord) -> list[tuple[Any, ...]]:
    items, _ = engine.store.list_failures(run.id)
    return [(f["line"], f["column"], f["message"]) for f in items]


def test_each_run_counts_rows_created_updated_and_unchanged(
    engine: Jobport, tmp_path: Path
) -> None:
    first = run_file(engine, write(tmp_path / "a.csv", FIRST))
    assert (first.status, counts(first)) == (RunStatus.COMPLETED, (5, 0, 0))
    second = run_file(engine, write(tmp_path / "b.csv", SECOND))
    assert second.status == RunStatus.COMPLETED_WITH_ERRORS
    assert (second.processed, second.failed) == (6, 1)
    assert counts(second) == (1, 1, 2)
    # Only the changed row was written again; the unchanged ones were not touched.
    assert rewritten(engine) == [2]
    names = {row[1]: row[3] for row in snapshot(engine)}
    assert names == {1: "Ada", 2: "Robert", 3: "Cy", 4: "Di", 5: "Ed", 6: "Fay"}
    chunks = engine.store.chunks(second.id)
    assert [(c["created"], c["updated"], c["unchanged"]) for c in chunks] == [(0, 1, 2), (1, 0, 0)]
    again = run_file(engine, write(tmp_path / "b.csv", SECOND))
    assert counts(again) == (0, 0, 4)


def test_a_dry_run_writes_nothing_and_reports_what_the_import_then_does(
    engine: Jobport, tmp_path: Path
) -> None:
    run_file(engine, write(tmp_path / "a.csv", FIRST))
    before = snapshot(engine)
    path = write(tmp_path / "b.csv", SECOND)
    dry = run_file(engine, path, dry_run=True)
    assert dry.dry_run
    assert dry.status == RunStatus.COMPLETED_WITH_ERRORS
    assert (dry.chunks_done, dry.processed, dry.failed) == (2, 6, 1)
    assert snapshot(engine) == before
    assert rewritten(engine) == []
    real = run_file(engine, path)
    assert not real.dry_run
    assert counts(dry) == counts(real) == (1, 1, 2)
    assert failures(engine, dry) == failures(engine, real) != []


def test_a_dry_run_is_imported_from_its_stored_upload_once(engine: Jobport, tmp_path: Path) -> None:
    service = JobService(engine)
    who = Principal.operator()
    run_file(engine, write(tmp_path / "a.csv", FIRST))
    path = write(tmp_path / "b.csv", SECOND)
    start = ImportStart("people", source_key="", controls={"dry_run": True, "max_failures": 5})
    dry = service.wait(who, service.start_import_file(who, path, start).id)
    path.unlink()  # the file is not sent again
    run = service.wait(who, service.start_from_dry_run(who, dry.id).id)
    assert (run.status, run.dry_run, counts(run)) == (
        RunStatus.COMPLETED_WITH_ERRORS,
        False,
        (1, 1, 2),
    )
    assert run.params["from_dry_run"] == dry.id
    assert run.params["controls"] == {"max_failures": 5}
    assert engine.store.get_run(dry.id).result == {"imported_as": run.id}
    assert engine.store.get_run(dry.id).source_key is None  # the file is the new run's now
    assert failures(engine, run) == failures(engine, dry)
    with pytest.raises(RunStateError, match=f"already imported as run {run.id}"):
        service.start_from_dry_run(who, dry.id)
    with pytest.raises(InputError, match="is not a dry run"):
        service.start_from_dry_run(who, run.id)


def test_the_chunk_that_passes_a_failure_threshold_is_not_written(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    engine = make_jobport(registry=registry())
    rows = [[str(i), f"P{i}", "1", ""] for i in range(1, 13)]
    rows[1][2] = rows[4][2] = rows[5][2] = "bad"  # one failure in chunk 0, two in chunk 1
    run = run_file(engine, write(tmp_path / "t.csv", rows), max_failures=2)
    assert run.status == RunStatus.FAILED
    assert run.error is not None
    assert run.error.startswith(
        "stopped after 3 failures (max 2); the chunk that passed it (4 rows) was not written "
        "and chunk 0 (4 rows) was committed; its first rejected rows: line 6: score: 'bad' "
    )
    assert "; line 7: score: 'bad' " in run.error
    assert run.error.endswith("; a dry run lists them all")
    # Chunk 1 brought the third failure: none of its rows, failures or counts were kept.
    assert [c["status"] for c in engine.store.chunks(run.id)] == ["done", "pending", "pending"]
    assert (run.processed, run.failed, counts(run)) == (4, 1, (3, 0, 0))
    assert sorted(row[1] for row in snapshot(engine)) == [1, 3, 4]
    assert [line for line, _, _ in failures(engine, run)] == [3]
    assert engine.store.get_run(run.id).chunks_done == 1
    # A dry run writes nothing anyway: it checks the chunk that passed and stops after it.
    dry = run_file(engine, write(tmp_path / "t.csv", rows), dry_run=True, max_failures=2)
    assert dry.error == (
        "stopped after 3 failures (max 2); chunks 0-1 (8 rows) were checked; nothing was written"
    )
    with pytest.raises(RunStateError, match="only a completed dry run can be imported"):
        JobService(engine).start_from_dry_run(Principal.operator(), dry.id)


def test_the_type_sets_default_thresholds_and_a_run_overrides_them(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    engine = make_jobport(registry=registry(max_failure_ratio=0.2))
    rows = [[str(i), f"P{i}", "1", ""] for i in range(1, 9)]
    rows[0][2] = "bad"
    path = write(tmp_path / "t.csv", rows)
    stopped = run_file(engine, path)
    assert stopped.error is not None
    assert stopped.error.startswith(
        "stopped after 1 failure in 4 rows (25.0%, max 20.0%); the chunk that passed it "
        "(4 rows) was not written and nothing was committed; its first rejected rows: line 2: "
    )
    assert snapshot(engine) == []
    assert run_file(engine, path, max_failure_ratio=0.5).status == RunStatus.COMPLETED_WITH_ERRORS
    with pytest.raises(RegistryError, match="max_failure_ratio"):
        Importer(row=Person, key="id", max_failure_ratio=1.5)


def test_a_run_whose_every_row_failed_fails(engine: Jobport, tmp_path: Path) -> None:
    events: list[JobEvent] = []
    engine.bus.subscribe(events.append)
    rows = [[str(i), f"P{i}", "bad", ""] for i in range(1, 7)]
    run = run_file(engine, write(tmp_path / "bad.csv", rows))
    assert (run.status, run.processed, run.failed) == (RunStatus.FAILED, 6, 6)
    assert run.error == "every row failed (6 of 6); nothing was written"
    assert events[-1].name == "JobFailed"
    assert events[-1].status == "failed"
    stats = JobService(engine).run_stats(
        Principal.operator(),
        since=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
        until=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    (people,) = stats.types
    assert (people.failed, people.with_errors, people.completed) == (1, 0, 0)


def test_events_carry_the_counts(engine: Jobport, tmp_path: Path) -> None:
    events: list[JobEvent] = []
    engine.bus.subscribe(events.append)
    run_file(engine, write(tmp_path / "a.csv", FIRST), dry_run=True)
    assert [(e.name, e.created, e.dry_run) for e in events] == [
        ("JobProgressed", 4, True),
        ("JobCompleted", 5, True),
    ]


def test_transformed_rows_are_counted_once_per_key(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    def shout(row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "name": row["name"].upper()}

    engine = make_jobport(registry=registry(transform=shout))
    run = run_file(engine, write(tmp_path / "t.csv", [*FIRST[:2], ["1", "again", "1", ""]]))
    assert counts(run) == (2, 0, 0)
    assert {row[1]: row[3] for row in snapshot(engine)} == {1: "AGAIN", 2: "BOB"}


def test_failure_limits_and_their_words() -> None:
    assert FailureLimits(max_failures=2).exceeded(2, 10) is None
    assert FailureLimits(max_failures=2).exceeded(3, 10) == "3 failures (max 2)"
    assert FailureLimits(max_failure_ratio=0.5).exceeded(5, 10) is None
    assert FailureLimits(max_failure_ratio=0.5).exceeded(6, 10) == (
        "6 failures in 10 rows (60.0%, max 50.0%)"
    )
    assert FailureLimits(max_failure_ratio=0.5).exceeded(0, 0) is None
    assert number_ranges([5, 0, 1, 2, 3, 7, 8]) == "0-3, 5, 7-8"
    assert status_when_done(3, 3) == RunStatus.FAILED
    assert status_when_done(2, 3) == RunStatus.COMPLETED_WITH_ERRORS
    assert status_when_done(0, 0) == RunStatus.COMPLETED


def test_the_cli_says_the_counts(
    engine: Jobport, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from jobport.cli.context import Context
    from jobport.cli.output import describe_run, finish_run

    run_file(engine, write(tmp_path / "a.csv", FIRST))
    run = run_file(engine, write(tmp_path / "b.csv", SECOND))
    command = Context().command
    finish_run(run, as_json=False, command=command)
    assert capsys.readouterr().out == (
        f"run {run.id} completed_with_errors: 6 of 6 rows, 1 failed; 1 created, 1 updated, "
        f"2 unchanged (see: jobport failures {run.id})\n"
    )
    finish_run(run, as_json=True, command=command)
    shown = json.loads(capsys.readouterr().out)
    assert (shown["created"], shown["updated"], shown["unchanged"], shown["dry_run"]) == (
        1,
        1,
        2,
        False,
    )
    assert ("outcome", "1 created, 1 updated, 2 unchanged") in describe_run(run)


def test_rows_a_later_row_of_the_same_key_replaced_are_said(
    engine: Jobport, tmp_path: Path
) -> None:
    """A later row of the same key wins (the upsert meets each key once): the rows it
    replaced are written nowhere, so the counts leave them out and a warning says how
    many, for the whole run (chunks of 4 rows: two in the first, one in the second)."""
    rows = [["1", "Ann", "1", ""], ["1", "Anne", "1", ""], ["2", "Bob", "1", ""]]
    rows += [["2", "Bob", "1", ""], ["3", "Cy", "1", ""], ["3", "Cyd", "1", ""]]
    run = run_file(engine, write(tmp_path / "dup.csv", rows))
    assert (run.processed, run.failed, counts(run)) == (6, 0, (3, 0, 0))
    assert sorted((row[1], row[3]) for row in snapshot(engine)) == [
        (1, "Anne"),
        (2, "Bob"),
        (3, "Cyd"),
    ]
    assert run.warnings == [
        "3 rows of the file were replaced by a later row with the same key "
        "(the last row of each key is written)"
    ]
    once = run_file(engine, write(tmp_path / "one.csv", rows[:2]))
    assert once.warnings == [
        "1 row of the file was replaced by a later row with the same key "
        "(the last row of each key is written)"
    ]


def test_a_file_of_a_header_alone_completes_saying_so(engine: Jobport, tmp_path: Path) -> None:
    run = run_file(engine, write(tmp_path / "empty.csv", []))
    assert (run.status, run.total, run.processed) == (RunStatus.COMPLETED, 0, 0)
    assert run.warnings == ["the file holds a header and no rows: nothing was imported"]
