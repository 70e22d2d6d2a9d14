"""The undo log stays exact whatever point a worker is SIGKILLed at, in the import and the undo.

A local pool of two workers imports a small file (four chunks) into a seeded
table of several column types; a worker kills itself with SIGKILL in one
chunk (rows written but not logged, COMMIT about to be sent, or COMMIT just
landed: see :mod:`tests.reliability.undo_app`), and the pool takes its chunks
back and delivers them again. Then the import is undone with a worker killed
the same way, and the undo is undone (a redo) with another kill. The table is
compared as stored (every column with its storage class, or PostgreSQL's text
form): the undo gives back the table before the import exactly, the redo the
table after it.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from jobport import Jobport
from jobport.lifecycle import RunStatus
from jobport.principal import Principal
from jobport.service import ImportStart, JobService
from jobport.store import RunRecord
from jobport.store.tables import job_chunks, job_undo_log
from jobport.undoing import Undoing

from .conftest import Place, wait_until
from .undo_app import ARMED, POINTS, people

APP = "tests.reliability.undo_app"
OPERATOR = Principal.operator()
#: The table before: rows 1-8, ``note`` fed by no file.
SEED = [
    (1, "Ada", Decimal("12.50"), 0.1, "kept"),
    (2, "Bob", None, 1e-300, None),
    (3, "Cy", Decimal("3.00"), None, "n"),
    (4, "Di", Decimal("1.10"), -0.0, "x"),
    (5, "Ed", Decimal("0.00"), 2.5, None),
    (6, "Fay", Decimal("9.99"), 3.0, "z"),
    (7, "Gus", None, None, None),
    (8, "Hal", Decimal("1.00"), 1.5, "h"),
]
#: Four chunks of four: updates, inserts, rows left as they were (2, 8), and row 4
#: changed by chunks 0 and 1 (imports commit in file order: chunk 1's value stays).
FILE = [
    ["1", "Ada L.", "12.5", "0.1"],
    ["2", "Bob", "", "1e-300"],
    ["4", "Dinah", "1.1", "0"],
    ["20", "New", "2", ""],
    ["3", "Cyrus", "4", ""],
    ["4", "Diana", "1.2", "-0.0"],
    ["21", "Newer", "", "1e300"],
    ["5", "Eddie", "0", "2.5"],
    ["6", "Faye", "9.99", "3"],
    ["22", "Newest", "7.25", "0.3"],
    ["7", "Gustav", "1", ""],
    ["23", "Last", "", ""],
    ["8", "Hal", "1", "1.5"],
    ["24", "Z", "0.01", "-1"],
    ["25", "Y", "", ""],
    ["26", "X", "3", "4"],
]
#: The rows each import chunk changes (row 4 by both of the first two chunks).
CHANGED = {0: {1, 4, 20}, 1: {3, 4, 21, 5}, 2: {6, 22, 7, 23}, 3: {24, 25, 26}}
TIMEOUT = 60.0


def seed(engine: Jobport) -> None:
    names = [c.name for c in people.c]
    with engine.database.begin() as conn:
        conn.execute(people.insert(), [dict(zip(names, row, strict=True)) for row in SEED])


def dump(engine: Jobport) -> list[tuple[Any, ...]]:
    """Every row, every column as stored, in key order."""
    with engine.database.connect() as conn:
        if engine.database.dialect.name == "sqlite":
            shown = ", ".join(f"{c.name}, typeof({c.name})" for c in people.c)
            sql = f"SELECT {shown} FROM people ORDER BY id"
        else:
            sql = "SELECT id, people::text FROM people ORDER BY id"
        return [tuple(row) for row in conn.exec_driver_sql(sql)]


def write_file(folder: Path) -> Path:
    path = folder / "people.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["id", "name", "score", "ratio"], *FILE])
    return path


def logged(engine: Jobport, run_id: str) -> list[tuple[int, int]]:
    """(chunk, id) of each row the run's undo log holds (a key is ``[1]``, or ``["1"]``
    as PostgreSQL's text form)."""
    query = sa.select(job_undo_log.c.chunk_no, job_undo_log.c.row_keys).where(
        job_undo_log.c.run_id == run_id
    )
    with engine.database.connect() as conn:
        return sorted(
            (int(no), int(key[0])) for no, keys in conn.execute(query) for key in json.loads(keys)
        )


def attempts(engine: Jobport, run_id: str) -> list[int]:
    """Each chunk's attempts, in chunk order."""
    query = (
        sa.select(job_chunks.c.attempts)
        .where(job_chunks.c.run_id == run_id)
        .order_by(job_chunks.c.no)
    )
    with engine.database.connect() as conn:
        return [int(n) for n in conn.execute(query).scalars()]


class Killer:
    """Arms the next kill and checks it happened (see :mod:`tests.reliability.undo_app`)."""

    def __init__(self, place: Place) -> None:
        self.flags = place.flags

    def arm(self, point: str, chunk: int) -> None:
        (self.flags / ARMED).write_text(f"{point} {chunk}")

    def fired(self) -> int:
        assert not (self.flags / ARMED).exists(), "no worker reached the armed point"
        fired = list(self.flags.glob("fired-*"))
        for path in fired:
            path.unlink()
        return len(fired)


def finished(service: JobService, run: RunRecord) -> RunRecord:
    def ended() -> RunRecord | None:
        now = service.run(OPERATOR, run.id)
        return now if now.finished else None

    done = wait_until(ended, timeout=TIMEOUT, what=f"run {run.id} to finish", every=0.02)
    assert done is not None
    return done


def undo(service: JobService, run_id: str) -> RunRecord:
    return finished(service, Undoing(service).undo(OPERATOR, run_id))


@pytest.fixture
def killer(place: Place, monkeypatch: pytest.MonkeyPatch) -> Killer:
    monkeypatch.setenv("UNDO_KILLS_SPARE", str(os.getpid()))
    return Killer(place)


def assert_killed_once(engine: Jobport, run: RunRecord, point: str, chunk: int) -> None:
    """The killed chunk was attempted again, unless its commit had landed.

    (The other worker's chunk may have been taken back with the broken pool too.)
    """
    assert attempts(engine, run.id)[chunk] == (1 if point == "after" else 2)


def import_undo_redo(
    place: Place, killer: Killer, engine: Jobport, point: str, chunks: tuple[int, int, int]
) -> None:
    """Import, undo, redo: a worker killed at ``point`` in the given chunk of each."""
    seed(engine)
    service = JobService(engine)
    before = dump(engine)

    killer.arm(point, chunks[0])
    run = service.start_import_file(
        OPERATOR, write_file(place.folder), ImportStart(type="people", source_key="")
    )
    run = finished(service, run)
    assert killer.fired() == 1
    assert_killed_once(engine, run, point, chunks[0])
    assert (run.status, run.processed, run.failed) == (RunStatus.COMPLETED, len(FILE), 0)
    after_import = dump(engine)
    assert after_import != before
    # Exactly one entry per row each chunk changed: the killed chunk's logged once or not.
    assert logged(engine, run.id) == sorted(
        (no, key) for no, keys in CHANGED.items() for key in keys
    )

    killer.arm(point, chunks[1])
    undone = undo(service, run.id)
    assert killer.fired() == 1
    assert_killed_once(engine, undone, point, chunks[1])
    assert (undone.status, undone.failed) == (RunStatus.COMPLETED, 0)
    assert dump(engine) == before

    killer.arm(point, chunks[2])
    redone = undo(service, undone.id)
    assert killer.fired() == 1
    assert_killed_once(engine, redone, point, chunks[2])
    assert (redone.status, redone.failed) == (RunStatus.COMPLETED, 0)
    assert dump(engine) == after_import


@pytest.mark.timeout(120)
@pytest.mark.parametrize("point", POINTS)
def test_workers_killed_in_import_undo_and_redo_leave_the_table_exact(
    place: Place, killer: Killer, point: str
) -> None:
    engine = place.jobport(app=APP, executor="local", workers=2)
    import_undo_redo(place, killer, engine, point, (1, 0, 2))


@pytest.fixture
def postgres_place(place: Place, postgres_url: str) -> Iterator[str]:
    from tests.conftest import migrated_schema

    with migrated_schema(postgres_url) as url:
        yield url


@pytest.mark.postgres
@pytest.mark.timeout(120)
def test_on_postgresql_a_worker_killed_inside_commits_leaves_the_table_exact(
    place: Place, killer: Killer, postgres_place: str
) -> None:
    engine = place.jobport(app=APP, executor="local", workers=2, database_url=postgres_place)
    try:
        import_undo_redo(place, killer, engine, "commit", (0, 1, 3))
    finally:
        engine.close()
