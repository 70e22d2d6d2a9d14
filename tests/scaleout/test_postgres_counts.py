"""PostgreSQL as target: created/updated/unchanged counts, dry runs and thresholds.

The COPY path (direct load, then staging merge) and the ``executemany`` path
(a JSON column has no COPY form) each count what they did; a matched row whose
fed columns already held the values keeps its row version (``xmin``, ``ctid``):
it was not rewritten. A dry run leaves every row version as it was and reports
the counts the import then produces.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import Json
from tests.unit.test_import_outcomes import FIRST, HEADER, SECOND, Person, people_table

from jobport import Importer, Jobport, JobRegistry, JobType, Settings
from jobport.lifecycle import RunStatus
from jobport.store import RunRecord
from jobport.targets import pgcopy

pytestmark = pytest.mark.postgres


class Tagged(Person):
    tags: Json[dict[str, Any]] | None = None


def registry() -> JobRegistry:
    reg = JobRegistry()
    reg.add(
        JobType(
            type="people",
            label="People",
            kind="import",
            model=people_table(),
            handler=Importer(row=Person, key="id"),
            chunk_size=4,
        )
    )
    tagged = people_table().to_metadata(sa.MetaData(), name="tagged")
    tagged.append_column(sa.Column("tags", sa.JSON))
    reg.add(
        JobType(
            type="tagged",
            label="Tagged",
            kind="import",
            model=tagged,
            handler=Importer(row=Tagged, key="id"),
            chunk_size=4,
        )
    )
    return reg


@pytest.fixture
def engine(postgres_schema_url: str, tmp_path: Path) -> Iterator[Jobport]:
    pgcopy._conflicts.clear()
    settings = Settings(
        database_url=postgres_schema_url,
        storage_url=str(tmp_path / "files"),
        executor="inline",
        retry_backoff_seconds=0.0,
    )
    with Jobport(settings, registry=registry()) as jobport:
        yield jobport


def write(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def run_file(engine: Jobport, type: str, path: Path, **controls: Any) -> RunRecord:
    return engine.wait(engine.import_file(type, path, controls=controls).id, timeout=60)


def versions(engine: Jobport, table: str = "people") -> dict[int, tuple[Any, ...]]:
    """Each row's version (ctid, xmin) and values: equal only if it was never rewritten."""
    with engine.database.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT id, ctid::text, xmin::text, * FROM {table}")
        return {row[0]: tuple(row[1:]) for row in rows}


def counts(run: RunRecord) -> tuple[int | None, int | None, int | None]:
    return run.created, run.updated, run.unchanged


def test_copy_path_counts_and_rewrites_only_changed_rows(engine: Jobport, tmp_path: Path) -> None:
    first = run_file(engine, "people", write(tmp_path / "a.csv", FIRST))
    assert (first.status, counts(first)) == (RunStatus.COMPLETED, (5, 0, 0))
    before = versions(engine)
    path = write(tmp_path / "b.csv", SECOND)
    dry = run_file(engine, "people", path, dry_run=True)
    assert versions(engine) == before
    assert (dry.dry_run, dry.status, counts(dry)) == (
        True,
        RunStatus.COMPLETED_WITH_ERRORS,
        (1, 1, 2),
    )
    second = run_file(engine, "people", path)
    assert counts(second) == counts(dry)
    after = versions(engine)
    assert [after[i] == before[i] for i in (1, 2, 3, 4, 5)] == [True, False, True, True, True]
    assert after[2][3] == "Robert"
    assert counts(run_file(engine, "people", path)) == (0, 0, 4)


def test_executemany_path_counts_and_compares_json(engine: Jobport, tmp_path: Path) -> None:
    header = [*HEADER, "tags"]
    tag = json.dumps({"a": 1})
    first = [[*row, tag] for row in FIRST]
    run = run_file(engine, "tagged", write(tmp_path / "a.csv", first, header))
    assert counts(run) == (5, 0, 0)
    before = versions(engine, "tagged")
    second = [
        [*FIRST[0], tag],
        [*FIRST[1], json.dumps({"a": 2})],
        [*FIRST[2], tag],
        ["9", "Ivy", "", "", tag],
    ]
    path = write(tmp_path / "b.csv", second, header)
    dry = run_file(engine, "tagged", path, dry_run=True)
    assert versions(engine, "tagged") == before
    real = run_file(engine, "tagged", path)
    assert counts(dry) == counts(real) == (1, 1, 2)
    after = versions(engine, "tagged")
    assert [after[i] == before[i] for i in (1, 2, 3)] == [True, False, True]


def test_a_threshold_stops_a_run_on_postgres(engine: Jobport, tmp_path: Path) -> None:
    rows = [[str(i), f"P{i}", "1", ""] for i in range(1, 13)]
    rows[5][2] = rows[6][2] = "bad"
    run = run_file(engine, "people", write(tmp_path / "t.csv", rows), max_failures=1)
    assert run.status == RunStatus.FAILED
    assert run.error is not None
    assert run.error.startswith(
        "stopped after 2 failures (max 1); the chunk that passed it (4 rows) was not written "
        "and chunk 0 (4 rows) was committed; its first rejected rows: line 7: "
    )
    # Its rows were written before the run's lock (PostgreSQL's way), then rolled back.
    assert sorted(versions(engine)) == [1, 2, 3, 4]
    assert (run.processed, run.failed) == (4, 0)
