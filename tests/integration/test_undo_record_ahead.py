"""A first import's undo record, made before the commit (``logged_write(first=...)``).

Where a read finds none of a chunk's keys in the table, its record is made
with the chunk, outside the commit's turn with SQLite's one writer. The commit
keeps it only if nothing was there and every row was inserted; these tests
hold it to the record made in the commit, and to what a row written meanwhile
(after the read, before the commit) must change.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import jobport.targets.undolog as undolog
from jobport.store import make_engine
from jobport.store.migrations import upgrade
from jobport.store.undo import LogRecord, chunk_records
from jobport.targets import undoimages
from jobport.targets.undoimages import entries_of
from jobport.targets.upsert import prepare_upsert

TABLE = sa.Table(
    "items",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("amount", sa.Float),
    sa.Column("label", sa.String(20)),
)
COLUMNS = ["id", "amount", "label"]
ROWS = [(i, i * 1.5, f"item {i}") for i in range(1, 41)]


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade(engine)
    TABLE.metadata.create_all(engine)
    yield engine
    engine.dispose()


def logged_chunk(database: Engine, first: Engine | None, run_id: str) -> Any:
    """The chunk's write, logged: prepared (and, with ``first``, its record made) now."""
    write = prepare_upsert(database.dialect, TABLE, ROWS, COLUMNS, ["id"])
    return undolog.undo_logged(
        write, TABLE, database.dialect, [(ROWS, COLUMNS, None)], ["id"],
        run_id=run_id, chunk_no=0, database=first,
    )  # fmt: skip


def commit(database: Engine, writer: Any, run_id: str) -> LogRecord:
    with database.begin() as conn:
        writer(conn)
        (logged,) = chunk_records(conn, run_id, 0)
    return logged


def test_a_first_imports_record_is_made_before_the_commit_and_is_the_same(
    database: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    real = undoimages.record

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append("record")
        return real(*args, **kwargs)

    monkeypatch.setattr("jobport.targets.undolog.record", counted)
    writer = logged_chunk(database, database, "ahead")
    assert made == ["record"]  # made with the chunk, before any transaction
    ahead = commit(database, writer, "ahead")
    assert made == ["record"]  # and not again in the commit

    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    upgrade(other)
    TABLE.metadata.create_all(other)
    in_commit = commit(other, logged_chunk(other, None, "ahead"), "ahead")
    assert made == ["record", "record"]
    other.dispose()
    assert ahead == in_commit
    assert (ahead.rows, ahead.inserted, ahead.deleted) == (len(ROWS), len(ROWS), 0)


def test_a_row_written_after_the_read_is_logged_with_its_image_before(
    database: Engine,
) -> None:
    writer = logged_chunk(database, database, "raced")  # the read finds nothing
    with database.begin() as conn:  # another writer, between the read and the commit
        conn.execute(TABLE.insert().values(id=7, amount=99.0, label="theirs"))
    logged = commit(database, writer, "raced")

    assert (logged.rows, logged.inserted) == (len(ROWS), len(ROWS) - 1)
    entries = {entry.key_id: entry for entry in entries_of(logged)}
    seven = entries[(7,)]
    assert seven.before == {"id": 7, "amount": 99.0, "label": "theirs"}
    assert seven.after == {"id": 7, "amount": 10.5, "label": "item 7"}
    assert entries[(8,)].before is None
