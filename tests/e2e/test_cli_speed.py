"""What keeps the CLI quick, as structure (timings live in ``bench/cli_bench.py``).

A command loads only what it uses (``python -X importtime`` lists every module
a process imports), the schema check at start imports no Alembic when the
database is at head, and a run of one chunk starts no worker process.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

import jobport
from jobport import Jobport, Settings
from jobport.store.migrations import current, head, upgrade

#: Never on the path of a command that neither serves nor talks to Celery.
SERVER_AND_EXTRAS = frozenset({"fastapi", "uvicorn", "jinja2", "pyarrow", "celery", "starlette"})


def imported_modules(tmp_path: Path, *args: str) -> set[str]:
    """Every module ``python -m jobport.cli ARGS`` imports, from ``-X importtime``."""
    env = {
        **os.environ,
        "JOBPORT_APP": "jobport.demo",
        "JOBPORT_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "JOBPORT_STORAGE_URL": str(tmp_path / "files"),
    }
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "jobport.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    names = {line.rsplit("|", 1)[-1].strip() for line in lines[1:]}  # the first is the header
    assert "jobport.cli" in names
    return names


def top_level(names: set[str]) -> set[str]:
    return {name.split(".", 1)[0] for name in names}


def test_types_help_imports_no_database_nor_server(tmp_path: Path) -> None:
    loaded = top_level(imported_modules(tmp_path, "types", "--help"))
    assert not loaded & (SERVER_AND_EXTRAS | {"sqlalchemy", "alembic"})


def test_types_imports_no_server_nor_state_store(tmp_path: Path) -> None:
    names = imported_modules(tmp_path, "types")
    assert not top_level(names) & (SERVER_AND_EXTRAS | {"alembic"})
    assert "jobport.engine" not in names  # the registry alone: no database is opened


def test_history_on_a_database_at_head_imports_no_alembic(tmp_path: Path) -> None:
    """The schema check at start is one query: Alembic loads only to migrate."""
    database = Jobport(
        Settings(
            app="jobport.demo",
            database_url=f"sqlite:///{tmp_path / 'state.db'}",
            storage_url=str(tmp_path / "files"),
            executor="inline",
        )
    )
    database.close()
    loaded = top_level(imported_modules(tmp_path, "history"))
    assert not loaded & (SERVER_AND_EXTRAS | {"alembic"})


def test_every_public_name_resolves_and_import_jobport_is_light() -> None:
    for name in jobport.__all__:
        assert getattr(jobport, name) is not None
    code = "import jobport, sys; print(sorted({'sqlalchemy', 'pydantic'} & set(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
    with pytest.raises(AttributeError):
        _ = jobport.NotAName


def test_head_is_alembics_head(tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    from jobport.store.database import make_engine
    from jobport.store.migrations import alembic_config

    database = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        assert head() == ScriptDirectory.from_config(alembic_config(database)).get_current_head()
        assert current(database) is None
        upgrade(database, "0001")
        assert current(database) == "0001"
        upgrade(database)
        assert current(database) == head()
    finally:
        database.dispose()


# -- a run of one chunk starts no worker process ----------------------------------------------


@pytest.fixture
def cli_like_engine(tmp_path: Path) -> Iterator[Jobport]:
    """The local executor as the CLI builds it: no pool until a run has a second chunk."""
    settings = Settings(
        app="tests.apps.people",
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        storage_url=str(tmp_path / "files"),
        executor="local",
        workers=1,
    )
    engine = Jobport(settings, warm=False, one_chunk_here=True)
    yield engine
    engine.close()


def people_file(path: Path, rows: int) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["code", "name", "age"])
        writer.writerows([f"p{i}", f"Person {i}", 30] for i in range(rows))
    return path


def descendants() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True)}


def test_a_run_of_one_chunk_runs_here_and_starts_no_process(
    cli_like_engine: Jobport, tmp_path: Path
) -> None:
    from tests.apps.people import CHUNK_SIZE

    before = descendants()
    run = cli_like_engine.import_file("people", people_file(tmp_path / "one.csv", CHUNK_SIZE))
    assert run.status == "queued"  # held for the waiting thread, given to no executor
    run = cli_like_engine.wait(run.id, poll_seconds=0.02)
    assert (run.status, run.processed, run.failed) == ("completed", CHUNK_SIZE, 0)
    assert descendants() - before == set()
    assert not cli_like_engine.executor.serving()


def test_the_pool_starts_when_a_run_has_a_second_chunk(
    cli_like_engine: Jobport, tmp_path: Path
) -> None:
    from tests.apps.people import CHUNK_SIZE

    before = descendants()
    path = people_file(tmp_path / "two.csv", CHUNK_SIZE + 1)
    run = cli_like_engine.wait(cli_like_engine.import_file("people", path).id, poll_seconds=0.02)
    assert (run.status, run.processed) == ("completed", CHUNK_SIZE + 1)
    assert descendants() - before  # the pool's worker process (and its forkserver)


def test_chunks_run_here_while_the_pool_starts_each_run_once(
    cli_like_engine: Jobport, tmp_path: Path
) -> None:
    """This thread runs chunks until a worker answers; the claims keep each to one run."""
    from tests.apps.people import CHUNK_SIZE

    from jobport.store.tables import job_chunks

    assert not cli_like_engine.executor.serving()  # no pool yet: nothing has answered
    rows = CHUNK_SIZE * 3 + 1
    run = cli_like_engine.import_file("people", people_file(tmp_path / "four.csv", rows))
    run = cli_like_engine.wait(run.id, poll_seconds=0.02)
    assert (run.status, run.processed, run.failed) == ("completed", rows, 0)
    with cli_like_engine.database.connect() as conn:
        chunks = conn.execute(
            sa.select(job_chunks.c.status, job_chunks.c.attempts).where(
                job_chunks.c.run_id == run.id
            )
        ).all()
    assert sorted(chunks) == [("done", 1)] * 4
