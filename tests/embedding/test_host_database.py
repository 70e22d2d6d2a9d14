"""``Jobport(database=...)``: an application's own engine holds the target and state tables."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import StaticPool
from tests.apps.people import people
from tests.apps.people import registry as people_registry

from jobport import Jobport, Settings
from jobport.errors import ConfigurationError
from jobport.registry import registry_of
from jobport.store.database import _on_begin, adopt_engine


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
        storage_url=str(tmp_path / "files"),
        **values,
    )


def test_runs_write_through_the_applications_own_engine(tmp_path: Path) -> None:
    # An in-memory database only this engine can see: a row landing there
    # proves jobport used the engine given, not one of its own.
    app_engine = sa.create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    source = tmp_path / "people.csv"
    source.write_text("code,name,age\nP1,Ada,36\nP2,,40\n")
    with Jobport(
        _settings(tmp_path, executor="inline"),
        registry=registry_of(people_registry.get("people")),
        database=app_engine,
    ) as engine:
        run = engine.import_file("people", source)
        assert (run.status, run.processed, run.failed) == ("completed_with_errors", 2, 1)
    assert not (tmp_path / "unused.db").exists()
    # Closing jobport left the application's engine (and its in-memory data) alone.
    with app_engine.connect() as conn:
        assert conn.execute(sa.select(people.c.code, people.c.name)).all() == [("P1", "Ada")]
        assert "job_runs" in sa.inspect(conn).get_table_names()


def test_adopting_an_sqlite_engine_twice_tunes_it_once() -> None:
    app_engine = sa.create_engine("sqlite://")
    assert adopt_engine(adopt_engine(app_engine)) is app_engine
    assert event.contains(app_engine, "begin", _on_begin)
    with app_engine.begin() as conn:  # a second listener would BEGIN twice and fail
        assert conn.execute(sa.text("select 1")).scalar() == 1


def test_workers_in_other_processes_must_open_the_same_database(tmp_path: Path) -> None:
    app_engine = sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    with pytest.raises(ConfigurationError, match="JOBPORT_DATABASE_URL"):
        Jobport(_settings(tmp_path, executor="local", app="tests.apps.people"), database=app_engine)
    same = Settings(
        database_url=f"sqlite:///{tmp_path / 'app.db'}",
        storage_url=str(tmp_path / "files"),
        executor="local",
        app="tests.apps.people",
    )
    Jobport(same, database=app_engine).close()
