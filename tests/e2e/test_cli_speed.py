"""What keeps the CLI quick, as structure (timings live in ``bench/cli_bench.py``).

A command loads only what it uses (every module left in ``sys.modules`` when
the process exits, those imported by name through ``importlib`` too), the
schema check at start imports no Alembic when the database is at head, a new
SQLite database is made from the snapshot of the migrations' head, and a run
of one chunk starts no worker process.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

import jobport
from jobport import Jobport, Settings
from jobport.store.migrations import current, head, upgrade, upgrade_if_behind

#: Never on the path of a command that neither serves nor talks to Celery.
SERVER_AND_EXTRAS = frozenset({"fastapi", "uvicorn", "jinja2", "pyarrow", "celery", "starlette"})
#: Never on the path of ``types``, ``status``, ``history`` or the import of a UTF-8 CSV
#: whose header names the fields: what those commands do not use.
NOT_USED = SERVER_AND_EXTRAS | {
    "alembic",
    "rapidfuzz",
    "charset_normalizer",
    "httpx",
    "standardwebhooks",
    "croniter",
    "prometheus_client",
}
#: Never loaded on SQLite: PostgreSQL's dialect (~30 ms to import) and its COPY path load
#: where they are used.
NOT_ON_SQLITE = frozenset({"sqlalchemy.dialects.postgresql", "jobport.targets.pgcopy"})
#: Never on the path of the import of a CSV file into local storage: the other formats'
#: readers and the writers, fsspec (a local folder goes through os), and what a sweep,
#: a prune or a shared link use.
NOT_ON_A_CSV_IMPORT = frozenset(
    {
        "fsspec",
        "jobport.formats.xlsx",
        "jobport.formats.jsonl",
        "jobport.formats.parquet",
        "jobport.formats.writers",
        "jobport.schedules.firing",
        "jobport.schedules.folders",
        "jobport.retention",
        "jobport.signing",
        "jobport.reports",
        "jobport.webhooks.deliverer",
    }
)
#: Never on the path of ``types``: an import's matching rules and value conversions.
NOT_ON_TYPES = frozenset({"fsspec", "jobport.kinds.locale", "jobport.kinds.mapping"})

#: Run as ``python -c``: the CLI, then every module name in sys.modules into the file argv[1].
RECORD_MODULES = """
import atexit, json, runpy, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
runpy.run_module("jobport.cli", run_name="__main__", alter_sys=True)
"""


def imported_modules(tmp_path: Path, *args: str, database: Path | None = None) -> set[str]:
    """Every module ``python -m jobport.cli ARGS`` has imported when it exits."""
    env = {
        **os.environ,
        "JOBPORT_APP": "jobport.demo",
        "JOBPORT_DATABASE_URL": f"sqlite:///{database or tmp_path / 'state.db'}",
        "JOBPORT_STORAGE_URL": str(tmp_path / "files"),
    }
    record = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", RECORD_MODULES, str(record), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names: set[str] = set(json.loads(record.read_text()))
    assert "jobport.cli" in names
    return names


def top_level(names: set[str]) -> set[str]:
    return {name.split(".", 1)[0] for name in names}


def test_types_help_imports_no_database_nor_server(tmp_path: Path) -> None:
    loaded = top_level(imported_modules(tmp_path, "types", "--help"))
    assert not loaded & (SERVER_AND_EXTRAS | {"sqlalchemy", "alembic"})


@pytest.mark.parametrize("args", [["types"], ["types", "--json"]])
def test_types_imports_no_server_nor_state_store(tmp_path: Path, args: list[str]) -> None:
    """Nor SQLAlchemy: the demo names its tables by TableRef, imported when a run needs one."""
    names = imported_modules(tmp_path, *args)
    assert not top_level(names) & (SERVER_AND_EXTRAS | {"alembic", "sqlalchemy"})
    assert "jobport.engine" not in names  # the registry alone: no database is opened
    assert "jobport.demo.tables" not in names


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


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A demo state database at head holding one finished import: (its path, the run's id)."""
    from jobport.demo.data import write_csv

    folder = tmp_path_factory.mktemp("demo-run")
    engine = Jobport(
        Settings(
            app="jobport.demo",
            database_url=f"sqlite:///{folder / 'state.db'}",
            storage_url=str(folder / "files"),
            executor="inline",
        )
    )
    try:
        source = folder / "one.csv"
        write_csv(source, 1, seed=7)
        run = engine.import_file("customers", source)
        assert engine.wait(run.id, poll_seconds=0.02).status == "completed"
    finally:
        engine.close()
    return folder / "state.db", run.id


@pytest.mark.parametrize("command", ["types", "status", "history"])
def test_a_command_over_runs_imports_nothing_it_does_not_use(
    command: str, demo_run: tuple[Path, str], tmp_path: Path
) -> None:
    database, run_id = demo_run
    args = [command, run_id] if command == "status" else [command]
    names = imported_modules(tmp_path, *args, database=database)
    assert sorted(top_level(names) & NOT_USED) == []
    assert sorted(names & NOT_ON_SQLITE) == []
    if command == "types":  # the job types alone: no state database, no kind's machinery
        assert not {"jobport.store", "jobport.engine", "jobport.formats", "jobport.targets"} & names
        assert sorted((names | top_level(names)) & NOT_ON_TYPES) == []
    else:  # runs are read, no file: the formats' readers load on a format's first lookup
        readers = {"jobport.formats.xlsx", "jobport.formats.jsonl", "jobport.formats.parquet"}
        assert not readers & names
        # nor an import's machinery, nor schedules: the service loads them in their use cases
        importing = {"jobport.kinds.imports", "jobport.kinds.preview", "jobport.kinds.template"}
        assert not (importing | {"jobport.targets", "jobport.schedules.book"}) & names
        assert "jobport.webhooks.deliverer" not in names  # built by the first sweep: none here


#: What reading runs from the embedded SQLite file needs none of: the engine, the service,
#: the store and SQLAlchemy (its import alone was a third of ``jobport status``).
NOT_ON_A_LEAN_READ = frozenset(
    {"sqlalchemy", "jobport.store.jobstore", "jobport.service", "jobport.engine"}
)


@pytest.mark.parametrize(
    "args",
    [
        ["status", "{id}"],
        ["status", "{prefix}", "--json"],
        ["history"],
        ["history", "--json", "--type", "customers"],
    ],
)
def test_status_and_history_on_sqlite_read_the_file_without_sqlalchemy(
    args: list[str], demo_run: tuple[Path, str], tmp_path: Path
) -> None:
    """``jobport.cli.lean_runs``: the run and the page are read through the sqlite3 module."""
    database, run_id = demo_run
    typed = [arg.format(id=run_id, prefix=run_id[:8]) for arg in args]
    names = imported_modules(tmp_path, *typed, database=database)
    assert "jobport.store.run_rows" in names
    assert sorted((names | top_level(names)) & NOT_ON_A_LEAN_READ) == []


def test_a_one_row_import_into_a_new_database_imports_nothing_it_does_not_use(
    tmp_path: Path,
) -> None:
    """Nor Alembic: the new database is made from the snapshot, the CSV read as UTF-8."""
    from jobport.demo.data import write_csv

    source = tmp_path / "one.csv"
    write_csv(source, 1, seed=7)
    names = imported_modules(tmp_path, "import", "customers", str(source))
    assert sorted(top_level(names) & NOT_USED) == []
    assert sorted(names & NOT_ON_SQLITE) == []
    assert sorted((names | top_level(names)) & NOT_ON_A_CSV_IMPORT) == []


#: An app whose job type names no table: declaring and listing it needs no SQLAlchemy.
APP_WITHOUT_TABLES = """
from pydantic import BaseModel

from jobport.kinds import Importer
from jobport.registry import JobRegistry, JobType


class Note(BaseModel):
    id: int
    text: str


registry = JobRegistry()
registry.add(JobType(type="notes", label="Notes", kind="import", handler=Importer(Note, "id")))
"""


def test_types_of_an_app_without_tables_imports_no_sqlalchemy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "notes_app.py").write_text(APP_WITHOUT_TABLES)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), *sys.path]))
    names = imported_modules(tmp_path, "--app", "notes_app", "types", "--json")
    assert "notes_app" in names
    assert "sqlalchemy" not in top_level(names)


# -- a new SQLite database: made from the snapshot of the migrations' head --------------------


def test_the_snapshot_is_what_the_migrations_make_of_a_new_database() -> None:
    from jobport.store.migrations import snapshot

    made = snapshot.written_by_migrations()
    assert made["revision"] == head()
    assert snapshot.load() == made, (
        "the migrations changed: run `.venv/bin/python -m jobport.store.migrations.snapshot`"
    )


def test_a_new_database_made_from_the_snapshot_is_the_migrated_one(tmp_path: Path) -> None:
    from jobport.store.database import make_engine
    from jobport.store.migrations import snapshot

    database = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        assert snapshot.create_at_head(database, head())
        with database.connect() as conn:
            made = {"revision": current(database), **snapshot.read_schema(conn)}
        assert made == snapshot.written_by_migrations()
        assert not snapshot.create_at_head(database, head())  # its tables are there: no-op
    finally:
        database.dispose()


def test_the_snapshot_is_not_used_for_another_revision_nor_over_existing_tables(
    tmp_path: Path,
) -> None:
    """Alembic decides then: a stale snapshot or a database with state tables but no version."""
    from jobport.store.database import make_engine
    from jobport.store.migrations import snapshot

    database = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        assert not snapshot.create_at_head(database, "0000_not_the_head")
        with database.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE job_runs (id VARCHAR(36) PRIMARY KEY)")
        assert not snapshot.create_at_head(database, head())
        assert current(database) is None
    finally:
        database.dispose()


def test_two_processes_starting_on_one_new_database_make_its_tables_once(tmp_path: Path) -> None:
    """Each checks and creates in one write transaction: the second finds the tables made."""
    from jobport.store.database import make_engine

    url = f"sqlite:///{tmp_path / 'state.db'}"
    engines = [make_engine(url), make_engine(url)]
    start = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def prepare(engine: sa.engine.Engine) -> None:
        start.wait()
        try:
            upgrade_if_behind(engine)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=prepare, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert current(engines[0]) == head()
        with engines[0].connect() as conn:
            versions = conn.exec_driver_sql("SELECT count(*) FROM jobport_alembic_version")
            assert versions.scalar_one() == 1
    finally:
        for engine in engines:
            engine.dispose()


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
