"""The ``jobport`` command line, driven as a subprocess like a user would."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from jobport.demo.data import COLUMNS, generate, write_csv
from jobport.formats.cells import neutralise
from jobport.store import make_engine
from jobport.store.migrations import alembic_config

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RUN_FIELDS = {
    "id",
    "type",
    "kind",
    "status",
    "total",
    "processed",
    "failed",
    "started_at",
    "finished_at",
}

#: A correct value for each column a demo defect spoils.
FIXES = {
    "email": "fixed{id}@example.com",
    "last_name": "Fixed",
    "country": "FR",
    "age": "30",
    "signup_date": "2020-01-01",
    "balance": "10.00",
    "score": "1.5",
    "active": "true",
}


@dataclass
class Cli:
    """Runs ``python -m jobport.cli`` in a folder with its own state database and storage."""

    cwd: Path
    env: dict[str, str]

    @property
    def database_url(self) -> str:
        return self.env["JOBPORT_DATABASE_URL"]

    def __call__(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jobport.cli", *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def json(self, *args: str) -> Any:
        result = self(*args)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        return json.loads(result.stdout)


def make_cli(folder: Path, *, columns: int | None = 1000) -> Cli:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("JOBPORT_") and k not in ("COLUMNS", "LINES")
    }
    env.update(
        {
            "JOBPORT_DATABASE_URL": f"sqlite:///{folder / 'state.db'}",
            "JOBPORT_STORAGE_URL": str(folder / "files"),
            "JOBPORT_APP": "jobport.demo",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        }
    )
    if columns is not None:  # a wide terminal, so line wrapping is not what gets tested
        env["COLUMNS"] = str(columns)
    return Cli(folder, env)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return make_cli(tmp_path)


def customer_count(cli: Cli) -> int:
    engine = make_engine(cli.database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM customers")).scalar_one())
    finally:
        engine.dispose()


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


# -- one dirty import on the default (local process pool) executor, shared by a few tests ------

ROWS = 120
DIRTY = 0.2
SEED = 3


@dataclass
class Imported:
    cli: Cli
    run: dict[str, Any]
    stdout: str
    invalid: int


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Imported:
    folder = tmp_path_factory.mktemp("cli-import")
    cli = make_cli(folder)
    invalid = write_csv(folder / "customers.csv", ROWS, dirty=DIRTY, seed=SEED)
    assert invalid > 0
    result = cli("import", "customers", "customers.csv", "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return Imported(cli, json.loads(result.stdout), result.stdout, invalid)


def test_import_prints_one_json_object_and_exits_zero_with_row_failures(
    imported: Imported,
) -> None:
    assert imported.stdout.count("\n") == 1  # exactly one line: the JSON object
    run = imported.run
    assert set(run) >= RUN_FIELDS
    assert run["type"] == "customers"
    assert run["kind"] == "import"
    assert run["status"] == "completed_with_errors"
    assert (run["total"], run["processed"], run["failed"]) == (ROWS, ROWS, imported.invalid)
    started = datetime.fromisoformat(run["started_at"])
    finished = datetime.fromisoformat(run["finished_at"])
    assert started <= finished
    assert customer_count(imported.cli) == ROWS - imported.invalid


def test_status_json_shows_the_run(imported: Imported) -> None:
    run = imported.cli.json("status", imported.run["id"], "--json")
    for field in ("id", "type", "status", "total", "processed", "failed", "finished_at"):
        assert run[field] == imported.run[field]


def test_status_of_an_unknown_run(imported: Imported) -> None:
    result = imported.cli("status", "no-such-run")
    assert_one_line_error(result, "no run with id 'no-such-run'")


@pytest.mark.parametrize("command", ["retry", "resume"])
def test_retry_of_a_run_with_row_failures_says_the_way_forward(
    imported: Imported, command: str
) -> None:
    """Its chunks all ran: what is left is its failed rows, to correct and import again."""
    run_id = imported.run["id"]
    refused = imported.cli(command, run_id[:8])
    line = assert_one_line_error(refused, f"run {run_id} completed with {imported.invalid} failed")
    assert refused.returncode == 1
    assert f"`jobport failures {run_id} --out failures.csv`" in line
    assert f"`jobport import customers failures.csv --retry-of {run_id}`" in line


def test_failures_report_then_retry_of_links_the_runs(imported: Imported) -> None:
    cli, run_id = imported.cli, imported.run["id"]
    result = cli("failures", run_id, "--out", "report.csv")
    assert result.returncode == 0, result.stderr
    assert f"{imported.invalid} failed row(s) written to report.csv" in result.stderr

    assert (cli.cwd / "report.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # for Excel
    with open(cli.cwd / "report.csv", newline="", encoding="utf-8-sig") as handle:
        report = list(csv.reader(handle))
    assert report[0] == [*COLUMNS, "line", "error"]
    bad = {row.line: row for row in generate(ROWS, dirty=DIRTY, seed=SEED) if row.defect}
    assert [int(row[-2]) for row in report[1:]] == sorted(bad)
    for row in report[1:]:
        # The values as the file held them, neutralised for a spreadsheet (a negative balance).
        assert row[: len(COLUMNS)] == [neutralise(v) for v in bad[int(row[-2])].values]
        assert row[-1]  # the reason

    stdout_report = cli("failures", run_id)
    assert stdout_report.returncode == 0
    assert list(csv.reader(stdout_report.stdout.splitlines())) == report

    # Correct the report where the error points, and import it as a retry of the run.
    fixed = []
    for row in report[1:]:
        values = dict(zip(report[0], row, strict=True))
        column = values["error"].split(":", 1)[0]
        values[column] = FIXES[column].format(id=values["id"])
        fixed.append(values)
    with open(cli.cwd / "fixed.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=report[0])
        writer.writeheader()
        writer.writerows(fixed)

    child = cli.json("import", "customers", "fixed.csv", "--retry-of", run_id, "--json")
    assert child["retry_of"] == run_id
    assert child["status"] == "completed"
    assert (child["total"], child["processed"], child["failed"]) == (imported.invalid,) * 2 + (0,)
    assert cli.json("status", run_id, "--json")["retried_by"] == [child["id"]]
    assert customer_count(cli) == ROWS


def test_many_chunks_on_the_process_pool_keep_file_order(cli: Cli) -> None:
    rows = [(f"P{i % 12}", f"name {i}", str(i)) for i in range(40)]
    with open(cli.cwd / "people.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["code", "name", "age"])
        writer.writerows(rows)
    run = cli.json("--app", "tests.apps.people", "import", "people", "people.csv", "--json")
    assert run["status"] == "completed"
    assert (run["total"], run["processed"], run["chunks_total"]) == (40, 40, 14)
    last = {code: (name, int(age)) for code, name, age in rows}  # the later row wins
    engine = make_engine(cli.database_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT code, name, age FROM people")).all()
    finally:
        engine.dispose()
    assert {code: (name, age) for code, name, age in stored} == last


# -- errors a user can cause --------------------------------------------------------------------


def test_unknown_type(cli: Cli) -> None:
    (cli.cwd / "c.csv").write_text("id\n1\n", encoding="utf-8")
    result = cli("import", "nope", "c.csv")
    assert_one_line_error(result, "unknown job type 'nope'", "known types: customers")


def test_export_of_an_import_type_names_the_export_types(cli: Cli) -> None:
    result = cli("export", "customers")
    assert_one_line_error(
        result,
        "'customers' is an import type, not an export type; export types: customers-export",
    )


def test_undo_of_an_export_says_what_can_be_undone_in_a_users_words(cli: Cli) -> None:
    exported = cli.json("--executor", "inline", "export", "customers-export", "--json")
    refused = cli("undo", exported["id"])
    line = assert_one_line_error(refused, f"run {exported['id']} cannot be undone")
    assert "only imports of types declared undoable can be undone" in line
    assert "JobType" not in line  # how a type is declared so is for the docs, not this line


def test_missing_file(cli: Cli) -> None:
    result = cli("import", "customers", "missing.csv")
    assert_one_line_error(result, "missing.csv", "no such file")


def test_missing_column(cli: Cli) -> None:
    (cli.cwd / "c.csv").write_text("id,email\n1,a@example.com\n", encoding="utf-8")
    result = cli("import", "customers", "c.csv", "--json")
    assert_one_line_error(result, "missing required column(s): last_name, country")
    run = json.loads(result.stdout)
    assert run["status"] == "failed"
    assert customer_count(cli) == 0
    said = cli("import", "customers", "c.csv")
    assert said.stdout == f"run {said.stdout.split()[1]} failed before reading any row\n"


def test_malformed_file(cli: Cli) -> None:
    write_csv(cli.cwd / "c.csv", 3)
    with open(cli.cwd / "c.csv", "a", encoding="utf-8") as handle:
        handle.write('4,"unclosed@example.com,Ada,Lovelace,GB,,,true,,\n')
    result = cli("import", "customers", "c.csv")
    assert_one_line_error(result, "line 5", "never closes")


def test_hints_name_the_cli_options_and_the_format_is_an_option(cli: Cli) -> None:
    """What to type next is said as the CLI takes it: --decimal ',', not decimal=','."""
    (cli.cwd / "eu.csv").write_text(
        'id,email,last_name,country,balance\n1,a@example.com,A,GB,"1,5"\n2,b@example.com,B,GB,3\n',
        encoding="utf-8",
    )
    run = cli.json("import", "customers", "eu.csv", "--json")
    report = cli("failures", run["id"]).stdout
    assert "import with --decimal ','" in report
    assert "decimal=" not in report
    (cli.cwd / "c.xlsx").write_text("id\n1\n", encoding="utf-8")
    assert_one_line_error(cli("import", "customers", "c.xlsx"), "send it with --format csv")
    write_csv(cli.cwd / "data.txt", 2)
    imported = cli.json("import", "customers", "data.txt", "--format", "csv", "--json")
    assert (imported["status"], imported["processed"]) == ("completed", 2)


def test_zip_file(cli: Cli) -> None:
    import zipfile

    with zipfile.ZipFile(cli.cwd / "c.csv", "w") as archive:
        archive.writestr("inner.csv", "id\n1\n")
    result = cli("import", "customers", "c.csv")
    assert_one_line_error(result, "sent as CSV")


def test_bad_option_syntax(cli: Cli) -> None:
    (cli.cwd / "c.csv").write_text("id\n1\n", encoding="utf-8")
    result = cli("import", "customers", "c.csv", "-o", "novalue")
    assert_one_line_error(result, "option 'novalue' is not key=value")


def test_app_module_without_registry(cli: Cli) -> None:
    result = cli("--app", "tests.apps.no_registry", "types")
    assert_one_line_error(result, "holds no JobRegistry")
    assert result.returncode == 2


def test_a_long_error_stays_on_one_line(tmp_path: Path) -> None:
    cli = make_cli(tmp_path, columns=None)
    header = ["id", "email", *[f"unrelated_column_{n}" for n in range(8)]]
    (tmp_path / "wide.csv").write_text(",".join(header) + "\n", encoding="utf-8")
    result = cli("import", "customers", "wide.csv")
    assert_one_line_error(result, "missing required column(s)", "unrelated_column_7")


# -- types, history, set-up ---------------------------------------------------------------------


def test_types_json(cli: Cli) -> None:
    types = cli.json("types", "--json")
    by_type = {t["type"]: t for t in types}
    customers = by_type["customers"]
    assert {k: customers[k] for k in ("type", "label", "kind", "strategy")} == {
        "type": "customers",
        "label": "Customers",
        "kind": "import",
        "strategy": "websocket",
    }
    assert isinstance(customers["formats"], list)
    assert "csv" in customers["formats"]
    assert [c["name"] for c in customers["columns"]] == COLUMNS
    assert customers["model"] == "customers"


def test_types_of_another_app(cli: Cli) -> None:
    types = cli.json("--app", "tests.apps.people", "types", "--json")
    assert [t["type"] for t in types] == [
        "people",
        "people-shout",
        "people-mixed",
        "people-flaky",
        "people-quiet",
        "people-private",
        "people-options",
    ]
    options = {t["type"]: t["options_schema"] for t in types}["people-options"]
    assert options["required"] == ["limit"]
    table = cli("--app", "tests.apps.people", "types")
    assert table.returncode == 0
    assert "people-shout" in table.stdout


def test_history_newest_first_with_filters(cli: Cli) -> None:
    write_csv(cli.cwd / "good.csv", 10)
    (cli.cwd / "bad.csv").write_text("id\n1\n", encoding="utf-8")
    first = cli.json("--executor", "inline", "import", "customers", "good.csv", "--json")
    second = cli("--executor", "inline", "import", "customers", "bad.csv", "--json")
    assert second.returncode == 1
    failed = json.loads(second.stdout)

    runs = cli.json("history", "--json")
    assert [r["id"] for r in runs] == [failed["id"], first["id"]]
    created = [datetime.fromisoformat(r["created_at"]) for r in runs]
    assert created == sorted(created, reverse=True)
    assert [r["id"] for r in cli.json("history", "--status", "failed", "--json")] == [failed["id"]]
    assert cli.json("history", "--type", "orders", "--json") == []


def test_history_refuses_a_filter_no_run_can_match(cli: Cli) -> None:
    status = cli("history", "--status", "bogus")
    assert_one_line_error(status, "unknown status 'bogus'", "completed_with_errors, failed")
    assert status.returncode == 1
    job_type = cli("history", "--type", "nope", "--json")
    assert_one_line_error(job_type, "unknown job type 'nope'", "known types: customers")
    assert job_type.returncode == 1
    kind = cli("history", "--kind", "imports")
    assert_one_line_error(kind, "unknown kind 'imports'", "import, export")


def test_history_with_no_run_says_so_in_one_line(cli: Cli) -> None:
    assert cli("history").stdout == "no runs\n"
    assert cli("history", "--type", "orders").stdout == "no runs with --type orders\n"


def test_demo_data(cli: Cli) -> None:
    result = cli("demo-data", "--rows", "50", "--dirty", "0.3", "--out", "demo.csv")
    assert result.returncode == 0, result.stderr
    expected = list(generate(50, dirty=0.3, seed=42))
    invalid = sum(row.defect is not None for row in expected)
    assert invalid > 0
    assert f"wrote 50 rows ({invalid} invalid) to demo.csv" in result.stderr
    with open(cli.cwd / "demo.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == COLUMNS
    assert rows[1:] == [row.values for row in expected]
    assert sorted(p.name for p in cli.cwd.iterdir() if "demo" in p.name) == ["demo.csv"]


def test_db_upgrade_creates_the_state_tables(cli: Cli) -> None:
    cli.env["JOBPORT_DATABASE_URL"] = f"sqlite:///{cli.cwd / 'fresh' / 'state.db'}"
    (cli.cwd / "fresh").mkdir()
    result = cli("db", "upgrade")
    assert result.returncode == 0, result.stderr
    engine = make_engine(cli.database_url)
    try:
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        assert result.stdout.strip() == f"state tables at revision {head}"
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"job_runs", "job_chunks", "job_failures", "job_events"} <= tables
    again = cli("db", "upgrade")
    assert again.returncode == 0
    assert again.stdout == result.stdout
