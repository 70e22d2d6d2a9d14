"""Import benchmark: the demo ``customers`` import against the floor, in one run.

The floor is what a hand-written loader does with no validation at all: the
stdlib csv reader and sqlite3 ``executemany`` of the same rows into an
equivalent table. Each side runs in its own process so peak RSS is its own;
jobport's figure is the peak of its whole process tree (the CLI-side parent
and the pool's workers) and the largest single process.

    .venv/bin/python bench/import_bench.py              # 100k and 1M rows
    .venv/bin/python bench/import_bench.py --rows 100000 --workers 2
    .venv/bin/python bench/import_bench.py --rows 1000000 --repeat 5   # median of 5 rounds
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

FLOOR = r"""
import csv, json, sqlite3, sys, time
path, db = sys.argv[1], sys.argv[2]
started = time.perf_counter()
conn = sqlite3.connect(db)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA synchronous=NORMAL")
conn.execute(
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL, first_name TEXT,"
    " last_name TEXT NOT NULL, country TEXT NOT NULL, signup_date DATE, balance NUMERIC(12, 2),"
    " active BOOLEAN NOT NULL, age INTEGER, score FLOAT)"
)
with open(path, newline="", encoding="utf-8") as handle:
    reader = csv.reader(handle)
    next(reader)
    conn.executemany(
        "INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
        " email=excluded.email, first_name=excluded.first_name, last_name=excluded.last_name,"
        " country=excluded.country, signup_date=excluded.signup_date, balance=excluded.balance,"
        " active=excluded.active, age=excluded.age, score=excluded.score",
        reader,
    )
conn.commit()
rows = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
print(json.dumps({"seconds": time.perf_counter() - started, "rows": rows}))
"""

JOBPORT = r"""
import json, sys, time
from jobport import Jobport, Settings
if __name__ == "__main__":
    path, workdir, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    settings = Settings(app="jobport.demo", database_url=f"sqlite:///{workdir}/jobport.db",
                        storage_url=f"{workdir}/files", workers=workers)
    with Jobport(settings) as engine:
        started = time.perf_counter()
        run = engine.import_file("customers", path)
        run = engine.wait(run.id, poll_seconds=0.05)
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": run.processed - run.failed,
                      "processed": run.processed, "failed": run.failed, "status": run.status}))
"""


def measure(command: list[str]) -> dict[str, float]:
    """Run a command, sampling the RSS of its process tree; return its JSON plus RSS peaks."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    root = psutil.Process(process.pid)
    peak_tree = peak_single = 0
    while process.poll() is None:
        try:
            members = [root, *root.children(recursive=True)]
            sizes = [m.memory_info().rss for m in members if m.is_running()]
        except psutil.Error:
            sizes = []
        if sizes:
            peak_tree = max(peak_tree, sum(sizes))
            peak_single = max(peak_single, max(sizes))
        time.sleep(0.02)
    out, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{command[:3]} failed:\n{err}")
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = peak_tree / 2**20
    result["peak_process_rss_mb"] = peak_single / 2**20
    return result


_INVALID_ROWS: dict[Path, int] = {}


def bench(rows: int, workers: int, workdir: Path, round_no: int = 1) -> dict[str, object]:
    """One round: the floor, then jobport, each into a fresh database of its own."""
    from jobport.demo.data import write_csv

    source = workdir / f"customers-{rows}.csv"
    if source not in _INVALID_ROWS:  # one file per size, shared by the rounds
        _INVALID_ROWS[source] = write_csv(source, rows, dirty=0.01, seed=7)
    invalid = _INVALID_ROWS[source]
    floor_dir = workdir / f"floor-{rows}-{round_no}"
    floor_dir.mkdir()
    jobport_dir = workdir / f"jobport-{rows}-{round_no}"
    jobport_dir.mkdir()
    # Each side starts with no dirty pages of an earlier run left to write back, and
    # leaves none: a disk busy flushing the other side's database would slow its fsyncs.
    os.sync()
    floor = measure([sys.executable, "-c", FLOOR, str(source), str(floor_dir / "floor.db")])
    shutil.rmtree(floor_dir)
    os.sync()
    ours = measure([sys.executable, "-c", JOBPORT, str(source), str(jobport_dir), str(workers)])
    shutil.rmtree(jobport_dir)
    if ours["processed"] != rows or ours["failed"] != invalid:
        raise SystemExit(f"wrong result: {ours} (expected {rows} rows, {invalid} invalid)")
    floor_rate = rows / floor["seconds"]
    ours_rate = rows / ours["seconds"]
    return {
        "rows": rows,
        "round": round_no,
        "invalid": invalid,
        "floor_rows_per_s": round(floor_rate),
        "jobport_rows_per_s": round(ours_rate),
        "ratio": round(ours_rate / floor_rate, 3),
        "floor_seconds": round(floor["seconds"], 2),
        "jobport_seconds": round(ours["seconds"], 2),
        "floor_peak_rss_mb": round(floor["peak_rss_mb"], 1),
        "jobport_peak_process_rss_mb": round(ours["peak_process_rss_mb"], 1),
        "jobport_peak_tree_rss_mb": round(ours["peak_rss_mb"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--workers", type=int, default=0, help="pool size (0: the default)")
    parser.add_argument("--json", action="store_true", help="print JSON lines only")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds per size (floor and jobport alternate)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jobport-bench-") as tmp:
        for rows in args.rows:
            ratios = []
            for round_no in range(1, args.repeat + 1):
                result = bench(rows, args.workers, Path(tmp), round_no)
                ratios.append(float(result["ratio"]))  # type: ignore[arg-type]
                _report(result, args.json)
            if args.repeat > 1 and not args.json:
                print(f"{rows:>9,} rows  median ratio {statistics.median(ratios):.3f}")


def _report(result: dict[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
        return
    rows = result["rows"]
    print(
        f"{rows:>9,} rows  floor {result['floor_rows_per_s']:>8,} rows/s "
        f"({result['floor_peak_rss_mb']} MB)  jobport {result['jobport_rows_per_s']:>8,}"
        f" rows/s (largest process {result['jobport_peak_process_rss_mb']} MB, all "
        f"processes {result['jobport_peak_tree_rss_mb']} MB)  ratio {result['ratio']}"
    )


if __name__ == "__main__":
    main()
