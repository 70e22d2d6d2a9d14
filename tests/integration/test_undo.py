"""Undoing an import, on SQLite and PostgreSQL (inline executor, three-row chunks).

Each test dumps the whole table (every column as stored: SQLite's values with
their storage class, PostgreSQL's text forms) before an import and compares
it after the undo: equal, or different exactly where a later run's rows were
left as they are and reported.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel, Field

from jobport import Importer, Jobport, JobRegistry, JobType, Settings
from jobport.errors import RunStateError
from jobport.lifecycle import RunStatus
from jobport.principal import Principal
from jobport.service import ImportStart, JobService
from jobport.store import RunRecord
from jobport.undoing import Undoing

HEADER = ["id", "name", "score", "ratio", "joined"]
#: The table before: rows 1-6, with a column no file feeds.
SEED = [
    (1, "Ada", Decimal("12.50"), 0.1, dt.date(2024, 1, 1), "kept"),
    (2, "Bob", None, 1e-300, None, "note"),
    (3, "Cy", Decimal("3.00"), None, dt.date(2024, 2, 2), None),
    (4, "Di", Decimal("1.10"), 2.5, None, "x"),
    (5, "Ed", Decimal("0.00"), -0.0, dt.date(2020, 5, 5), "y"),
    (6, "Fay", Decimal("9.99"), 3.0, None, "z"),
]
#: Import A: 1 changed, 2 the same, 3 changed, 7 and 8 new, 4 changed in two chunks.
FILE_A = [
    ["1", "Ada L.", "12.5", "0.1", "2024-01-01"],
    ["2", "Bob", "", "1e-300", ""],
    ["3", "Cy", "4", "", "2024-02-03"],
    ["7", "Gus", "7.25", "0.3", ""],
    ["4", "Dinah", "1.1", "2.5", ""],
    ["8", "Hal", "", "", "2025-01-01"],
    ["4", "Diana", "1.2", "2.5", ""],
]
#: Import B, over part of A's rows: 3 and 7 changed again, 5 changed (not A's).
FILE_B = [
    ["3", "Cyrus", "4", "", "2024-02-03"],
    ["7", "Gustav", "7.25", "0.3", ""],
    ["5", "Eddie", "0", "-0.0", "2020-05-05"],
]
OPERATOR = Principal.operator()


class Person(BaseModel):
    id: int = Field(ge=1)
    name: str
    score: Decimal | None = Field(default=None, max_digits=8, decimal_places=2)
    ratio: float | None = None
    joined: dt.date | None = None


PEOPLE = sa.Table(
    "people",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(40), nullable=False),
    sa.Column("score", sa.Numeric(8, 2)),
    sa.Column("ratio", sa.Float),
    sa.Column("joined", sa.Date),
    sa.Column("note", sa.String(20)),
)


def registry(*, undoable: bool = True) -> JobRegistry:
    reg = JobRegistry()
    reg.add(
        JobType(
            type="people",
            label="People",
            kind="import",
            model=PEOPLE,
            handler=Importer(row=Person, key="id"),
            chunk_size=3,
            undoable=undoable,
        )
    )
    return reg


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobService]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 's.db'}"
        yield from _service(url, tmp_path)
        return
    from tests.conftest import migrated_schema

    postgres_url: str = request.getfixturevalue("postgres_url")
    with migrated_schema(postgres_url) as url:
        yield from _service(url, tmp_path)


def _service(url: str, tmp_path: Path) -> Iterator[JobService]:
    settings = Settings(
        database_url=url,
        storage_url=str(tmp_path / "files"),
        executor="inline",
        retry_backoff_seconds=0.0,
    )
    with Jobport(settings, registry=registry()) as engine:
        with engine.database.begin() as conn:
            names = [c.name for c in PEOPLE.c]
            conn.execute(PEOPLE.insert(), [dict(zip(names, row, strict=True)) for row in SEED])
        yield JobService(engine)


def dump(service: JobService) -> list[tuple[Any, ...]]:
    """Every row, every column as stored, in key order."""
    database = service.engine.database
    with database.connect() as conn:
        if database.dialect.name == "sqlite":
            sql = (
                "SELECT id, typeof(id), name, score, typeof(score), ratio, typeof(ratio), "
                "joined, typeof(joined), note, typeof(note) FROM people ORDER BY id"
            )
        else:
            sql = "SELECT id, people::text FROM people ORDER BY id"
        return [tuple(row) for row in conn.exec_driver_sql(sql)]


def run_import(service: JobService, tmp_path: Path, rows: list[list[str]]) -> RunRecord:
    path = tmp_path / f"f{len(list(tmp_path.iterdir()))}.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([HEADER, *rows])
    run = service.start_import_file(OPERATOR, path, ImportStart(type="people", source_key=""))
    return service.wait(OPERATOR, run.id)


def undo(service: JobService, run_id: str, *, force: bool = False) -> RunRecord:
    run = Undoing(service).undo(OPERATOR, run_id, force=force)
    return service.wait(OPERATOR, run.id)


def messages(service: JobService, run: RunRecord) -> list[str]:
    items, _ = service.store.list_failures(run.id)
    return sorted(item["message"] for item in items)


def test_undo_restores_the_table_exactly_and_redo_reapplies_it(
    service: JobService, tmp_path: Path
) -> None:
    before = dump(service)
    imported = run_import(service, tmp_path, FILE_A)
    assert imported.status == RunStatus.COMPLETED
    after_import = dump(service)
    assert after_import != before
    preview = Undoing(service).preview(OPERATOR, imported.id)
    # 1, 3 and 4 (twice, in two chunks) restored; 7 and 8 deleted; 2 was unchanged.
    assert (preview.summary.restored, preview.summary.deleted) == (4, 2)
    assert preview.later_runs == []
    undone = undo(service, imported.id)
    assert (undone.kind, undone.status, undone.failed) == ("undo", RunStatus.COMPLETED, 0)
    assert dump(service) == before
    with pytest.raises(RunStateError, match="undone already"):
        Undoing(service).undo(OPERATOR, imported.id)
    redone = undo(service, undone.id)
    assert (redone.status, redone.failed) == (RunStatus.COMPLETED, 0)
    assert dump(service) == after_import
    assert undo(service, redone.id).status == RunStatus.COMPLETED
    assert dump(service) == before


def test_rows_a_later_run_changed_are_reported_not_overwritten_unless_forced(
    service: JobService, tmp_path: Path
) -> None:
    before = dump(service)
    first = run_import(service, tmp_path, FILE_A)
    run_import(service, tmp_path, FILE_B)
    after_b = {row[0]: row for row in dump(service)}
    preview = Undoing(service).preview(OPERATOR, first.id)
    assert len(preview.later_runs) == 1
    assert preview.warning is not None
    undone = undo(service, first.id)
    assert (undone.status, undone.failed) == (RunStatus.COMPLETED_WITH_ERRORS, 2)
    found = messages(service, undone)
    assert "name is now 'Cyrus' (the run wrote 'Cy')" in found[0]
    assert "name is now 'Gustav' (the run wrote 'Gus')" in found[1]
    rows = {row[0]: row for row in dump(service)}
    expected = {row[0]: row for row in before}
    for key in (3, 7, 5):  # B's rows: 3 and 7 left as B wrote them, 5 was never A's
        expected[key] = after_b[key]
    assert rows == expected
    forced = undo(service, first.id, force=True)
    assert (forced.status, forced.failed) == (RunStatus.COMPLETED, 0)
    restored = {row[0]: row for row in dump(service)}
    assert restored[3] == {row[0]: row for row in before}[3]
    assert 7 not in restored
    assert restored[5] == after_b[5]


def test_runs_that_cannot_be_undone_are_refused_with_the_reason(
    service: JobService, tmp_path: Path
) -> None:
    path = tmp_path / "dry.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([HEADER, *FILE_A])
    dry = service.start_import_file(
        OPERATOR, path, ImportStart(type="people", source_key="", controls={"dry_run": True})
    )
    dry = service.wait(OPERATOR, dry.id)
    with pytest.raises(RunStateError, match="dry run"):
        Undoing(service).undo(OPERATOR, dry.id)
    same = run_import(service, tmp_path, [["2", "Bob", "", "1e-300", ""]])
    with pytest.raises(RunStateError, match="changed no rows"):
        Undoing(service).undo(OPERATOR, same.id)
