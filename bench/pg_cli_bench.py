"""PostgreSQL end to end: ``jobport import`` of the 1M-row demo file, process start to exit.

What a user waits for is the whole ``jobport import`` process: the
interpreter, the imports, the worker pool's start, the run and the exit. The
floor is timed the same way: a fresh ``python`` process that connects with
psycopg, creates an equivalent table and ``COPY``\\ s the same CSV into it
(PostgreSQL's own bulk load, no validation). Both sides load a clean file (a
``COPY`` stops at the first invalid row), each into a scratch database of its
own, alternating, ``--repeat`` times; the ratio is the floor's time over
jobport's (higher is better; the target is 0.5). ``largest process`` is the
peak RSS of the largest process the command started (``RUSAGE_CHILDREN``).

Each run also says where its CPU went, read from /proc while it runs: the
command's own process, the processes it started (the worker pool), and the
PostgreSQL backends of its scratch database (by the database's name, so
other work on the machine is left out); sampled ten times a second, so a
busy machine that delays the sampler makes them a lower bound.
``--compare SRC`` times, in each round, a second ``jobport import`` with
``PYTHONPATH=SRC`` (older code from a ``git worktree``), so old and new
alternate in the same sitting.

    .venv/bin/python bench/pg_cli_bench.py --rows 1000000 --repeat 3
    .venv/bin/python bench/pg_cli_bench.py --repeat 3 --compare /tmp/before/src
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cpu_sampler import CpuSampler
from pg_bench import scratch_database

JOBPORT = str(Path(sys.executable).with_name("jobport"))

FLOOR = """
import sys, psycopg, sqlalchemy as sa
from sqlalchemy.schema import CreateTable
from sqlalchemy.dialects import postgresql
from jobport.demo import customers
path, url = sys.argv[1], sys.argv[2].replace("postgresql+psycopg://", "postgresql://")
table = customers.to_metadata(sa.MetaData(), name="floor_customers")
ddl = str(CreateTable(table).compile(dialect=postgresql.dialect()))
with psycopg.connect(url) as conn:
    conn.execute(ddl)
    with conn.cursor() as cursor:
        with cursor.copy("COPY floor_customers FROM STDIN (FORMAT csv, HEADER true)") as copy:
            with open(path, "rb") as handle:
                while block := handle.read(1 << 20):
                    copy.write(block)
    conn.commit()
"""


Cpu = dict[str, float]


def cpu_split(sampler: CpuSampler, root: int, database: str) -> Cpu:
    """CPU seconds of the process ``root``, of the processes it started, and of the
    backends of ``database``."""
    tree = sampler.tree(root)
    split = {"command": 0.0, "its children": 0.0, "postgresql": 0.0}
    for pid, command in sampler.commands().items():
        if pid == str(root):
            split["command"] += sampler.spent(pid)
        elif pid in tree:
            split["its children"] += sampler.spent(pid)
        elif command.startswith("postgres:") and f" {database} " in command:
            split["postgresql"] += sampler.spent(pid)
    return split


def timed(argv: list[str], env: dict[str, str], url: str) -> tuple[float, Cpu]:
    with CpuSampler() as sampler:
        started = time.perf_counter()
        process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
        if process.wait():
            raise subprocess.CalledProcessError(process.returncode, argv)
        seconds = time.perf_counter() - started
    return seconds, cpu_split(sampler, process.pid, url.rsplit("/", 1)[1])


def count(url: str, table: str) -> int:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def jobport_round(
    path: Path, server: str, work: Path, rows: int, src: str | None = None
) -> tuple[float, Cpu]:
    with scratch_database(server) as url:
        env = {
            **os.environ,
            "JOBPORT_APP": "jobport.demo",
            "JOBPORT_DATABASE_URL": url,
            "JOBPORT_STORAGE_URL": str(work / "files"),
        }
        if src:
            env["PYTHONPATH"] = src
        subprocess.run([JOBPORT, "db", "upgrade"], env=env, check=True, capture_output=True)
        seconds, cpu = timed([JOBPORT, "import", "customers", str(path)], env, url)
        loaded = count(url, "customers")
    if loaded != rows:
        raise SystemExit(f"jobport loaded {loaded} rows, not {rows}")
    return seconds, cpu


def floor_round(path: Path, server: str, rows: int) -> tuple[float, Cpu]:
    with scratch_database(server) as url:
        argv = [sys.executable, "-c", FLOOR, str(path), url]
        seconds, cpu = timed(argv, dict(os.environ), url)
        loaded = count(url, "floor_customers")
    if loaded != rows:
        raise SystemExit(f"the floor loaded {loaded} rows, not {rows}")
    return seconds, cpu


def shown(cpu: Cpu) -> str:
    return ", ".join(f"{name} {seconds:.2f}" for name, seconds in cpu.items() if seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--compare", help="also time jobport with PYTHONPATH=COMPARE")
    args = parser.parse_args()
    from jobport.demo.data import write_csv

    sides = {"jobport import": None, **({"compared": args.compare} if args.compare else {})}
    ratios: dict[str, list[float]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="jobport-pg-cli-") as tmp:
        work = Path(tmp)
        path = work / "customers.csv"
        write_csv(path, args.rows, dirty=0.0, seed=7)
        for round_no in range(1, args.repeat + 1):
            floor, cpu = floor_round(path, args.postgres, args.rows)
            print(
                f"round {round_no}: floor {floor:.2f} s ({args.rows / floor:,.0f} rows/s; "
                f"CPU s: {shown(cpu)})",
                flush=True,
            )
            for side, src in sides.items():
                scratch = work / f"{round_no}-{len(ratios[side])}-{side[:4]}"
                ours, cpu = jobport_round(path, args.postgres, scratch, args.rows, src)
                ratios[side].append(floor / ours)
                print(
                    f"  {side} {ours:.2f} s ({args.rows / ours:,.0f} rows/s), ratio "
                    f"{floor / ours:.3f} (CPU s: {shown(cpu)})",
                    flush=True,
                )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    for side, values in ratios.items():
        print(f"{side}: median ratio {statistics.median(values):.3f}")
    print(f"largest process {peak:.0f} MB")


if __name__ == "__main__":
    main()
