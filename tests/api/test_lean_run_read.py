"""GET /api/jobs/{id} on SQLite: the lean read on the event loop (jobport.store.run_reads).

On the embedded default the polled run read takes the run through the
sqlite3 module, on the event loop, and keeps the JSON it built while the
run's rows stay the same. These tests hold that this read is the one that
answers, that it answers byte for byte as the FastAPI route does, that it
serves a run to its owner and admins only (every other answer is the
service's), and that it never waits for a writer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route
from tests.api.conftest import Api, items_csv

from jobport.api import Principal, create_router, install_problem_handlers
from jobport.api.routers import runs
from jobport.store import NewRun
from jobport.store.run_reads import lean_reads
from jobport.store.tables import job_runs, metadata


def _runs_of_every_shape(api: Api) -> list[str]:
    """A run with failures and a retry, its retry, a dry run, an export with its file."""
    first = api.upload("items", items_csv(20, bad_every=5)).json()["id"]
    retry = api.upload("items", items_csv(20), retry_of=first).json()["id"]
    dry = api.upload("items", items_csv(4), dry_run="true").json()["id"]
    new = NewRun(
        type="items-export",
        kind="export",
        strategy="polling",
        broadcast=True,
        owner="alice",
        params={"options": {"note": "é"}},
        max_attempts=1,
        format="csv",
    )
    export = api.engine.store.create_run(new, []).id
    api.engine.store.set_result(export, "results/x.csv", {"rows": 2, "size": 16})
    return [first, retry, dry, export]


def test_the_lean_record_is_the_stores_record(api: Api) -> None:
    reads = lean_reads(api.engine.store.engine)
    assert reads is not None
    for run_id in _runs_of_every_shape(api):
        assert reads.find(run_id) == api.engine.store.find_run(run_id)
    assert reads.find("no-such-run") is None


def _solved_client(api: Api) -> TestClient:
    """The same engine behind the dependency-solved route (an application's own callers)."""

    def as_header(x_user: str = Header(default="")) -> Principal:
        return Principal(x_user, is_admin=x_user == "admin")

    host = FastAPI()
    install_problem_handlers(host)
    host.include_router(create_router(api.engine, principal=as_header))
    return TestClient(host)


def test_it_answers_byte_for_byte_as_the_fastapi_route(api: Api) -> None:
    run_ids = _runs_of_every_shape(api)
    with _solved_client(api) as solved:
        for run_id in run_ids:
            for user in ("alice", "admin"):
                for _ in range(2):  # built, then the kept body
                    lean = api.client.get(f"/api/jobs/{run_id}", headers=api.auth(user))
                    other = solved.get(f"/api/jobs/{run_id}", headers={"X-User": user})
                    assert lean.status_code == other.status_code == 200
                    assert lean.content == other.content
                    assert lean.headers["etag"] == other.headers["etag"]
                    assert lean.headers["cache-control"] == other.headers["cache-control"]


def test_it_serves_a_run_to_its_owner_and_admins_and_leaves_the_rest_to_the_service(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No thread and no pooled connection for a run the caller may see; the service's own
    read (in the thread pool) for any other, whose 404 is a missing run's."""
    run_id = api.upload("items", items_csv(5)).json()["id"]
    for user in ("bob", "admin"):  # their tokens remembered: no lookup below
        api.client.get("/api/jobs/no-such-run", headers=api.auth(user))
    handed: list[str] = []
    pooled: list[str] = []

    async def counted(func: Callable[..., Any], *args: Any) -> Any:
        handed.append(args[-1])
        return await run_in_threadpool(func, *args)

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        pooled.append(statement)

    monkeypatch.setattr(runs, "run_in_threadpool", counted)
    sa.event.listen(api.engine.store.engine, "before_cursor_execute", record)
    try:
        owner = api.client.get(f"/api/jobs/{run_id}", headers=api.auth("alice"))
        admin = api.client.get(f"/api/jobs/{run_id}", headers=api.auth("admin"))
        assert (handed, pooled) == ([], [])
        assert owner.status_code == admin.status_code == 200
        assert owner.content == admin.content

        theirs = api.client.get(f"/api/jobs/{run_id}", headers=api.auth("bob"))
        tagged = {**api.auth("bob"), "If-None-Match": owner.headers["etag"]}
        theirs_tagged = api.client.get(f"/api/jobs/{run_id}", headers=tagged)
        missing = api.client.get("/api/jobs/no-such-run", headers=api.auth("bob"))
    finally:
        sa.event.remove(api.engine.store.engine, "before_cursor_execute", record)
    assert handed == [run_id, run_id, "no-such-run"]
    assert theirs.status_code == theirs_tagged.status_code == missing.status_code == 404
    assert theirs.json()["detail"] == missing.json()["detail"].replace("no-such-run", run_id)


def test_a_changed_run_gets_a_new_body_at_once(api: Api) -> None:
    run_id = api.upload("items", items_csv(5)).json()["id"]
    url = f"/api/jobs/{run_id}"
    first = api.client.get(url, headers=api.auth())
    api.engine.store.set_result(run_id, "", {"expired": True})  # seq stays as it is
    changed = api.client.get(url, headers={**api.auth(), "If-None-Match": first.headers["etag"]})
    assert changed.status_code == 200
    assert changed.json()["result"] == {"expired": True}
    assert changed.json()["seq"] == first.json()["seq"]


def test_a_read_never_waits_for_the_writer(api: Api) -> None:
    """A write transaction open on the run: the read answers at once, with what was
    committed (a busy timeout of 0 would fail it, not wait), and sees the commit after."""
    run_id = api.upload("items", items_csv(5)).json()["id"]
    reads = lean_reads(api.engine.store.engine)
    assert reads is not None
    before = reads.find(run_id)
    assert before is not None
    writer = sqlite3.connect(api.engine.store.engine.url.database or "", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE job_runs SET processed = 999 WHERE id = ?", (run_id,))
        during = api.client.get(f"/api/jobs/{run_id}", headers=api.auth())
        assert during.status_code == 200
        assert during.json()["processed"] == before.processed
        writer.execute("COMMIT")
    finally:
        writer.close()
    assert api.run_json(run_id, user="alice")["processed"] == 999


def _one_run(path: Path, journal_mode: str) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{path}")
    metadata.create_all(engine, tables=[job_runs])
    with engine.begin() as conn:
        conn.exec_driver_sql(f"PRAGMA journal_mode={journal_mode}")
        conn.execute(
            job_runs.insert().values(
                id="r1",
                type="t",
                kind="import",
                status="queued",
                strategy="chunked",
                broadcast=True,
                processed=0,
                failed=0,
                params={},
                created_at=datetime.now(UTC),
                chunks_total=0,
                chunks_done=0,
                seq=0,
                max_attempts=3,
            )
        )
    return engine


def test_only_a_database_file_in_wal_mode_is_read_this_way(tmp_path: Path) -> None:
    """A reader of a rollback journal waits for writers: such a database (and one that
    cannot be opened twice) is left to the store's read."""
    assert lean_reads(sa.create_engine("sqlite://")) is None
    assert lean_reads(sa.create_engine("postgresql+psycopg://u@127.0.0.1/db")) is None
    rollback = _one_run(tmp_path / "rollback.db", "DELETE")
    wal = _one_run(tmp_path / "wal.db", "WAL")
    try:
        rollback_reads, wal_reads = lean_reads(rollback), lean_reads(wal)
        assert rollback_reads is not None
        assert wal_reads is not None
        assert rollback_reads.find("r1") is None
        found = wal_reads.find("r1")
        assert found is not None
        assert found.id == "r1"
        wal.dispose()  # closes the lean connection too; the next read opens it again
        assert wal_reads.find("r1") == found
    finally:
        rollback.dispose()
        wal.dispose()


def test_the_standalone_app_matches_the_run_read_first(api: Api) -> None:
    """Ahead of FastAPI's walk through the included routers (``server.hoist_run_read``)."""
    first = api.client.app.router.routes[0]  # type: ignore[attr-defined]
    assert isinstance(first, Route)
    assert first is api.client.app.state.jobport.routes[0]  # type: ignore[attr-defined]
    assert first.path == "/api/jobs/{run_id}"
