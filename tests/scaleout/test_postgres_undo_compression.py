"""The undo log's records on PostgreSQL: compressed with lz4 (migration 0010), undone as before.

0009 stored a chunk's keys and images out of line uncompressed (pglz cost three
times the write); 0010 sets lz4 on both columns where the server has it (this
machine's PostgreSQL 15 does; a server without it keeps 0009's form): about
2.4 times fewer bytes written and logged. The downgrade restores 0009's form.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.integration.test_undo_log import OPERATOR, measures_service

from jobport.lifecycle import RunStatus
from jobport.service import ImportStart, JobService
from jobport.store import make_engine
from jobport.store.migrations import alembic_config, upgrade
from jobport.undoing import Undoing

pytestmark = pytest.mark.postgres

ROWS = 3_000
SETTINGS = (
    "SELECT attname, attstorage, attcompression FROM pg_attribute"
    " WHERE attrelid = 'job_undo_log'::regclass AND attname IN ('row_keys', 'images')"
    " ORDER BY attname"
)


def column_settings(engine: sa.Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        return [(str(n), str(s), str(c)) for n, s, c in conn.exec_driver_sql(SETTINGS)]


def has_lz4(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        found = conn.exec_driver_sql(
            "SELECT 1 FROM pg_settings"
            " WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
        ).first()
    return found is not None


@pytest.fixture
def lz4_engine(pg_engine: sa.Engine) -> sa.Engine:
    if not has_lz4(pg_engine):
        pytest.skip("this PostgreSQL has no lz4 (older than 14, or built without it)")
    return pg_engine


def test_migrated_columns_are_compressed_with_lz4_and_the_downgrade_restores_external(
    lz4_engine: sa.Engine,
) -> None:
    from alembic import command

    assert column_settings(lz4_engine) == [("images", "x", "l"), ("row_keys", "x", "l")]
    command.downgrade(alembic_config(lz4_engine), "0009_undo_records")
    assert column_settings(lz4_engine) == [("images", "e", ""), ("row_keys", "e", "")]
    upgrade(lz4_engine)
    assert column_settings(lz4_engine) == [("images", "x", "l"), ("row_keys", "x", "l")]


@pytest.fixture
def service(pg_url: str, lz4_engine: sa.Engine, tmp_path: Path) -> Iterator[JobService]:
    yield from measures_service(pg_url, tmp_path, chunk_size=ROWS)


def dump(engine: sa.Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, measures::text FROM measures ORDER BY id")
        return [tuple(row) for row in rows]


def test_an_import_logs_an_lz4_record_that_its_undo_and_redo_read_back(
    service: JobService, pg_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "measures.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "amount", "ratio", "day", "label"])
        for n in range(1, ROWS + 1):
            writer.writerow([n, f"{n % 1000}.25", n / 7, "2024-01-02", f"label {n}"])
    started = service.start_import_file(OPERATOR, path, ImportStart(type="measures", source_key=""))
    run = service.wait(OPERATOR, started.id)
    assert run.status == RunStatus.COMPLETED
    engine = make_engine(pg_url)
    try:
        imported = dump(engine)
        assert len(imported) == ROWS
        with engine.connect() as conn:
            logged = conn.exec_driver_sql(
                "SELECT rows, pg_column_compression(row_keys), pg_column_compression(images)"
                " FROM job_undo_log WHERE run_id = %(run)s",
                {"run": run.id},
            ).all()
        # One record of the whole file, both values large enough to be compressed: by lz4.
        assert [tuple(row) for row in logged] == [(ROWS, "lz4", "lz4")]
        undone = service.wait(OPERATOR, Undoing(service).undo(OPERATOR, run.id).id)
        assert (undone.status, undone.failed) == (RunStatus.COMPLETED, 0)
        assert dump(engine) == []
        redone = service.wait(OPERATOR, Undoing(service).undo(OPERATOR, undone.id).id)
        assert (redone.status, redone.failed) == (RunStatus.COMPLETED, 0)
        assert dump(engine) == imported
    finally:
        engine.dispose()
