"""``jobport prune``: once as a subprocess, as a user runs it; its options in process."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jobport import Jobport, Settings
from jobport.cli import app as cli_app
from jobport.errors import InputError
from jobport.store.section import utcnow
from jobport.store.tables import job_runs

ROOT = Path(__file__).resolve().parents[2]


def settings_of(folder: Path) -> dict[str, str]:
    return {
        "JOBPORT_DATABASE_URL": f"sqlite:///{folder / 'state.db'}",
        "JOBPORT_STORAGE_URL": str(folder / "files"),
        "JOBPORT_APP": "tests.apps.people",
    }


def old_run(folder: Path, days: float) -> tuple[str, str]:
    """An import finished ``days`` ago; its id and its upload's storage key."""
    values = {k.removeprefix("JOBPORT_").lower(): v for k, v in settings_of(folder).items()}
    source = folder / f"people-{days}.csv"
    with open(source, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["code", "name"], ["a", "Ann"], ["b", ""]])
    with Jobport(Settings(**values, executor="inline")) as engine:  # type: ignore[arg-type]
        run = engine.wait(engine.import_file("people", source).id)
        then = utcnow() - timedelta(days=days)
        with engine.database.begin() as conn:
            conn.execute(
                job_runs.update()
                .where(job_runs.c.id == run.id)
                .values(created_at=then, finished_at=then)
            )
        assert run.source_key is not None
        return run.id, run.source_key


@pytest.mark.e2e
def test_prune_as_a_subprocess_removes_the_old_run_and_its_upload(tmp_path: Path) -> None:
    old, upload = old_run(tmp_path, days=100)
    recent, _ = old_run(tmp_path, days=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBPORT_")}
    env.update(settings_of(tmp_path))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))

    result = subprocess.run(
        [sys.executable, "-m", "jobport.cli", "prune", "--older-than", "90d"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    cutoff = (utcnow() - timedelta(days=90)).date().isoformat()
    assert result.stdout.startswith("pruned 1 run (1 failure, ")
    assert result.stdout.rstrip().endswith(f"of files) finished before {cutoff}")
    assert not (tmp_path / "files" / upload).exists()
    values = {k.removeprefix("JOBPORT_").lower(): v for k, v in settings_of(tmp_path).items()}
    with Jobport(Settings(**values, executor="inline")) as engine:  # type: ignore[arg-type]
        assert engine.store.find_run(old) is None
        assert engine.store.find_run(recent) is not None


def test_a_dry_run_says_what_would_go_and_removes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, upload = old_run(tmp_path, days=100)
    for name, value in settings_of(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("JOBPORT_RETENTION_DAYS", "30")  # the default age

    result = CliRunner().invoke(cli_app, ["prune", "--dry-run", "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["runs"], report["failures"], report["dry_run"]) == (1, 1, True)
    assert report["bytes"] == (tmp_path / "files" / upload).stat().st_size


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["prune"], "give --older-than (as in 90d), or set JOBPORT_RETENTION_DAYS"),
        (["prune", "--older-than", "90"], "'90' is not an age"),
    ],
)
def test_prune_without_a_clear_age_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    for name, value in settings_of(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("JOBPORT_RETENTION_DAYS", raising=False)
    result = CliRunner().invoke(cli_app, args)
    assert isinstance(result.exception, InputError)
    assert message in result.exception.message
