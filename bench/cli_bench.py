"""CLI benchmark: small files and the CLI's start, process start to exit, against a floor.

What a user waits for at a terminal is the whole process: the interpreter,
the imports, the database's start, the run and the exit. Every figure here is
the wall time of a fresh ``jobport`` process (the median of ``--repeat``
runs, with the lowest and highest to show the noise):

- ``types``, ``status ID`` and ``history`` on the demo app;
- ``import customers`` of a one-row CSV, each time into a fresh SQLite database;
- ``import customers`` of the 100k-row demo CSV (1% invalid rows), each time
  into a fresh database, against the floor timed the same way: a fresh
  ``python`` running the stdlib csv reader and sqlite3 ``executemany`` of the
  same rows (the floor of ``bench/import_bench.py``), in the same run.
- the floor of a process: ``python -c pass``, what no command can go below.

    .venv/bin/python bench/cli_bench.py                 # 5 runs of each
    .venv/bin/python bench/cli_bench.py --repeat 9 --rows 100000
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from import_bench import FLOOR

JOBPORT = str(Path(sys.executable).with_name("jobport"))
#: Where the timed processes cache compiled modules (set in ``main``).
PYCACHE = ""


#: CPU seconds (user + system) of every timed process and its children, by figure name.
CPU: dict[str, list[float]] = {}


def timed(command: list[str], env: dict[str, str], name: str = "") -> float:
    """Wall seconds of one process, start to exit; a failure stops the benchmark.

    Its CPU seconds (its own and its children's, the pool's workers included)
    go to ``CPU[name]``: on a shared machine they vary less than wall time.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    CPU.setdefault(name, []).append(cpu)
    return seconds


def figure(
    name: str, times: int, command: Callable[[int], list[str]], env: Callable[[int], dict[str, str]]
) -> list[float]:
    """Run ``command(i)`` in ``env(i)`` ``times`` times, each a fresh process; print the line."""
    seconds = [timed(command(i), env(i), name) for i in range(times)]
    line(name, seconds)
    return seconds


def same(command: list[str], i: int) -> list[str]:
    """The same command for every repetition."""
    return command


def line(name: str, seconds: list[float], extra: str = "") -> None:
    cpu = statistics.median(CPU.get(name, [0.0]))
    print(
        f"{name:<40} median {statistics.median(seconds):6.3f} s  (min {min(seconds):.3f}, "
        f"max {max(seconds):.3f}, n={len(seconds)}; CPU median {cpu:.3f} s){extra}",
        flush=True,
    )


def with_bytecode(env: dict[str, str]) -> dict[str, str]:
    """Compiled modules cached, as an installed package has them.

    A development shell may set PYTHONDONTWRITEBYTECODE, which makes every
    process compile jobport's modules again (a third of a second here);
    the cache goes to the benchmark's folder, not the source tree.
    """
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    return env


def environment(workdir: Path, name: str) -> dict[str, str]:
    """The environment of a ``jobport`` process on its own SQLite database and storage."""
    env = with_bytecode(dict(os.environ))
    env.update(
        JOBPORT_APP="jobport.demo",
        JOBPORT_DATABASE_URL=f"sqlite:///{workdir / name}.db",
        JOBPORT_STORAGE_URL=str(workdir / f"{name}-files"),
    )
    return env


def run_id_of(env: dict[str, str]) -> str:
    """The id of the newest run in the database (for ``status ID``)."""
    done = subprocess.run(
        [JOBPORT, "history", "--json", "--limit", "1"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    runs: list[dict[str, str]] = json.loads(done.stdout)
    return runs[0]["id"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    from jobport.demo.data import write_csv

    global PYCACHE
    with tempfile.TemporaryDirectory(prefix="jobport-cli-bench-") as tmp:
        work = Path(tmp)
        PYCACHE = str(work / "pycache")
        one_row, big = work / "one-row.csv", work / f"customers-{args.rows}.csv"
        write_csv(one_row, 1, seed=7)
        write_csv(big, args.rows, dirty=0.01, seed=7)
        n = args.repeat
        # Untimed: fills the bytecode cache, as installing the package would have.
        timed([JOBPORT, "import", "customers", str(one_row)], environment(work, "warm-up"))
        figure(
            "python -c pass (a process's floor)",
            n,
            lambda i: [sys.executable, "-c", "pass"],
            lambda i: with_bytecode(dict(os.environ)),
        )
        figure(
            "import customers, 1 row, fresh db",
            n,
            lambda i: [JOBPORT, "import", "customers", str(one_row)],
            lambda i: environment(work, f"one-{i}"),
        )
        env = environment(work, "one-0")
        run_id = run_id_of(env)
        for name, command in (
            ("types", [JOBPORT, "types"]),
            ("status ID", [JOBPORT, "status", run_id]),
            ("history", [JOBPORT, "history"]),
        ):
            figure(name, n, functools.partial(same, command), lambda i: env)
        big_import(work, big, args.rows, n)


def big_import(work: Path, source: Path, rows: int, times: int) -> None:
    """The demo import against the executemany floor, alternating, each into a fresh db."""
    floor_name, ours_name = (
        f"floor: csv + executemany, {rows:,} rows",
        f"import customers, {rows:,} rows",
    )
    floors, ours = [], []
    for i in range(times):
        os.sync()
        floor_db = str(work / f"floor-{i}.db")
        floors.append(
            timed(
                [sys.executable, "-c", FLOOR, str(source), floor_db],
                with_bytecode(dict(os.environ)),
                floor_name,
            )
        )
        os.sync()
        ours.append(
            timed(
                [JOBPORT, "import", "customers", str(source)],
                environment(work, f"big-{i}"),
                ours_name,
            )
        )
    ratios = [f / o for f, o in zip(floors, ours, strict=True)]
    line(floor_name, floors)
    line(
        ours_name,
        ours,
        f"\n{'':<40} ratio to the floor: median {statistics.median(ratios):.2f}"
        f" (min {min(ratios):.2f}, max {max(ratios):.2f})",
    )


if __name__ == "__main__":
    main()
