"""Runs read through the sqlite3 module (jobport.store.run_rows) are the store's runs.

The module writes out its SQL and types each column without SQLAlchemy (the
CLI's ``status`` and ``history`` must not import it); these tests hold that
text and those converters to ``job_runs`` and to what SQLAlchemy makes of
them, so a new column, a changed type or a changed order fails here, and
the records read that way to :meth:`JobStore.find_run` and
:meth:`JobStore.list_runs`' for runs of every shape.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from tests.runs import new_run

from jobport.store import JobStore, RunFilter, make_engine
from jobport.store.migrations import head, upgrade_if_behind
from jobport.store.run_rows import (
    IDS_STARTING_WITH,
    PAGE_FILTERS,
    RUN_COLUMNS,
    RUN_WITH_RETRIES,
    RunFile,
    escape_like,
    from_bool,
    from_json,
    from_utc,
    head_revision,
    open_reader,
    page_sql,
    sqlite_file,
)
from jobport.store.runs import _RUN_WITH_RETRIES
from jobport.store.tables import UTCDateTime, job_runs

DIALECT = sqlite.dialect()


def _compiled(statement: sa.sql.ClauseElement) -> str:
    return " ".join(str(statement.compile(dialect=DIALECT)).split())


def _expected_converter(column: sa.Column[Any]) -> object:
    """The converter a column of this type needs: what SQLAlchemy's processor does."""
    if isinstance(column.type, UTCDateTime):
        return from_utc
    if isinstance(column.type, sa.JSON):
        return from_json
    if isinstance(column.type, sa.Boolean):
        return from_bool
    return None


def test_the_columns_and_their_converters_are_job_runs() -> None:
    assert [name for name, _ in RUN_COLUMNS] == [column.name for column in job_runs.columns]
    for (name, convert), column in zip(RUN_COLUMNS, job_runs.columns, strict=True):
        assert convert is _expected_converter(column), name
        processor = column.type.dialect_impl(DIALECT).result_processor(DIALECT, None)
        # A column read as the driver gives it has no processor: a type that gains one
        # (or a new type with one) needs a converter here.
        assert (convert is None) == (processor is None), name


@pytest.mark.parametrize(
    ("convert", "values"),
    [
        (from_json, ['{"a": [1, "é"]}', "null", "[]", "3", 3, 2.5, b'{"b": true}']),
        (
            from_utc,
            [
                "2026-12-07 12:31:31.098949",
                "2026-12-07 12:31:31",
                "2026-12-07T12:31:31+02:00",
            ],
        ),
        (from_bool, [0, 1, 2]),
    ],
)
def test_each_converter_does_what_sqlalchemys_processor_does(
    convert: Any, values: list[Any]
) -> None:
    column = next(c for c in job_runs.columns if _expected_converter(c) is convert)
    processor = column.type.dialect_impl(DIALECT).result_processor(DIALECT, None)
    assert processor is not None
    for value in values:
        assert convert(value) == processor(value), value
        assert type(convert(value)) is type(processor(value)), value


def test_the_sql_is_what_the_store_runs() -> None:
    assert " ".join(RUN_WITH_RETRIES.split()) == _compiled(_RUN_WITH_RETRIES)
    ids = (
        sa.select(job_runs.c.id)
        .where(job_runs.c.id.startswith("x", autoescape=True))
        .order_by(job_runs.c.id)
        .limit(2)
    )
    assert _compiled(ids) == IDS_STARTING_WITH


@pytest.mark.parametrize(
    "filters", [{}, {"type": "t"}, {"kind": "k", "owner": "o"}, dict.fromkeys(PAGE_FILTERS, "x")]
)
def test_a_page_is_queried_as_the_store_queries_it(filters: dict[str, str]) -> None:
    conditions = [job_runs.c[name] == filters[name] for name in PAGE_FILTERS if name in filters]
    page = (
        sa.select(job_runs)
        .where(*conditions)
        .order_by(job_runs.c.created_at.desc(), job_runs.c.id.desc())
        .limit(5)
        .offset(0)
    )
    count = sa.select(sa.func.count()).select_from(job_runs).where(*conditions)
    page_text, count_text, values = page_sql(filters)
    assert (page_text, count_text) == (_compiled(page), _compiled(count))
    assert values == [filters[name] for name in PAGE_FILTERS if name in filters]
    with pytest.raises(ValueError, match="since"):
        page_sql({"since": "2026-01-01"})


@pytest.mark.parametrize("prefix", ["ab", "a_b%c/d", "%", "_", "//"])
def test_a_prefix_is_escaped_as_sqlalchemy_escapes_it(prefix: str) -> None:
    compiled = job_runs.c.id.startswith(prefix, autoescape=True).compile(dialect=DIALECT)
    assert list(compiled.params.values()) == [escape_like(prefix)]


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////tmp/x/state.db",
        "sqlite:///state.db",
        "sqlite:///./a b/state.db",
        "sqlite+pysqlite:////tmp/state.db",
    ],
)
def test_an_sqlite_file_url_names_the_file_sqlalchemy_opens(url: str) -> None:
    assert sqlite_file(url) == make_url(url).database


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file:state.db?mode=memory&uri=true",
        "sqlite:////tmp/state.db?timeout=5",
        "sqlite:////tmp/a%20b.db",
        "sqlite+aiosqlite:////tmp/state.db",
        "postgresql://u@127.0.0.1/db",
    ],
)
def test_anything_else_is_not_read_as_a_file(url: str) -> None:
    assert sqlite_file(url) is None


def test_the_head_revision_is_the_migrations_head() -> None:
    assert head_revision() == head()


# -- records equal to the store's ------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade_if_behind(engine)
    yield JobStore(engine)
    engine.dispose()


def _runs_of_every_shape(store: JobStore) -> list[str]:
    """Queued, failed at creation, finished with a JSON result, retried twice, a dry run,
    an export with no chunks, owners and types apart: (their ids)."""
    store.create_run(new_run("a1-queued", params={"options": {"note": "é"}, "n": [1, 2.5]}), [{}])
    store.create_run(new_run("a2-failed", owner="alice"), [], error="the file is empty")
    store.create_run(new_run("b1-first", owner="alice", type="items", total=20), [{}, {}])
    store.create_run(new_run("b2-retry", retry_of="b1-first", owner="alice"), [{}])
    store.create_run(new_run("b3-retry", retry_of="b1-first", broadcast=False), [{}])
    store.create_run(new_run("c1-dry", dry_run=True, format="csv", source_name="x.csv"), [{}])
    store.create_run(new_run("c2_export", kind="export", owner="bob"), [])
    store.set_result("c2_export", "results/x.csv", {"rows": 2, "size": 16, "none": None})
    start = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    with store.engine.begin() as conn:
        conn.execute(
            job_runs.update()
            .where(job_runs.c.id == "b1-first")
            .values(
                status="completed_with_errors",
                started_at=start,
                finished_at=start + timedelta(seconds=3),
                processed=20,
                failed=4,
                created=10,
                updated=5,
                unchanged=1,
                rows_per_second=6.5,
                eta_seconds=0.0,
                chunks_done=2,
                finishing_until=start,
            )
        )
        # Two runs created at the same instant: the id decides their order.
        conn.execute(
            job_runs.update()
            .where(job_runs.c.id.in_(["b2-retry", "b3-retry"]))
            .values(created_at=start)
        )
    return ["a1-queued", "a2-failed", "b1-first", "b2-retry", "b3-retry", "c1-dry", "c2_export"]


def _run_file(store: JobStore) -> RunFile:
    runs = RunFile.at_head(store.engine.url.database or "")
    assert runs is not None
    return runs


def test_a_run_read_from_the_file_is_the_stores_run(store: JobStore) -> None:
    runs = _run_file(store)
    try:
        for run_id in _runs_of_every_shape(store):
            assert runs.find(run_id) == store.find_run(run_id), run_id
        assert runs.find("b1-first").retried_by == ("b2-retry", "b3-retry")  # type: ignore[union-attr]
        assert runs.find("no-such-run") is None
    finally:
        runs.close()


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"owner": "alice"},
        {"type": "customers", "kind": "import"},
        {"status": "queued"},
        {"kind": "nothing"},
    ],
)
@pytest.mark.parametrize(("limit", "offset"), [(50, 0), (2, 0), (2, 3)])
def test_a_page_read_from_the_file_is_the_stores_page(
    store: JobStore, filters: dict[str, str], limit: int, offset: int
) -> None:
    _runs_of_every_shape(store)
    runs = _run_file(store)
    try:
        page = runs.page(filters, limit=limit, offset=offset)
    finally:
        runs.close()
    assert page == store.list_runs(RunFilter(**filters), limit=limit, offset=offset)


@pytest.mark.parametrize("prefix", ["a", "A", "b", "b1", "c2_", "c_", "%", "zz"])
def test_ids_starting_with_are_the_stores(store: JobStore, prefix: str) -> None:
    _runs_of_every_shape(store)
    runs = _run_file(store)
    try:
        found = runs.ids_starting_with(prefix, limit=6)
    finally:
        runs.close()
    assert found == store.run_ids_starting_with(prefix, limit=6)


# -- which files are read this way ------------------------------------------------------------


def test_a_file_behind_or_ahead_of_the_head_is_not_read(store: JobStore) -> None:
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE jobport_alembic_version SET version_num = '0001'")
    assert RunFile.at_head(store.engine.url.database or "") is None


def test_a_file_not_in_wal_mode_nor_a_missing_one_is_opened(tmp_path: Path) -> None:
    rollback = tmp_path / "rollback.db"
    sqlite3.connect(rollback).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(sqlite3.Error, match="WAL"):
        open_reader(str(rollback))
    with pytest.raises(sqlite3.Error):
        open_reader(str(tmp_path / "missing.db"))
    assert not (tmp_path / "missing.db").exists()


def test_the_reader_writes_nothing(store: JobStore) -> None:
    runs = _run_file(store)
    try:
        with pytest.raises(sqlite3.OperationalError, match=re.compile("readonly|query_only")):
            runs.connection.execute("DELETE FROM job_runs")
    finally:
        runs.close()
