"""``--out`` as a user mistypes it: a missing folder, a folder, a disk that is full.

A path the command cannot write is refused in one line before any work starts
(no run recorded), and a write that fails all the same is a user error too:
never exit 70, the code of a bug.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.e2e.test_cli import Cli, assert_one_line_error, make_cli

from jobport.demo.data import write_csv
from jobport.store import make_engine
from jobport.store.tables import job_runs

pytestmark = pytest.mark.e2e

#: A device every write to fails with "No space left on device" (Linux).
FULL_DISK = Path("/dev/full")


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    folder = tmp_path_factory.mktemp("cli-out")
    cli = make_cli(folder)
    write_csv(folder / "customers.csv", 20, dirty=0.2, seed=3)
    done = cli("--executor", "inline", "import", "customers", "customers.csv", "--json")
    assert done.returncode == 0, done.stderr
    return cli


def _run_id(cli: Cli) -> str:
    return _run_ids(cli)[0]


def _run_ids(cli: Cli) -> list[str]:
    """Every run's id, oldest first: a refused command adds none."""
    engine = make_engine(cli.database_url)
    try:
        with engine.connect() as conn:
            query = sa.select(job_runs.c.id).order_by(job_runs.c.created_at)
            return list(conn.execute(query).scalars())
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "command",
    [
        ["failures", "{id}"],
        ["template", "customers"],
        ["--executor", "inline", "export", "customers-export", "-f", "csv"],
        ["--executor", "inline", "report", "sales-report", "-f", "csv"],
        ["demo-data", "--rows", "3"],
    ],
)
def test_an_out_in_a_missing_folder_is_refused_before_any_work(
    cli: Cli, command: list[str]
) -> None:
    args, before = [arg.format(id=_run_id(cli)) for arg in command], _run_ids(cli)
    refused = cli(*args, "--out", "/nonexistent/dir/x.csv")
    line = assert_one_line_error(refused, "--out /nonexistent/dir/x.csv", "/nonexistent/dir")
    assert refused.returncode == 1, line
    assert "does not exist" in line
    assert _run_ids(cli) == before


@pytest.mark.parametrize(
    "command",
    [
        ["failures", "{id}"],
        ["template", "customers"],
        ["--executor", "inline", "export", "customers-export", "-f", "csv"],
    ],
)
def test_an_out_that_is_a_folder_is_refused_before_any_work(cli: Cli, command: list[str]) -> None:
    args, before = [arg.format(id=_run_id(cli)) for arg in command], _run_ids(cli)
    refused = cli(*args, "--out", str(cli.cwd))
    line = assert_one_line_error(refused, f"--out {cli.cwd}", "is a folder")
    assert refused.returncode == 1, line
    assert _run_ids(cli) == before


@pytest.mark.skipif(not FULL_DISK.exists(), reason="no /dev/full here")
@pytest.mark.parametrize(
    "command",
    [
        ["failures", "{id}"],
        ["template", "customers"],
        ["--executor", "inline", "export", "customers-export", "-f", "csv"],
    ],
)
def test_a_write_that_fails_is_a_user_error(cli: Cli, command: list[str]) -> None:
    args = [arg.format(id=_run_id(cli)) for arg in command]
    failed = cli(*args, "--out", str(FULL_DISK))
    line = assert_one_line_error(failed, f"{FULL_DISK}", "No space left on device")
    assert failed.returncode == 1, line


def test_a_good_out_is_written(cli: Cli) -> None:
    done = cli("--executor", "inline", "export", "customers-export", "--out", "fine.csv", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["out"] == "fine.csv"
    assert (cli.cwd / "fine.csv").read_text(encoding="utf-8").startswith("id,")
