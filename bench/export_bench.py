"""Export benchmark: the demo ``customers-export`` against the floor, in one run.

The floor is what a hand-written exporter does: sqlite3 and the stdlib
``csv.writer`` over ``SELECT ... ORDER BY id`` of the same table, into a file.
jobport runs the export type through its engine with the local process pool
(planning, keyset chunks in parallel, parts, assembly, checksum, storage).
Each side runs in its own process; jobport's memory figure is the peak of its
whole process tree and of its largest process. The XLSX and Parquet figures
(export, then import of the exported file) are recorded beside it.

    .venv/bin/python bench/export_bench.py                   # 1M rows, CSV + XLSX + Parquet
    .venv/bin/python bench/export_bench.py --rows 200000 --formats csv
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

COLUMNS = "id, email, first_name, last_name, country, signup_date, balance, active, age, score"
_TRUE = {"true": 1, "1": 1, "yes": 1, "false": 0, "0": 0}


def setup(db: Path, rows: int) -> None:
    """A customers table of ``rows`` clean demo rows, stored as SQLAlchemy stores them."""
    import sqlalchemy as sa

    from jobport.demo import customers
    from jobport.demo.data import generate

    engine = sa.create_engine(f"sqlite:///{db}")
    customers.create(engine, checkfirst=True)
    engine.dispose()
    conn = sqlite3.connect(db)
    batch: list[tuple[Any, ...]] = []
    for row in generate(rows, seed=11):
        v = row.values
        batch.append(
            (int(v[0]), v[1], v[2], v[3], v[4], v[5], float(v[6]), _TRUE[v[7]], int(v[8]),
             float(v[9]))
        )  # fmt: skip
        if len(batch) == 50_000:
            conn.executemany(
                f"INSERT INTO customers ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", batch
            )
            batch.clear()
    if batch:
        conn.executemany(f"INSERT INTO customers ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", batch)
    conn.commit()
    conn.close()


def floor(db: Path, out: Path) -> None:
    conn = sqlite3.connect(db)
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([c.strip() for c in COLUMNS.split(",")])
        writer.writerows(conn.execute(f"SELECT {COLUMNS} FROM customers ORDER BY id"))
    conn.close()


def engine_settings(workdir: Path, db: Path, workers: int) -> Any:
    from jobport import Settings

    return Settings(
        database_url=f"sqlite:///{db}",
        storage_url=str(workdir / "files"),
        executor="local",
        app="jobport.demo",
        workers=workers,
    )


def run_export(workdir: Path, db: Path, fmt: str, out: Path, workers: int) -> None:
    """One export through the engine; its phases go to ``out`` + ``.phases.json``."""
    started = time.perf_counter()
    from jobport import Jobport, StartRequest

    phases: dict[str, float] = {"imports": time.perf_counter() - started}
    with Jobport(engine_settings(workdir, db, workers)) as engine:
        phases["engine"] = time.perf_counter() - started
        run = engine.start(StartRequest(type="customers-export", format=fmt))
        phases["planned"] = time.perf_counter() - started

        def seen(update: Any) -> None:
            # Chunk counts move as deliveries end (the wait wakes on each, instead of
            # polling the store every 50 ms beside the workers on a 2-core machine).
            if "first_chunk_done" not in phases and update.chunks_done:
                phases["first_chunk_done"] = time.perf_counter() - started
            if "chunks_done" not in phases and update.chunks_done == update.chunks_total:
                phases["chunks_done"] = time.perf_counter() - started

        run = engine.wait(run.id, poll_seconds=0.05, on_update=seen)
        phases.setdefault("chunks_done", time.perf_counter() - started)
        phases["assembled"] = time.perf_counter() - started  # completed with its file
        if run.status != "completed" or not run.result_key:
            raise SystemExit(f"export failed: {run.error or run.result}")
        with open(out, "wb") as handle:
            engine.files.copy_out(run.result_key, handle)
        phases["copied_out"] = time.perf_counter() - started
        phases["chunks"] = run.chunks_total
    phases["closed"] = time.perf_counter() - started  # the pool's workers have exited
    Path(f"{out}.phases.json").write_text(json.dumps(phases))


def run_import(workdir: Path, db: Path, fmt: str, path: Path, workers: int) -> None:
    from jobport import Jobport, StartRequest

    with Jobport(engine_settings(workdir, db, workers)) as engine:
        run = engine.start(StartRequest(type="customers", format=fmt), path=path)
        run = engine.wait(run.id, poll_seconds=0.05)
        if run.status != "completed":
            raise SystemExit(f"import {run.status}: {run.error} ({run.failed} failed rows)")


def measure(command: list[str]) -> dict[str, float]:
    """Wall time and peak RSS (whole process tree, and largest process) of a command."""
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(command)
    root = psutil.Process(process.pid)
    peak_tree = peak_single = 0
    cpu: dict[int, float] = {}  # last CPU seconds seen of each process of the tree
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_tree, peak_single
        while not done.is_set():
            try:
                members = [root, *root.children(recursive=True)]
                sizes = [m.memory_info().rss for m in members if m.is_running()]
                for m in members:
                    times = m.cpu_times()
                    cpu[m.pid] = times.user + times.system
            except psutil.Error:
                sizes = []
            if sizes:
                peak_tree = max(peak_tree, sum(sizes))
                peak_single = max(peak_single, max(sizes))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = process.wait()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    done.set()
    sampler.join()
    if code:
        raise SystemExit(f"{' '.join(command)} exited {code}")
    return {
        "seconds": seconds,
        # CPU of the whole tree (workers are reaped by their parent before it exits).
        "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        # The pool's workers are the forkserver's children, which the rusage above misses
        # (sampled: their last 20 ms are not seen).
        "tree_cpu_seconds": sum(cpu.values()),
        "peak_rss_mb": peak_tree / 2**20,
        "peak_process_rss_mb": peak_single / 2**20,
    }


def me(*args: str) -> list[str]:
    return [sys.executable, __file__, *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=0, help="pool size (0: the default)")
    parser.add_argument("--formats", default="csv,xlsx,parquet")
    parser.add_argument(
        "--repeat", type=int, default=3, help="CSV: floor and jobport back to back, N times"
    )
    parser.add_argument("--step", help=argparse.SUPPRESS, nargs="*")
    args = parser.parse_args()
    if args.step:
        step, *rest = args.step
        if step == "setup":
            setup(Path(rest[0]), int(rest[1]))
        elif step == "floor":
            floor(Path(rest[0]), Path(rest[1]))
        elif step == "export":
            run_export(Path(rest[0]), Path(rest[1]), rest[2], Path(rest[3]), int(rest[4]))
        elif step == "import":
            run_import(Path(rest[0]), Path(rest[1]), rest[2], Path(rest[3]), int(rest[4]))
        return
    with tempfile.TemporaryDirectory(prefix="jobport-export-bench-") as tmp:
        work = Path(tmp)
        db = work / "bench.db"
        measure(me("--step", "setup", str(db), str(args.rows)))
        report: dict[str, Any] = {
            "rows": args.rows,
            "workers": args.workers,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        }
        for fmt in args.formats.split(","):
            out = work / f"out.{fmt}"
            if fmt == "csv":
                report.update(_csv_rounds(work, db, out, args))
                continue
            ours = measure(_export_step(work, db, fmt, out, args))
            report[f"export_{fmt}"] = {
                **_figures(ours, args.rows),
                "bytes": out.stat().st_size,
                "phases": _phases(out),
            }
            target = work / "import.db"
            target.unlink(missing_ok=True)
            loaded = measure(
                me("--step", "import", str(work), str(target), fmt, str(out), str(args.workers))
            )
            report[f"import_{fmt}"] = _figures(loaded, args.rows)
            print(json.dumps({fmt: {k: v for k, v in report.items() if fmt in k}}), flush=True)
        print(json.dumps(report, indent=2))


def _csv_rounds(work: Path, db: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Floor and jobport back to back, ``--repeat`` times; medians of the rounds.

    Each round's ratio compares two runs a few seconds apart, so load from other
    work on the machine weighs on both sides of it about equally."""
    rounds = []
    for number in range(max(args.repeat, 1)):
        base = measure(me("--step", "floor", str(db), str(work / "floor.csv")))
        ours = measure(_export_step(work, db, "csv", out, args))
        rounds.append(
            {
                "floor_csv": _figures(base, args.rows),
                "export_csv": {
                    **_figures(ours, args.rows),
                    "bytes": out.stat().st_size,
                    "phases": _phases(out),
                },
                "ratio_to_floor": round(base["seconds"] / ours["seconds"], 3),
            }
        )
        print(json.dumps({"csv_round": number + 1, **rounds[-1]}), flush=True)
    middle = sorted(rounds, key=lambda r: r["ratio_to_floor"])[len(rounds) // 2]
    return {
        "csv_rounds": rounds,
        "csv_median_round": middle,
        "csv_ratio_median": middle["ratio_to_floor"],
        "csv_peak_process_rss_mb_max": max(r["export_csv"]["peak_process_rss_mb"] for r in rounds),
        "csv_peak_tree_rss_mb_max": max(r["export_csv"]["peak_tree_rss_mb"] for r in rounds),
    }


def _export_step(work: Path, db: Path, fmt: str, out: Path, args: argparse.Namespace) -> list[str]:
    return me("--step", "export", str(work), str(db), fmt, str(out), str(args.workers))


def _phases(out: Path) -> dict[str, float]:
    """When each step of the export ended, in seconds from the start of its process."""
    phases: dict[str, float] = json.loads(Path(f"{out}.phases.json").read_text())
    return {k: round(v, 2) for k, v in phases.items()}


def _figures(measured: dict[str, float], rows: int) -> dict[str, Any]:
    return {
        "seconds": round(measured["seconds"], 2),
        "cpu_seconds": round(measured["cpu_seconds"], 2),
        "tree_cpu_seconds": round(measured["tree_cpu_seconds"], 2),
        "rows_per_s": round(rows / measured["seconds"]),
        "peak_process_rss_mb": round(measured["peak_process_rss_mb"], 1),
        "peak_tree_rss_mb": round(measured["peak_rss_mb"], 1),
    }


if __name__ == "__main__":
    main()
