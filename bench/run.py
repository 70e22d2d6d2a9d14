"""Issue 21's figures in one table: each measure against its floor, in the same run.

One command for every figure of the issue that has a benchmark here, each
timed as a user meets it and beside the floor that gives it a meaning on
whatever machine runs it (other work on a shared machine moves both):

- the CLI's start to exit: ``types``, ``status ID``, ``history``, an ``import`` of one row
  into a fresh SQLite database, against ``python -c pass``; beside them, a
  reference line: a fresh ``python`` importing only the libraries such an
  import needs (SQLAlchemy, typer, rich, pydantic with one model built);
- the 100k-row demo import through the CLI against a fresh ``python`` doing
  csv + sqlite3 ``executemany`` of the same rows (``bench/cli_bench.py``);
- the API's run read under ``wrk -t2 -c50`` against ``/api/health`` of the
  same ``jobport serve`` (its default workers), and the same with the run's
  ``ETag`` (a poller's 304) (``bench/api_load.py``; wrk is Debian's, a C
  client whose two threads cost the server's cores little);
- without ``--quick``: the 1M-row demo import through the CLI against the
  same floor, the run read while that import runs, and ``jobport export`` of a
  1M-row table to a CSV file against sqlite3 + csv.writer (``bench/export_bench.py``'s
  floor), each a fresh process.

It prints ONE table: measure, figure, floor, ratio, target, met. The ratio
of a throughput is ours over the floor's; of a command's time, the command
over ``python -c pass`` (how many empty interpreters it costs).

    .venv/bin/python bench/run.py --quick     # under ~3 minutes
    .venv/bin/python bench/run.py             # adds the 1M-row figures
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx

import api_load
import cli_bench
from cli_bench import JOBPORT, environment, run_id_of, same, timed, with_bytecode
from import_bench import FLOOR

HERE = Path(__file__).resolve().parent

#: What an import through the CLI cannot do without, as a fresh process: the floor
#: under the 1-row import's time that no code of ours can lower.
LIBRARIES = (
    "import sqlalchemy, sqlalchemy.dialects.sqlite, typer, rich.console\n"
    "from pydantic import BaseModel\n"
    "class Row(BaseModel):\n    id: int"
)


@dataclass
class Row:
    """One line of the table."""

    measure: str
    figure: str
    floor: str
    ratio: str
    target: str
    met: bool | None  # None: no target of its own (a reference line)


def median_seconds(
    times: int, command: Callable[[int], list[str]], env: Callable[[int], dict[str, str]]
) -> float:
    return statistics.median(timed(command(i), env(i)) for i in range(times))


def cli_rows(work: Path, repeat: int, rows: int, big_rows: int | None) -> list[Row]:
    """The CLI's commands against ``python -c pass``; the imports against the floor."""
    from jobport.demo.data import write_csv

    one_row = work / "one-row.csv"
    write_csv(one_row, 1, seed=7)
    timed([JOBPORT, "import", "customers", str(one_row)], environment(work, "warm-up"))
    plain = with_bytecode(dict(os.environ))
    empty = median_seconds(repeat, lambda i: [sys.executable, "-c", "pass"], lambda i: plain)
    floor = f"{empty:.3f} s (python -c pass)"
    libraries = median_seconds(repeat, lambda i: [sys.executable, "-c", LIBRARIES], lambda i: plain)
    out = [
        Row(
            "libraries alone: SQLAlchemy, typer, rich, a first pydantic model",
            f"{libraries:.3f} s",
            floor,
            f"{libraries / empty:.0f}x",
            "reference: what any command that writes to the database imports",
            None,
        )
    ]
    one = median_seconds(
        repeat,
        lambda i: [JOBPORT, "import", "customers", str(one_row)],
        lambda i: environment(work, f"one-{i}"),
    )
    out.append(_timed_row("import, 1 row, fresh SQLite db", one, empty, floor, 0.5))
    env = environment(work, "one-0")
    run_id = run_id_of(env)
    for name, command in (
        ("types", [JOBPORT, "types"]),
        ("status ID", [JOBPORT, "status", run_id]),
        ("history", [JOBPORT, "history"]),
    ):
        seconds = median_seconds(repeat, functools.partial(same, command), lambda i: env)
        out.append(_timed_row(f"jobport {name}", seconds, empty, floor, 0.3))
    sizes = [(rows, repeat, 0.4)] + ([(big_rows, 1, 0.65)] if big_rows else [])
    for size, times, target in sizes:
        source = work / f"customers-{size}.csv"
        write_csv(source, size, dirty=0.01, seed=7)
        out.append(_import_row(work, source, size, times, target))
    return out


def _timed_row(name: str, seconds: float, empty: float, floor: str, target: float) -> Row:
    return Row(
        name,
        f"{seconds:.3f} s",
        floor,
        f"{seconds / empty:.0f}x",
        f"<= {target} s",
        seconds <= target,
    )


def _import_row(work: Path, source: Path, rows: int, times: int, target: float) -> Row:
    """The CLI's import of ``source`` against the executemany floor, alternating, fresh dbs."""
    floors, ours = [], []
    for i in range(times):
        os.sync()
        floor_db = str(work / f"floor-{rows}-{i}.db")
        plain = with_bytecode(dict(os.environ))
        floors.append(timed([sys.executable, "-c", FLOOR, str(source), floor_db], plain))
        os.sync()
        command = [JOBPORT, "import", "customers", str(source)]
        ours.append(timed(command, environment(work, f"big-{rows}-{i}")))
    ratio = statistics.median(f / o for f, o in zip(floors, ours, strict=True))
    floor, mine = statistics.median(floors), statistics.median(ours)
    return Row(
        f"import {rows:,} rows, CLI start to exit",
        f"{mine:.2f} s ({rows / mine:,.0f} rows/s)",
        f"{floor:.2f} s (csv + executemany)",
        f"{ratio:.2f}",
        f">= {target}",
        ratio >= target,
    )


def api_rows(work: Path, seconds: float, connections: int, big_rows: int | None) -> list[Row]:
    """The run read (and its 304) against /api/health of the same `jobport serve`."""
    from jobport.demo.data import write_csv

    small = work / "api-small.csv"
    write_csv(small, 1000, dirty=0.02, seed=7)
    env = {**os.environ, "JOBPORT_WORKERS": "2"}
    server = api_load.ServeServer(work / "server", api_load.free_port(), env, None)
    out = []
    try:
        run_id = server.start_import(small)
        routes = api_load.routes(server, run_id)
        measured = {
            name: api_load.wrk(url, headers, seconds, connections)
            for name, (url, headers) in routes.items()
        }
        health = measured["GET /api/health (floor)"]
        floor = f"{health.requests_per_second:,.0f} req/s, p99 {health.p99_ms:.0f} ms (/api/health)"
        for name in ("GET /api/jobs/{id}", "GET /api/jobs/{id} If-None-Match"):
            if name in measured:
                out.append(_api_row(f"{name}, idle", measured[name], health, floor, 50.0))
        if big_rows:
            big = work / "api-big.csv"
            write_csv(big, big_rows, dirty=0.02, seed=7)
            loaded_id = server.start_import(big)
            url, headers = api_load.routes(server, loaded_id)["GET /api/jobs/{id}"]
            got = api_load.wrk(url, headers, seconds, connections)
            run = server.run(loaded_id).json()
            state = f"{run['status']} {run['processed']:,}/{run['total'] or 0:,} when wrk ended"
            if run["status"] in ("queued", "running"):
                cancel = f"{server.url}/api/jobs/{loaded_id}/cancel"
                httpx.post(cancel, headers=server.auth, timeout=30)
            name = f"GET /api/jobs/{{id}}, {big_rows:,}-row import running ({state})"
            out.append(_api_row(name, got, health, floor, 150.0))
    finally:
        server.stop()
    return out


def _api_row(
    name: str, got: api_load.WrkResult, health: api_load.WrkResult, floor: str, p99_target: float
) -> Row:
    met = got.requests_per_second >= 2000 and got.p99_ms < p99_target and got.not_ok == 0
    bad = f", {got.not_ok} not 2xx/3xx" if got.not_ok else ""
    return Row(
        name,
        f"{got.requests_per_second:,.0f} req/s, p99 {got.p99_ms:.0f} ms{bad}",
        floor,
        f"{got.requests_per_second / health.requests_per_second:.2f}",
        f">= 2,000 req/s, p99 < {p99_target:g} ms",
        met,
    )


def export_row(work: Path, rows: int, times: int = 3) -> Row:
    """``jobport export`` of the 1M-row demo table to a CSV file, start to exit, alternating
    with the floor (a fresh ``python`` doing sqlite3 ``SELECT ... ORDER BY id`` +
    csv.writer into a file: ``bench/export_bench.py``'s), after one untimed round."""
    exporter = str(HERE / "export_bench.py")
    db = work / "export.db"
    subprocess.run([sys.executable, exporter, "--step", "setup", str(db), str(rows)], check=True)
    env = environment(work, "export")
    env["JOBPORT_DATABASE_URL"] = f"sqlite:///{db}"
    out = work / "exported.csv"
    floor_command = [sys.executable, exporter, "--step", "floor", str(db), str(work / "f.csv")]
    command = [JOBPORT, "export", "customers-export", "--out", str(out)]
    floors, ours = [], []
    for i in range(times + 1):
        floor = timed(floor_command, with_bytecode(dict(os.environ)))
        mine = timed(command, env)
        out.unlink()
        if i:  # the first round warms the page cache and the bytecode
            floors.append(floor)
            ours.append(mine)
    ratio = statistics.median(f / o for f, o in zip(floors, ours, strict=True))
    return Row(
        f"CSV export {rows:,} rows, CLI start to exit",
        f"{statistics.median(ours):.2f} s",
        f"{statistics.median(floors):.2f} s (sqlite3 + csv.writer)",
        f"{ratio:.2f}",
        ">= 1.0",
        ratio >= 1.0,
    )


def table(rows: list[Row]) -> str:
    lines = [
        "| measure | figure | floor | ratio | target | met? |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for row in rows:
        met = "-" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(
            f"| {row.measure} | {row.figure} | {row.floor} | {row.ratio} | {row.target} | {met} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="Skip the 1M-row figures (~3 min).")
    parser.add_argument("--repeat", type=int, help="Runs of each CLI figure (median; 3 quick, 5).")
    parser.add_argument("--rows", type=int, default=100_000, help="The small import's rows.")
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, help="Length of each wrk run (5 quick, 10).")
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    repeat = args.repeat or (3 if args.quick else 5)
    seconds = args.seconds or (5.0 if args.quick else 10.0)
    big = None if args.quick else args.big_rows
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="jobport-run-bench-") as tmp:
        work = Path(tmp)
        cli_bench.PYCACHE = str(work / "pycache")
        rows = cli_rows(work, repeat, args.rows, big)
        rows += api_rows(work, seconds, args.connections, big)
        if big:
            rows.append(export_row(work, big))
    print(table(rows))
    print(
        f"\n{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform(terse=True)}; wrk -t2 -c{args.connections} -d{seconds:g}s; "
        f"CLI figures median of {repeat}; 1-minute load {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after (other work shares the cores)"
    )


if __name__ == "__main__":
    main()
