"""``status`` and ``history`` read from the SQLite file say what the service's read says.

On the embedded SQLite the two commands read runs through the sqlite3 module
(:mod:`jobport.cli.lean_runs`), not the engine. These tests run each command
both ways over one database, in-process, and compare what they print, tables
and JSON alike; and they hold that everything else (a run not found, an
ambiguous start, a start waiting for a slot, a lock, PostgreSQL) is left to
the service, whose messages and exit codes stay what they were.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.test_cli import Cli, assert_one_line_error, make_cli
from tests.runs import new_run
from typer.testing import CliRunner, Result

from jobport.cli import app, lean_runs
from jobport.cli.context import Context
from jobport.store import JobStore, make_engine
from jobport.store.migrations import upgrade_if_behind
from jobport.store.slots import Waiting
from jobport.store.tables import job_runs

pytestmark = pytest.mark.e2e

#: Ids drawn so that ``abcd`` starts several and ``abce1`` one; ``abcf`` none.
IDS = {
    "queued": "abcd0001-0000-4000-8000-000000000000",
    "first": "abcd0002-0000-4000-8000-000000000000",
    "retry": "abcd0003-0000-4000-8000-000000000000",
    "failed": "abce1000-0000-4000-8000-000000000000",
    "dry": "0dd00000-0000-4000-8000-000000000000",
}


def _write_runs(store: JobStore) -> None:
    """Queued, finished with errors and retried, the retry, failed at once, a dry run."""
    store.create_run(new_run(IDS["queued"], params={"warnings": ["column 'x' ignored"]}), [{}])
    store.create_run(new_run(IDS["first"], owner="alice", total=20, source_name="c.csv"), [{}, {}])
    store.create_run(new_run(IDS["retry"], retry_of=IDS["first"], owner="alice"), [{}])
    store.create_run(new_run(IDS["failed"], owner="bob"), [], error="the file is empty")
    store.create_run(new_run(IDS["dry"], dry_run=True, format="csv"), [{}])
    start = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    with store.engine.begin() as conn:
        conn.execute(
            job_runs.update()
            .where(job_runs.c.id == IDS["first"])
            .values(
                status="completed_with_errors",
                started_at=start,
                finished_at=start + timedelta(seconds=3),
                processed=20,
                failed=4,
                created=10,
                updated=5,
                unchanged=1,
                rows_per_second=1234.5,
                chunks_done=2,
            )
        )


def _made(folder: Path, *, waiting: str | None = None) -> Cli:
    """A CLI folder whose state database holds runs of every shape :data:`IDS` names (and
    a start waiting for a slot under the id ``waiting``)."""
    cli = make_cli(folder, columns=120)
    engine = make_engine(cli.database_url)
    try:
        upgrade_if_behind(engine)
        store = JobStore(engine)
        _write_runs(store)
        if waiting is not None:
            now = datetime.now(UTC)
            store.add_waiting(Waiting(waiting, "customers", {}, None, None, now))
    finally:
        engine.dispose()
    return cli


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return _made(tmp_path_factory.mktemp("lean-runs"))


def _invoke(cli: Cli, args: list[str]) -> Result:
    keys = ("JOBPORT_DATABASE_URL", "JOBPORT_STORAGE_URL", "JOBPORT_APP", "COLUMNS")
    env = {key: cli.env[key] for key in keys}
    return CliRunner().invoke(app, args, env=env)


def _without_service(*_args: Any, **_kwargs: Any) -> Any:
    raise AssertionError("the service was asked")


def _never_lean(*_args: Any, **_kwargs: Any) -> None:
    return None


def _both_ways(cli: Cli, args: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """What the command prints read from the file (the service not asked), then read
    through the service (the file not read)."""
    with monkeypatch.context() as patched:
        patched.setattr(Context, "service", _without_service)
        lean = _invoke(cli, args)
    assert lean.exit_code == 0, (lean.output, lean.exception)
    with monkeypatch.context() as patched:
        patched.setattr(lean_runs, "find_run", _never_lean)
        patched.setattr(lean_runs, "list_runs", _never_lean)
        served = _invoke(cli, args)
    assert served.exit_code == 0, (served.output, served.exception)
    return lean.output, served.output


@pytest.mark.parametrize("shape", sorted(IDS))
@pytest.mark.parametrize("as_json", [[], ["--json"]])
def test_status_prints_what_the_service_path_prints(
    cli: Cli, shape: str, as_json: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lean, served = _both_ways(cli, ["status", IDS[shape], *as_json], monkeypatch)
    assert lean == served
    assert IDS[shape] in lean


def test_status_of_a_unique_start_prints_what_the_service_path_prints(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``LIKE``'s rule on either path: ASCII letters in any case."""
    for start, shape in (("abce1", "failed"), ("ABCD0002", "first"), ("0dd", "dry")):
        lean, served = _both_ways(cli, ["status", start, "--json"], monkeypatch)
        assert lean == served
        assert f'"id": "{IDS[shape]}"' in lean


def test_a_retried_run_shows_its_retry_either_way(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    lean, served = _both_ways(cli, ["status", IDS["first"]], monkeypatch)
    assert lean == served
    assert f"retried by  {IDS['retry']}" in lean
    assert "1,234 rows/s" in lean


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--json"],
        ["--type", "customers", "--json"],
        ["--owner", "alice"],
        ["--status", "queued", "--kind", "import"],
        ["--kind", "export"],
        ["--limit", "2"],
        ["--limit", "2", "--owner", "alice", "--json"],
    ],
)
def test_history_prints_what_the_service_path_prints(
    cli: Cli, args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lean, served = _both_ways(cli, ["history", *args], monkeypatch)
    assert lean == served
    assert "runs" in lean or lean.startswith("[")


# -- what is left to the service ----------------------------------------------------------------


def test_an_ambiguous_start_or_none_is_left_to_the_service(cli: Cli) -> None:
    state = Context({"database_url": cli.database_url})
    assert lean_runs.find_run(state, IDS["queued"]) is not None
    for given in ("abcd", "abcf", "", "%", "_bcd"):
        assert lean_runs.find_run(state, given) is None, given


def test_their_messages_and_exit_codes_are_the_services(cli: Cli) -> None:
    line = assert_one_line_error(cli("status", "abcd"), "'abcd' starts the ids of several runs")
    assert line == (
        f"error: 'abcd' starts the ids of several runs ({IDS['queued']}, {IDS['first']}, "
        f"{IDS['retry']}): give more of it"
    )
    unknown = cli("status", "abcf")
    assert_one_line_error(unknown, "no run with id 'abcf'")
    assert unknown.returncode == 1
    assert cli("status", "abce1").returncode == 0


def test_a_start_waiting_for_a_slot_is_left_to_the_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its id names no run row; the service makes its queued record, even where the id
    also starts another run's."""
    cli = _made(tmp_path, waiting="abce")
    assert lean_runs.find_run(Context({"database_url": cli.database_url}), "abce") is None
    with monkeypatch.context() as patched:
        patched.setattr(lean_runs, "find_run", _never_lean)
        served = _invoke(cli, ["status", "abce", "--json"])
    lean = _invoke(cli, ["status", "abce", "--json"])
    assert lean.exit_code == served.exit_code == 0, (lean.output, served.output)
    assert lean.output == served.output
    assert '"id": "abce", "type": "customers", "kind": "import", "status": "queued"' in lean.output


def test_a_locked_database_is_left_to_the_service(tmp_path: Path) -> None:
    database = tmp_path / "state.db"
    state = Context({"database_url": _made(tmp_path).database_url})
    assert lean_runs.list_runs(state, {}, limit=5) is not None
    holder = sqlite3.connect(database, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("UPDATE job_runs SET seq = seq + 1")
        holder.execute("COMMIT")  # the exclusive lock is kept until the connection closes
        assert lean_runs.find_run(state, IDS["queued"]) is None
        assert lean_runs.list_runs(state, {}, limit=5) is None
    finally:
        holder.close()
    assert lean_runs.find_run(state, IDS["queued"]) is not None


def test_a_database_not_in_wal_mode_or_missing_or_elsewhere_is_left_to_the_service(
    tmp_path: Path,
) -> None:
    rollback = tmp_path / "state.db"
    _made(tmp_path)
    with sqlite3.connect(rollback, isolation_level=None) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
    urls = [
        f"sqlite:///{rollback}",
        f"sqlite:///{tmp_path / 'missing.db'}",
        "sqlite://",
        "postgresql://jobport@127.0.0.1:1/jobport",
    ]
    for url in urls:
        state = Context({"database_url": url})
        assert lean_runs.find_run(state, IDS["queued"]) is None, url
        assert lean_runs.list_runs(state, {}, limit=5) is None, url
    assert not (tmp_path / "missing.db").exists()


def test_postgresql_asks_the_service(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def service(_self: Context, **_kwargs: Any) -> Any:
        asked.append("service")
        raise AssertionError("stop here")

    monkeypatch.setattr(Context, "service", service)
    env = {"JOBPORT_DATABASE_URL": "postgresql://jobport@127.0.0.1:1/jobport"}
    for args in (["status", IDS["queued"]], ["history", "--json"]):
        result = CliRunner().invoke(app, args, env=env)
        assert isinstance(result.exception, AssertionError)
    assert asked == ["service", "service"]
