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

    .venv/bin/python bench/pg_cli_bench.py --rows 1000000 --repeat 3
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


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def count(url: str, table: str) -> int:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def jobport_round(path: Path, server: str, work: Path, rows: int) -> float:
    with scratch_database(server) as url:
        env = {
            **os.environ,
            "JOBPORT_APP": "jobport.demo",
            "JOBPORT_DATABASE_URL": url,
            "JOBPORT_STORAGE_URL": str(work / "files"),
        }
        subprocess.run([JOBPORT, "db", "upgrade"], env=env, check=True, capture_output=True)
        seconds = timed([JOBPORT, "import", "customers", str(path)], env)
        loaded = count(url, "customers")
    if loaded != rows:
        raise SystemExit(f"jobport loaded {loaded} rows, not {rows}")
    return seconds


def floor_round(path: Path, server: str, rows: int) -> float:
    with scratch_database(server) as url:
        seconds = timed([sys.executable, "-c", FLOOR, str(path), url], dict(os.environ))
        loaded = count(url, "floor_customers")
    if loaded != rows:
        raise SystemExit(f"the floor loaded {loaded} rows, not {rows}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    from jobport.demo.data import write_csv

    with tempfile.TemporaryDirectory(prefix="jobport-pg-cli-") as tmp:
        work = Path(tmp)
        path = work / "customers.csv"
        write_csv(path, args.rows, dirty=0.0, seed=7)
        ratios = []
        for round_no in range(1, args.repeat + 1):
            floor = floor_round(path, args.postgres, args.rows)
            ours = jobport_round(path, args.postgres, work / str(round_no), args.rows)
            ratios.append(floor / ours)
            print(
                f"round {round_no}: floor {floor:.2f} s ({args.rows / floor:,.0f} rows/s), "
                f"jobport import {ours:.2f} s ({args.rows / ours:,.0f} rows/s), "
                f"ratio {floor / ours:.3f}",
                flush=True,
            )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"median ratio {statistics.median(ratios):.3f}; largest process {peak:.0f} MB")


if __name__ == "__main__":
    main()
