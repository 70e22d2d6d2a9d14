"""The undo log's records: one per chunk, values as sent compared as stored, the move
from 0008's entries (migration 0009), later runs, composite keys.

``tests/integration/test_undo.py`` covers undo, redo and conflicts end to end;
these cover what the record form of the log adds.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel, Field

from jobport import Importer, Jobport, JobRegistry, JobType, Settings
from jobport.lifecycle import RunStatus
from jobport.principal import Principal
from jobport.service import ImportStart, JobService
from jobport.store import JobStore, make_engine
from jobport.store.migrations import upgrade
from jobport.store.tables import job_undo_log
from jobport.store.undo import LogRecord, chunk_records, insert_record
from jobport.targets.undoimages import Images, entries_of, record
from jobport.undoing import Undoing

OPERATOR = Principal.operator()

MEASURES = sa.Table(
    "measures",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("amount", sa.Numeric(8, 2)),
    sa.Column("ratio", sa.Float),
    sa.Column("day", sa.Date),
    sa.Column("label", sa.String(20)),
)


class Measure(BaseModel):
    id: int = Field(ge=1)
    amount: Decimal | None = Field(default=None, max_digits=8, decimal_places=2)
    ratio: float | None = None
    day: dt.date | None = None
    label: str | None = None


#: Values SQLite stores otherwise than they are sent: 3.00 (a float 3.0) as the integer 3
#: in a NUMERIC column, -0.0 as 0.0 in a REAL one, a date as its text.
FILE = [
    ["id", "amount", "ratio", "day", "label"],
    ["1", "3.00", "-0.0", "2024-01-02", "one"],
    ["2", "2.50", "12", "", "two"],
    ["3", "", "0.1", "2024-02-29", ""],
    ["4", "7", "1e-300", "", "four"],
    ["5", "0.00", "", "2025-12-31", "five"],
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobService]:
    if request.param == "sqlite":
        yield from measures_service(f"sqlite:///{tmp_path / 's.db'}", tmp_path)
        return
    from tests.conftest import migrated_schema

    with migrated_schema(request.getfixturevalue("postgres_url")) as url:
        yield from measures_service(url, tmp_path)


def measures_service(url: str, tmp_path: Path, chunk_size: int = 2) -> Iterator[JobService]:
    """A service over ``url`` with the undoable ``measures`` type, running chunks inline."""
    registry = JobRegistry()
    registry.add(
        JobType(
            type="measures",
            label="Measures",
            kind="import",
            model=MEASURES,
            handler=Importer(row=Measure, key="id"),
            chunk_size=chunk_size,
            undoable=True,
        )
    )
    settings = Settings(database_url=url, storage_url=str(tmp_path / "files"), executor="inline")
    with Jobport(settings, registry=registry) as engine:
        yield JobService(engine)


def dump(service: JobService) -> list[tuple[Any, ...]]:
    database = service.engine.database
    sql = (
        "SELECT id, amount, typeof(amount), ratio, typeof(ratio), day, label FROM measures"
        if database.dialect.name == "sqlite"
        else "SELECT id, measures::text FROM measures"
    )
    with database.connect() as conn:
        return sorted(tuple(row) for row in conn.exec_driver_sql(sql + " ORDER BY id"))


def run_import(service: JobService, path: Path) -> str:
    run = service.start_import_file(OPERATOR, path, ImportStart(type="measures", source_key=""))
    run = service.wait(OPERATOR, run.id)
    assert run.status == RunStatus.COMPLETED
    return run.id


def test_a_first_import_logs_a_record_per_chunk_and_its_undo_compares_values_as_stored(
    service: JobService, tmp_path: Path
) -> None:
    path = tmp_path / "measures.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(FILE)
    run_id = run_import(service, path)
    imported = dump(service)
    database = service.engine.database
    with database.connect() as conn:
        logged = conn.execute(
            sa.select(job_undo_log.c.chunk_no, job_undo_log.c.rows, job_undo_log.c.inserted)
            .where(job_undo_log.c.run_id == run_id)
            .order_by(job_undo_log.c.chunk_no)
        ).all()
    assert [tuple(row) for row in logged] == [(0, 2, 2), (1, 2, 2), (2, 1, 1)]
    # Nothing was read back: the log holds row 4's amount as sent (7, a float for SQLite's
    # driver, a decimal's text for PostgreSQL's COPY), not as stored (7, 7.00).
    with database.connect() as conn:
        (second,) = chunk_records(conn, run_id, 1)
    after = {entry.key_id: entry.after for entry in entries_of(second)}
    sqlite = database.dialect.name == "sqlite"
    assert after[(4,) if sqlite else ("4",)] == {
        "id": 4,
        "amount": 7.0 if sqlite else "7",
        "ratio": 1e-300,
        "day": None,
        "label": "four",
    }
    with database.begin() as conn:
        conn.exec_driver_sql("UPDATE measures SET amount = 4 WHERE id = 1")
    undone = service.wait(OPERATOR, Undoing(service).undo(OPERATOR, run_id).id)
    # Row 1 changed since: reported with both values as stored; the others deleted.
    assert (undone.status, undone.failed) == (RunStatus.COMPLETED_WITH_ERRORS, 1)
    (message,) = [item["message"] for item in service.store.list_failures(undone.id)[0]]
    if database.dialect.name == "sqlite":
        assert "amount is now 4 (the run wrote 3)" in message
    else:
        assert "amount is now '4.00' (the run wrote '3.00')" in message
    assert [row[0] for row in dump(service)] == [1]
    forced = service.wait(OPERATOR, Undoing(service).undo(OPERATOR, run_id, force=True).id)
    assert (forced.status, forced.failed) == (RunStatus.COMPLETED, 0)
    assert dump(service) == []
    # Redone, each undo puts back the rows it deleted: row 1 as it was changed, the others
    # as the import stored them.
    for undo_run in (forced.id, undone.id):
        redone = service.wait(OPERATOR, Undoing(service).undo(OPERATOR, undo_run).id)
        assert (redone.status, redone.failed) == (RunStatus.COMPLETED, 0)
    changed = dump(service)
    assert changed[1:] == imported[1:]
    assert changed[0] != imported[0]


def test_a_composite_key_is_looked_up_through_its_index(tmp_path: Path) -> None:
    """A row value IN a VALUES list scans the whole table on SQLite; the join probes."""
    table = sa.Table(
        "pairs",
        sa.MetaData(),
        sa.Column("a", sa.Integer, primary_key=True),
        sa.Column("b", sa.String(10), primary_key=True),
        sa.Column("c", sa.Float),
    )
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"a": n, "b": str(n % 3), "c": n / 3} for n in range(50)])
        images = Images.of(conn, table, ["a", "b"])
        plan = [
            str(row[3])
            for row in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + images._lookup(["c"], 2, False), (4, "1", 5, "2")
            )
        ]
        rows = images.rows(conn, [(4, "1"), (5, "2"), (5, "0")], ["c"])
    engine.dispose()
    assert any(step.startswith("SEARCH t USING") for step in plan), plan
    assert not any(step.startswith("SCAN t") for step in plan), plan
    assert sorted(rows) == [(4, "1", 4 / 3), (5, "2", 5 / 3)]


def _store(tmp_path: Path, revision: str = "head") -> tuple[sa.Engine, JobStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade(engine, revision)
    return engine, JobStore(engine)


def test_later_runs_are_those_that_logged_one_of_the_runs_keys_after_it(tmp_path: Path) -> None:
    engine, store = _store(tmp_path)

    def log(run_id: str, keys: list[int], target: str = "people") -> None:
        logged = record(
            [[k] for k in keys], ["id"], [None] * len(keys), ["id"], [[k] for k in keys]
        )
        with engine.begin() as conn:
            insert_record(conn, run_id, 0, target, logged)

    log("earlier", [1, 2])
    log("mine", [1, 2, 3])
    log("disjoint", [4, 5])
    log("other-table", [1, 2, 3], target="orders")
    log("later", [9, 3])
    log("mine", [7])
    log("after-second-chunk", [7])
    assert store.later_runs_over("mine") == ["after-second-chunk", "later"]
    assert store.later_runs_over("later") == []
    assert store.later_runs_over("earlier") == ["mine"]
    summary = store.undo_summary("mine")
    assert (summary.chunks, summary.deleted, summary.reinserted) == ([(0, 4)], 4, 0)
    engine.dispose()


#: 0008's entries of one chunk: an update, an insert, a delete (an undo's), of two shapes.
OLD_ENTRIES = [
    ("[1]", '{"id":1,"name":"Ada","blob":{"$b":"AAE="}}', '{"name":"Ada L."}'),
    ("[7]", None, '{"name":"Gus"}'),
    ("[3]", '{"id":3,"name":"Cy","blob":null}', None),
    ("[4]", '{"id":4,"name":"Di","blob":{"$f":"inf"}}', '{"name":"Dinah"}'),
]


def test_migration_0009_moves_the_logged_entries_into_records_and_back(tmp_path: Path) -> None:
    engine, store = _store(tmp_path, "0008_fixes")
    with engine.begin() as conn:
        for entry in OLD_ENTRIES:
            conn.exec_driver_sql(
                "INSERT INTO job_undo_log (run_id, chunk_no, target, key, before, after) "
                "VALUES ('r', 2, 'people', ?, ?, ?)",
                entry,
            )
    upgrade(engine)
    with engine.connect() as conn:
        records = chunk_records(conn, "r", 2)
    entries = [entry for logged in records for entry in entries_of(logged)]
    assert sorted((json.dumps(e.key), e.before, e.after) for e in entries) == sorted(
        (
            key,
            None if before is None else json.loads(before, object_hook=_untag_float),
            None if after is None else json.loads(after),
        )
        for key, before, after in OLD_ENTRIES
    )
    assert [(r.rows, r.inserted, r.deleted) for r in records] == [(2, 0, 0), (1, 1, 0), (1, 0, 1)]
    summary = store.undo_summary("r")
    assert (summary.chunks, summary.restored, summary.deleted, summary.reinserted) == (
        [(2, 4)],
        2,
        1,
        1,
    )
    _downgrade(engine)
    with engine.connect() as conn:
        back = conn.exec_driver_sql(
            "SELECT key, before, after FROM job_undo_log WHERE run_id = 'r' AND chunk_no = 2"
        ).all()
    assert sorted(_decoded(row) for row in back) == sorted(_decoded(row) for row in OLD_ENTRIES)
    engine.dispose()


def _untag_float(value: dict[str, Any]) -> Any:
    return float(value["$f"]) if set(value) == {"$f"} else value


def _decoded(row: Any) -> tuple[Any, ...]:
    return tuple(None if text is None else json.dumps(json.loads(text)) for text in row)


def _downgrade(engine: sa.Engine) -> None:
    from alembic import command

    from jobport.store.migrations import alembic_config

    command.downgrade(alembic_config(engine), "0008_fixes")


def test_a_record_is_read_back_as_written() -> None:
    logged = record(
        [(1,), (2,)],
        ["id", "v"],
        [None, (2, b"\x00\xff")],
        ["id", "v"],
        [(1, float("inf")), (2, -0.0)],
    )
    assert isinstance(logged, LogRecord)
    assert (logged.rows, logged.inserted, logged.deleted) == (2, 1, 0)
    (one, two) = entries_of(logged)
    assert (one.key, one.before, one.after) == ([1], None, {"id": 1, "v": float("inf")})
    assert two.before == {"id": 2, "v": {"$b": "AP8="}}
    assert two.after is not None
    assert repr(two.after["v"]) == "-0.0"
