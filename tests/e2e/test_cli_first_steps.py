"""The CLI's first steps, driven as a subprocess: what a new user meets in the first minutes.

An app module in the current folder, a second sync with nothing new, Ctrl-C
and SIGTERM during an import, a failing chunk, the short ids the dashboard
shows, ``jobport demo`` on a taken port, and the help text.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import psutil
import pytest
import sqlalchemy as sa
from tests.e2e.test_cli import Cli, assert_one_line_error, customer_count, make_cli

from jobport.demo.data import write_csv
from jobport.store import JobStore, NewRun, make_engine
from jobport.store.migrations import upgrade

pytestmark = pytest.mark.e2e

#: The console script a user types, installed beside the interpreter.
JOBPORT_SCRIPT = Path(sys.executable).with_name("jobport")
#: Rows of the file interrupted mid-import: a few chunks of the demo type, a few seconds.
INTERRUPTED_ROWS = 60_000

# The demo's customers, but the row in the middle of the file waits until a gate file
# exists: an import of it is surely still running, in the pool, when the test stops it.
GATED = """
import time
from pathlib import Path

from jobport import Importer, JobRegistry, JobType
from jobport.demo import Customer, customers

GATE = Path("gate")


def wait_at_the_gate(row):
    if row["id"] == 30_000:
        while not GATE.exists():
            time.sleep(0.01)
    return row


registry = JobRegistry()
registry.add(
    JobType(
        type="customers",
        label="Customers",
        kind="import",
        model=customers,
        handler=Importer(row=Customer, key="id", transform=wait_at_the_gate),
        chunk_size=20_000,
    )
)
"""

MYJOBS = """
import sqlalchemy as sa
from pydantic import BaseModel, Field

from jobport import Importer, JobRegistry, JobType

metadata = sa.MetaData()
contacts = sa.Table(
    "contacts", metadata,
    sa.Column("email", sa.String, primary_key=True),
    sa.Column("name", sa.String, nullable=False),
)


class Contact(BaseModel):
    email: str = Field(pattern=r"^[^@\\s]+@[^@\\s]+$")
    name: str = Field(min_length=1)


registry = JobRegistry()
registry.add(JobType(
    type="contacts", label="Contacts", kind="import",
    model=contacts, handler=Importer(row=Contact, key="email"),
))
"""

BROKEN = """
import sqlalchemy as sa
from pydantic import BaseModel

from jobport import Importer, JobRegistry, JobType

metadata = sa.MetaData()
things = sa.Table("things", metadata, sa.Column("code", sa.String(20), primary_key=True))


class Thing(BaseModel):
    code: str


def call_the_service(row):
    raise RuntimeError("the thing service is down")


registry = JobRegistry()
registry.add(JobType(
    type="things", label="Things", kind="import", model=things, max_attempts=1,
    handler=Importer(row=Thing, key="code", transform=call_the_service),
))
"""


# -- an app module in the current folder --------------------------------------------------------


def test_the_jobport_script_finds_an_app_module_in_the_current_folder(cli: Cli) -> None:
    (cli.cwd / "myjobs.py").write_text(MYJOBS, encoding="utf-8")
    (cli.cwd / "contacts.csv").write_text("email,name\nada@example.com,Ada\n", encoding="utf-8")

    def jobport(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(JOBPORT_SCRIPT), "--app", "myjobs", *args],
            cwd=cli.cwd,
            env=cli.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    types = jobport("types", "--json")
    assert types.returncode == 0, types.stderr
    assert [t["type"] for t in json.loads(types.stdout)] == ["contacts"]
    # The local pool's worker processes import the module too.
    imported = jobport("import", "contacts", "contacts.csv", "--json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["status"] == "completed"


# -- a sync with nothing new --------------------------------------------------------------------


def test_a_second_sync_with_nothing_new_returns(cli: Cli) -> None:
    first = cli.json("sync", "orders", "-o", "count=5", "--json")
    assert (first["status"], first["processed"]) == ("completed", 5)
    second = cli("sync", "orders", "-o", "count=5", "--json", timeout=60)
    assert second.returncode == 0, second.stderr
    run = json.loads(second.stdout)
    assert (run["status"], run["processed"], run["chunks_total"]) == ("completed", 0, 0)


# -- Ctrl-C and SIGTERM during an import --------------------------------------------------------


@pytest.fixture
def importing(cli: Cli) -> Iterator[tuple[subprocess.Popen[str], str, list[psutil.Process]]]:
    """An import held mid-file by a gate, started in its own session, once its pool runs.

    Yields the process, the run id and the processes it started (its pool);
    any of them still alive at the end is killed, so a failing test leaves none.
    """
    process = start_interruptible_import(cli, "gated", GATED, INTERRUPTED_ROWS)
    children: list[psutil.Process] = []
    try:
        run_id = wait_for_status(cli, "running")
        children = wait_for_pool(process.pid)
        yield process, run_id, children
    finally:
        for leftover in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                leftover.kill()
        process.kill()
        process.communicate()


def test_ctrl_c_stops_an_import_at_once_and_leaves_it_resumable(
    cli: Cli, importing: tuple[subprocess.Popen[str], str, list[psutil.Process]]
) -> None:
    process, run_id, children = importing
    interrupted_at = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert time.monotonic() - interrupted_at < 5
    assert "Traceback" not in stderr
    assert "KeyboardInterrupt" not in stderr  # no worker retried a delivery it was given
    line = stderr.strip().splitlines()[-1]
    assert line.startswith(f"interrupted: run {run_id} stopped after")
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []
    assert run_status(cli, run_id) == "cancelled"

    (cli.cwd / "gate").touch()
    resume_command = shlex.split(line.split("`")[1])
    assert resume_command == ["jobport", "--workers=1", "resume", run_id]  # as it was typed
    resumed = cli.json(*resume_command[1:], "--json")
    assert (resumed["status"], resumed["processed"]) == ("completed", INTERRUPTED_ROWS)
    assert customer_count(cli) == INTERRUPTED_ROWS


def test_sigterm_ends_the_pool_with_the_import(
    cli: Cli, importing: tuple[subprocess.Popen[str], str, list[psutil.Process]]
) -> None:
    process, run_id, children = importing
    process.terminate()  # to the CLI alone, as a supervisor or `kill` sends it
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert f"terminated: run {run_id} stopped after" in stderr
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], [" ".join(p.cmdline())[:80] for p in alive]  # no forkserver, no tracker
    assert run_status(cli, run_id) == "cancelled"


# -- a failing chunk ----------------------------------------------------------------------------


def test_a_failing_chunk_prints_no_traceback_without_jobport_debug(cli: Cli) -> None:
    (cli.cwd / "broken.py").write_text(BROKEN, encoding="utf-8")
    (cli.cwd / "things.csv").write_text("code\na\nb\n", encoding="utf-8")
    cli.env["PYTHONPATH"] += os.pathsep + str(cli.cwd)
    result = cli("--app", "broken", "import", "things", "things.csv")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert all(line.startswith("error: ") for line in lines), lines
    assert (
        lines[-1]
        == "error: chunk 0 failed after 1 attempt(s): RuntimeError: the thing service is down"
    )

    cli.env["JOBPORT_DEBUG"] = "1"
    debug = cli("--app", "broken", "import", "things", "things.csv")
    assert "Traceback" in debug.stderr
    assert "the thing service is down" in debug.stderr


# -- short ids ----------------------------------------------------------------------------------


def test_status_cancel_and_resume_take_a_unique_start_of_the_id(cli: Cli) -> None:
    ids = [f"abcd{n:04d}-0000-4000-8000-000000000000" for n in range(7)]
    create_runs(cli, ids)

    status = cli.json("status", "abcd0003", "--json")
    assert status["id"] == ids[3]
    cancelled = cli("cancel", "abcd0005")
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"run {ids[5]} cancelled" in cancelled.stdout
    assert run_status(cli, ids[5]) == "cancelled"
    # Resuming it goes as far as the engine: the full id in its answer (or the run).
    resumed = cli("--executor", "inline", "resume", "abcd0005", "--json")
    assert ids[5] in resumed.stdout + resumed.stderr
    assert "no run with id" not in resumed.stderr

    line = assert_one_line_error(cli("status", "abcd"), "'abcd' starts the ids of several runs")
    assert all(run_id in line for run_id in ids[:5])
    assert ids[5] not in line  # bounded: five shown, then "..."
    assert line.count("abcd0") == 5
    assert_one_line_error(cli("cancel", "abce"), "no run with id 'abce'")


def test_history_never_cuts_an_id(tmp_path: Path) -> None:
    cli = make_cli(tmp_path, columns=80)
    ids = ["0b3a7c1e-5d2f-4e8a-9c6b-1f2e3d4c5b6a", "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"]
    create_runs(cli, ids)
    result = cli("history")
    assert result.returncode == 0, result.stderr
    for run_id in ids:
        assert run_id in result.stdout


@pytest.mark.parametrize("columns", [80, 200])
def test_history_and_types_cut_nothing_short_in_any_terminal(tmp_path: Path, columns: int) -> None:
    """In 80 columns the runs come two lines each; wide, as a table. No "…" either way."""
    cli = make_cli(tmp_path, columns=columns)
    ids = ["0b3a7c1e-5d2f-4e8a-9c6b-1f2e3d4c5b6a"]
    create_runs(cli, ids)
    history = cli("history")
    types = cli("types")
    assert history.returncode == types.returncode == 0, history.stderr + types.stderr
    assert "…" not in history.stdout + types.stdout
    assert all(len(line) <= columns for line in (history.stdout + types.stdout).splitlines())
    assert ids[0] in history.stdout
    if columns == 80:
        assert "\n  customers (import) queued: 0 of ? rows, 0 failed\n" in history.stdout
    else:
        assert " customers " in history.stdout
        assert " queued " in history.stdout
    for name in ("customers-export", "sales-report"):
        assert f" {name} " in types.stdout


def test_tables_piped_are_as_wide_as_they_are(tmp_path: Path) -> None:
    """``jobport types | cat``: no terminal, no COLUMNS; not laid out in 80 columns, so no
    word split over two lines and no id cut (nor in an 80-column terminal, for audit)."""
    cli = make_cli(tmp_path, columns=None)
    write_csv(tmp_path / "few.csv", 3, seed=7)
    imported = cli.json("--executor", "inline", "import", "customers", "few.csv", "--json")

    def piped(*args: str, env: dict[str, str] = cli.env) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "jobport.cli", *args],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,  # nor a terminal there, whose width rich would take
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    types = piped("types")
    assert "│ Customers (export) " in types
    assert "│ Sales by country and month " in types
    assert max(len(line) for line in types.splitlines()) > 80
    for audit in (piped("audit"), piped("audit", env={**cli.env, "COLUMNS": "80"})):
        assert imported["id"] in audit
        assert "…" not in audit


# -- jobport demo -------------------------------------------------------------------------------


def test_demo_on_a_taken_port_says_so_before_anything_else(cli: Cli) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = cli("demo", "--dir", "demo", "--port", port, "--rows", "10")
    assert_one_line_error(result, f"127.0.0.1:{port}", "--port")
    assert result.stdout == ""
    assert not (cli.cwd / "demo").exists()


def test_demo_banner_gives_the_cli_settings_that_see_its_runs(cli: Cli) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    with demo_process(cli, port) as banner:
        commands = [line.strip() for line in banner if line.strip().startswith("jobport --")]
    assert len(commands) == 1, banner
    live = [line.split() for line in banner if line.split()[:1] == ["live"]]
    assert [words[1] for words in live] == [str(cli.cwd / "demo" / "customers-1000.csv")]
    args = shlex.split(commands[0])
    assert args[-1] == "history"
    assert args[1:3] == ["--app", "jobport.demo"]
    # Those settings alone (no JOBPORT_* in the environment) reach the demo's state.
    bare = make_cli(cli.cwd)
    bare.env = {k: v for k, v in bare.env.items() if not k.startswith("JOBPORT_")}
    assert bare.json(*args[1:], "--json") == []


# -- help ---------------------------------------------------------------------------------------


def test_help_names_arguments_and_environment_variables_plainly(cli: Cli) -> None:
    usage = cli("import", "--help")
    assert usage.returncode == 0
    assert "[OPTIONS] TYPE FILE" in usage.stdout
    main = cli("--help").stdout
    assert "State database URL [env: JOBPORT_DATABASE_URL]." in main
    assert "Storage folder or fsspec URL [env: JOBPORT_STORAGE_URL]." in main
    assert "local, inline or celery [env: JOBPORT_EXECUTOR]." in main


# -- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return make_cli(tmp_path)


def wait_for_status(cli: Cli, wanted: str, timeout: float = 60) -> str:
    """Poll the state database until its one run has ``wanted`` status; returns its id."""
    engine = make_engine(cli.database_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                with engine.connect() as conn:
                    row = conn.execute(sa.text("SELECT id, status FROM job_runs")).first()
            except sa.exc.OperationalError:
                row = None  # the state tables are not there yet
            if row is not None and row.status == wanted:
                return str(row.id)
            time.sleep(0.02)
    finally:
        engine.dispose()
    raise AssertionError(f"no run became {wanted} in {timeout} s")


def start_interruptible_import(cli: Cli, app: str, source: str, rows: int) -> subprocess.Popen[str]:
    """``jobport --workers 1 import customers`` of ``rows`` demo rows, the type from module
    ``app`` (written from ``source``), in its own session as a terminal's foreground job."""
    write_csv(cli.cwd / "rows.csv", rows)
    (cli.cwd / f"{app}.py").write_text(source, encoding="utf-8")
    cli.env["PYTHONPATH"] += os.pathsep + str(cli.cwd)
    cli.env["JOBPORT_APP"] = app
    return subprocess.Popen(
        [sys.executable, "-m", "jobport.cli", "--workers", "1", "import", "customers", "rows.csv"],
        cwd=cli.cwd,
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        # ... with Ctrl-C's default action, as a terminal gives it: a test run started in
        # the background of a shell inherits SIGINT ignored, and Python keeps it so.
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_pool(pid: int, timeout: float = 60) -> list[psutil.Process]:
    """Poll until the process's pool has a worker (a forkserver's child); returns its children.

    The first chunk may run in the CLI's own thread before the pool exists, so a
    run reading ``running`` does not yet mean the forkserver is there.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(psutil.NoSuchProcess):
            children = psutil.Process(pid).children(recursive=True)
            servers = [c for c in children if "forkserver" in " ".join(c.cmdline())]
            if any(server.children() for server in servers):
                return psutil.Process(pid).children(recursive=True)
        time.sleep(0.02)
    raise AssertionError(f"process {pid} started no pool in {timeout} s")


def run_status(cli: Cli, run_id: str) -> str:
    engine = make_engine(cli.database_url)
    try:
        return JobStore(engine).get_run(run_id).status
    finally:
        engine.dispose()


def create_runs(cli: Cli, ids: list[str]) -> None:
    """Queued demo runs with chosen ids (ids the dispatcher would draw at random)."""
    engine = make_engine(cli.database_url)
    try:
        upgrade(engine)
        store = JobStore(engine)
        for run_id in ids:
            new = NewRun(
                id=run_id,
                type="customers",
                kind="import",
                strategy="polling",
                broadcast=True,
                owner=None,
                params={},
                max_attempts=1,
            )
            store.create_run(new, [{"rows": 0}])
    finally:
        engine.dispose()


@contextmanager
def demo_process(cli: Cli, port: str) -> Iterator[list[str]]:
    """``jobport demo`` on ``port``: yields its banner, then stops it and all it started."""
    command = ["demo", "--dir", "demo", "--port", port, "--live-rows", "1000"]
    process = subprocess.Popen(
        [sys.executable, "-m", "jobport.cli", *command],
        cwd=cli.cwd,
        env={k: v for k, v in cli.env.items() if not k.startswith("JOBPORT_")},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    reader = threading.Thread(target=_read_into, args=(process.stdout, lines), daemon=True)
    reader.start()
    try:
        banner: list[str] = []
        deadline = time.monotonic() + 30
        while not banner or not banner[-1].strip().endswith(" history"):
            try:  # the banner ends with the CLI's settings
                banner.append(lines.get(timeout=max(deadline - time.monotonic(), 0)))
            except queue.Empty:
                break
        yield banner
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        reader.join(timeout=10)
        process.stdout.close()


def _read_into(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)
