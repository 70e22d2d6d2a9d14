"""``jobport demo`` and ``jobport demo-data``: the embedded demo and its sample files.

The demo sets up a folder (SQLite, local files, an admin token, a sample
file), prints what to do with it and serves the API and the dashboard. A
second, larger sample (a million rows by default) is written in the
background on first start, so a newcomer has a file that runs long enough
to watch its progress live; it appears under its name only once complete.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jobport.cli.context import Context, operator, program, state_of
from jobport.cli.output import err, out
from jobport.cli.server import check_port, run_server

if TYPE_CHECKING:
    from jobport.settings import Settings

DEMO_USER = "admin"
#: Rows of the sample to watch live progress with: long enough to see the bar move.
LIVE_ROWS = 1_000_000
#: How the writer of the live sample gives way to the server and its workers.
WRITER_NICENESS = 10


@dataclass(frozen=True)
class Demo:
    """What ``prepare_demo`` set up: the samples, the admin's new token, the settings."""

    sample: Path
    token: str
    settings: Settings
    #: The large sample, or None when not asked for.
    live_sample: Path | None = None
    #: The process writing the large sample on this start, or None when it exists already.
    writer: subprocess.Popen[bytes] | None = None


def demo(
    ctx: typer.Context,
    directory: Annotated[
        Path, typer.Option("--dir", help="Working folder: database, files, sample data.")
    ] = Path("jobport-demo"),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    rows: Annotated[int, typer.Option(min=1, help="Rows of the sample file.")] = 50_000,
    dirty: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of bad rows.")] = 0.02,
    live_rows: Annotated[
        int,
        typer.Option(min=0, help="Rows of the large sample, to watch progress live (0: none)."),
    ] = LIVE_ROWS,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Start the embedded demo: SQLite, local files and workers, a sample file, an admin token."""
    check_port(host, port)
    state = state_of(ctx)
    directory = directory.resolve()
    setup = prepare_demo(state, directory, rows=rows, dirty=dirty, live_rows=live_rows)
    print_banner(setup, directory, f"http://{host}:{port}")
    sys.stdout.flush()
    run_server(setup.settings, host=host, port=port, workers=1, log_level=log_level)


def print_banner(setup: Demo, directory: Path, url: str) -> None:
    """What the demo is and how to use it: URLs, token, samples, a curl and the CLI line."""
    token, sample = setup.token, setup.sample
    out.print(f"[bold]jobport demo[/] in {directory}")
    out.print(f"  dashboard  {url}/   (sign in with the token below)")
    out.print(f"  API        {url}/api   (docs: {url}/docs)")
    out.print(f"  user       {DEMO_USER} (admin)")
    out.print(f"  token      {token}")
    out.print(f"  sample     {sample}")
    if setup.live_sample is not None:
        when = "being written, ready in a minute or so" if setup.writer else "ready"
        out.print(f"  live       {setup.live_sample}   (import it to watch live progress; {when})")
    out.print("Import the sample and follow it:")
    out.print(
        f'  curl -H "Authorization: Bearer {token}" -F file=@{sample} {url}/api/imports/customers'
    )
    out.print(f'  curl -N -H "Authorization: Bearer {token}" {url}/api/jobs/<id>/events')
    out.print("See and drive the demo's runs from the command line:")
    out.print(f"  {cli_for(setup.settings)} history", markup=False)


def cli_for(settings: Settings) -> str:
    """The ``jobport`` options that reach the app, database and files of ``settings``."""
    options = ["--app", settings.app or "", "--database-url", settings.database_url]
    options += ["--storage-url", settings.storage_url]
    return shlex.join([program(), *options])


def prepare_demo(
    state: Context,
    directory: Path,
    *,
    rows: int = 50_000,
    dirty: float = 0.02,
    live_rows: int = 0,
) -> Demo:
    """Set up the demo folder; the samples, a fresh admin token and the settings.

    Running it again keeps the data and the samples and gives the admin a new
    token (tokens are stored hashed, so the old one cannot be shown again).
    """
    from jobport.demo.data import write_csv

    directory.mkdir(parents=True, exist_ok=True)
    defaults = {
        "database_url": f"sqlite:///{directory / 'jobport.db'}",
        "storage_url": str(directory / "files"),
        "app": "jobport.demo",
        "executor": "local",
    }
    state.overrides = {**defaults, **state.overrides}
    settings = state.settings()
    sample = directory / "customers.csv"
    if not sample.exists():
        write_csv(sample, rows, dirty=dirty)
    token = _admin_token(settings)
    if not live_rows:
        return Demo(sample, token, settings)
    live_sample = directory / live_sample_name(live_rows)
    writer = None if live_sample.exists() else write_in_background(live_sample, live_rows, dirty)
    return Demo(sample, token, settings, live_sample, writer)


def _admin_token(settings: Settings) -> str:
    """A new token for the demo's admin, created on first start."""
    from jobport.engine import Jobport
    from jobport.http.auth import hash_token, new_token
    from jobport.service import JobService

    token = new_token()
    with Jobport(settings, warm=False) as engine:
        service, who = JobService(engine), operator()
        if not service.replace_token(who, DEMO_USER, hash_token(token)):
            service.create_user(who, DEMO_USER, hash_token(token), is_admin=True)
    return token


def live_sample_name(rows: int) -> str:
    """``customers-1m.csv`` for a million rows, ``customers-<rows>.csv`` otherwise."""
    label = f"{rows // 1_000_000}m" if rows % 1_000_000 == 0 else str(rows)
    return f"customers-{label}.csv"


def write_in_background(path: Path, rows: int, dirty: float) -> subprocess.Popen[bytes]:
    """Write a sample with ``jobport demo-data`` in a low-priority process of its own.

    A process, not a thread: generating rows is Python work that would hold
    the server's interpreter. ``demo-data`` writes the file whole or not at
    all, and the process ends with the demo (same process group).
    """
    command = [sys.executable, "-m", "jobport.cli", "demo-data"]
    command += ["--rows", str(rows), "--dirty", str(dirty), "--out", str(path)]
    writer = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: os.nice(WRITER_NICENESS),  # only os.nice: safe after fork
    )
    threading.Thread(target=writer.wait, name="demo-sample-writer", daemon=True).start()
    return writer


def demo_data(
    rows: Annotated[int, typer.Option(min=0, help="How many rows.")] = 10_000,
    dirty: Annotated[float, typer.Option(min=0.0, max=1.0, help="Fraction of invalid rows.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the CSV.")] = Path(
        "customers.csv"
    ),
) -> None:
    """Write a customers CSV for the demo app, with a chosen fraction of bad rows."""
    from jobport.cli.files import check_out, writing
    from jobport.demo.data import write_csv

    check_out(out_path)
    # Written beside, then renamed: a reader (an import of the demo's live sample)
    # never sees half a file, and an interrupted write leaves none.
    partial = out_path.with_name(f".{out_path.name}.part")
    try:
        with writing(out_path):
            invalid = write_csv(partial, rows, dirty=dirty, seed=seed)
            os.replace(partial, out_path)
    finally:
        partial.unlink(missing_ok=True)
    err.print(f"wrote {rows:,} rows ({invalid:,} invalid) to {out_path}")
