"""``jobport schedules`` in process; a busy type's refusal as a subprocess (its exit code)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.unit.schedules_support import Held
from typer.testing import CliRunner

from jobport import Jobport, Settings, StartRequest
from jobport.cli import app as cli_app
from jobport.errors import InputError
from jobport.schedules.book import ScheduleNotFound

ROOT = Path(__file__).resolve().parents[2]


def settings_of(folder: Path) -> dict[str, str]:
    return {
        "JOBPORT_DATABASE_URL": f"sqlite:///{folder / 'state.db'}",
        "JOBPORT_STORAGE_URL": str(folder / "files"),
        "JOBPORT_APP": "tests.apps.scheduled",
        "JOBPORT_EXECUTOR": "inline",
    }


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name, value in settings_of(tmp_path).items():
        monkeypatch.setenv(name, value)
    return CliRunner()


def test_schedules_are_added_listed_paused_resumed_and_removed(cli: CliRunner) -> None:
    added = cli.invoke(
        cli_app,
        ["schedules", "add", "ticks", "0 9 * * 1-5", "--tz", "Europe/Paris", "-o", "source=a"],
    )
    assert added.exit_code == 0, added.output
    assert "schedule ticks (" in added.stdout
    assert "0 9 * * 1-5 (Europe/Paris); next run " in added.stdout
    listed = cli.invoke(cli_app, ["schedules", "list", "--json"])
    (shown,) = json.loads(listed.stdout)
    assert (shown["type"], shown["options"], shown["timezone"]) == (
        "ticks",
        {"source": "a"},
        "Europe/Paris",
    )
    assert cli.invoke(cli_app, ["schedules", "pause", "ticks"]).exit_code == 0
    table = cli.invoke(cli_app, ["schedules", "list"]).stdout
    assert "paused" in table
    assert "0 9 * * 1-5 (Europe/Paris)" in table
    resumed = cli.invoke(cli_app, ["schedules", "resume", shown["id"], "--json"])
    assert json.loads(resumed.stdout)["enabled"] is True
    assert cli.invoke(cli_app, ["schedules", "remove", "ticks"]).exit_code == 0
    assert json.loads(cli.invoke(cli_app, ["schedules", "list", "--json"]).stdout) == []
    missing = cli.invoke(cli_app, ["schedules", "pause", "ticks"])
    assert isinstance(missing.exception, ScheduleNotFound)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ticks", "every 30s"], "at most every minute"),
        (["ticks", "every 1h", "--missed", "later"], "missed must be 'catch_up'"),
        (["ticks", "every 1h", "--source", "/tmp"], "only imports take a source"),
    ],
)
def test_a_schedule_refused_says_why(cli: CliRunner, args: list[str], message: str) -> None:
    result = cli.invoke(cli_app, ["schedules", "add", *args])
    assert isinstance(result.exception, InputError)
    assert message in result.exception.message


@pytest.mark.e2e
def test_a_sync_of_a_busy_type_exits_75_and_says_which_run_holds_it(tmp_path: Path) -> None:
    values = {k.removeprefix("JOBPORT_").lower(): v for k, v in settings_of(tmp_path).items()}
    with Jobport(Settings(**values)) as engine:  # type: ignore[arg-type]
        engine.dispatcher.executor = Held()  # type: ignore[assignment]
        active = engine.dispatcher.start(StartRequest(type="ticks"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBPORT_")}
    env.update(settings_of(tmp_path))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "jobport.cli", "sync", "ticks"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 75, result.stderr
    assert result.stderr.startswith("error: 'ticks' allows 1 active run at a time and has 1 ")
    assert active.id in result.stderr
    assert "Traceback" not in result.stderr


def test_a_queued_start_is_shown_and_cancelled_by_its_id(cli: CliRunner, tmp_path: Path) -> None:
    values = {k.removeprefix("JOBPORT_").lower(): v for k, v in settings_of(tmp_path).items()}
    with Jobport(Settings(**values)) as engine:  # type: ignore[arg-type]
        engine.dispatcher.executor = Held()  # type: ignore[assignment]
        engine.dispatcher.start(StartRequest(type="ticks-queued"))
        waiting = engine.dispatcher.start(StartRequest(type="ticks-queued"))
    assert engine.store.find_run(waiting.id) is None
    shown = cli.invoke(cli_app, ["status", waiting.id, "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["status"] == "queued"
    cancelled = cli.invoke(cli_app, ["cancel", waiting.id, "--json"])
    assert json.loads(cancelled.stdout)["status"] == "cancelled"
    gone = cli.invoke(cli_app, ["status", waiting.id])
    assert gone.exception is not None
    assert "no run with id" in str(gone.exception)
