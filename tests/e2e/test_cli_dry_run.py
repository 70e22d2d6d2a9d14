"""``jobport import TYPE FILE --dry-run`` as a user runs it: one line saying what would
happen, nothing written, exit 0 (as for a run that completed with row failures); then
``jobport run-import ID`` imports it from the stored upload."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.e2e.test_cli import Cli, make_cli

from jobport.demo.data import write_csv
from jobport.store import make_engine

pytestmark = pytest.mark.e2e


def test_a_dry_run_says_what_the_import_would_do_and_writes_nothing(tmp_path: Path) -> None:
    cli: Cli = make_cli(tmp_path)
    invalid = write_csv(tmp_path / "customers.csv", 60, dirty=0.2, seed=3)
    result = cli("import", "customers", "customers.csv", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    valid = 60 - invalid
    run_id = result.stdout.split(":", 1)[0].removeprefix("dry run ")
    assert result.stdout == (
        f"dry run {run_id}: 60 rows: {valid} valid (would create {valid}, update 0, leave 0 "
        f"unchanged), {invalid} failed; nothing was written (see: jobport failures {run_id})\n"
        f"import it with: jobport run-import {run_id}\n"
    )
    assert customer_count(cli) == 0
    (tmp_path / "customers.csv").unlink()  # importing it does not need the file again
    imported = cli(*shlex.split(result.stdout.splitlines()[1].split(": ", 1)[1])[1:])
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith("run ")
    assert f"{valid:,} created, 0 updated, 0 unchanged" in imported.stdout
    assert customer_count(cli) == valid


def test_a_dry_run_of_one_row_says_one_row_and_how_to_import_it(tmp_path: Path) -> None:
    cli = make_cli(tmp_path)
    write_csv(tmp_path / "one.csv", 1, seed=7)
    result = cli("--executor", "inline", "import", "customers", "one.csv", "--dry-run")
    assert result.returncode == 0, result.stderr
    outcome, next_step = result.stdout.splitlines()
    run_id = outcome.split(":", 1)[0].removeprefix("dry run ")
    assert outcome == (
        f"dry run {run_id}: 1 row: 1 valid (would create 1, update 0, leave 0 unchanged), "
        "0 failed; nothing was written"
    )
    # The hint repeats the global options typed, as the failures hint does.
    assert next_step == f"import it with: jobport --executor=inline run-import {run_id}"


def customer_count(cli: Cli) -> int:
    engine = make_engine(cli.database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM customers")).scalar_one())
    finally:
        engine.dispose()


def test_the_failures_hint_repeats_the_global_options_typed(tmp_path: Path) -> None:
    """Options given on the command line, not in the environment: the hint runs as shown."""
    cli = make_cli(tmp_path)
    env = {k: v for k, v in cli.env.items() if not k.startswith("JOBPORT_")}
    typed = Cli(tmp_path, env)
    write_csv(tmp_path / "customers.csv", 40, dirty=0.2, seed=3)
    options = ["--app=jobport.demo", f"--database-url={cli.database_url}"]
    options.append(f"--storage-url={tmp_path / 'files'}")
    result = typed(*options, "import", "customers", "customers.csv")
    assert result.returncode == 0, result.stderr
    hint = result.stdout.rsplit("(see: ", 1)[1].rstrip(")\n")
    run_id = hint.rsplit(" ", 1)[1]
    assert hint == shlex.join(["jobport", *options, "failures", run_id])
    shown = typed(*shlex.split(hint)[1:])
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("id,email,")
