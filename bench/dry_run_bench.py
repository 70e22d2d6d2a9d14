"""Dry run vs import: the same 1M-row file checked, then imported, in one run.

The file is the demo ``customers`` CSV (1% invalid rows, seed 7). Four steps
run one after the other against the same database, each in its own process
(a fresh engine, the default local process pool):

1. a dry run into the empty table (every valid row would be created),
2. the import of the file (every valid row created),
3. a dry run again, the table now full (every row would be left unchanged),
4. the import again (every row matched and left unchanged, so not rewritten).

The issue's bar: a dry run takes no longer than the import of the same file,
so steps 1 and 2, and steps 3 and 4, are compared (``dry/import`` below 1 is
a faster dry run). Each step's counts are checked against what it must find.

    .venv/bin/python bench/dry_run_bench.py                         # SQLite, 1M rows
    .venv/bin/python bench/dry_run_bench.py --rows 100000 --repeat 2
    .venv/bin/python bench/dry_run_bench.py --postgres postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

STEP = r"""
import json, sys, time
from jobport import Jobport, Settings
if __name__ == "__main__":
    path, url, storage, dry, executor = sys.argv[1:6]
    settings = Settings(app="jobport.demo", database_url=url, storage_url=storage,
                        executor=executor)
    with Jobport(settings) as engine:
        started, cpu = time.perf_counter(), time.process_time()
        run = engine.import_file("customers", path, controls={"dry_run": dry == "dry"})
        run = engine.wait(run.id, poll_seconds=0.05)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(json.dumps({"seconds": seconds, "cpu": cpu, "status": run.status,
                      "processed": run.processed,
                      "failed": run.failed, "created": run.created, "updated": run.updated,
                      "unchanged": run.unchanged}))
"""


def step(path: Path, url: str, storage: Path, *, dry: bool, executor: str) -> dict[str, object]:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            STEP,
            str(path),
            url,
            str(storage),
            "dry" if dry else "real",
            executor,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"step failed:\n{out.stderr[-4000:]}")
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A migrated PostgreSQL database of its own, dropped afterwards."""
    from jobport.store import make_engine
    from jobport.store.migrations import upgrade

    name = f"jobport_bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def bench(
    path: Path, rows: int, invalid: int, url: str, workdir: Path, executor: str
) -> dict[str, object]:
    valid = rows - invalid
    expected = {
        "dry_empty": (valid, 0, 0),
        "import": (valid, 0, 0),
        "dry_full": (0, 0, valid),
        "reimport": (0, 0, valid),
    }
    out: dict[str, object] = {"rows": rows}
    for name, (created, updated, unchanged) in expected.items():
        storage = workdir / f"files-{uuid.uuid4().hex[:6]}"
        result = step(path, url, storage, dry=name.startswith("dry"), executor=executor)
        got = (result["created"], result["updated"], result["unchanged"])
        if got != (created, updated, unchanged) or result["failed"] != invalid:
            raise SystemExit(f"{name}: wrong counts {result}")
        out[f"{name}_seconds"] = round(float(result["seconds"]), 2)  # type: ignore[arg-type]
        if executor == "inline":  # every chunk ran in the step's process: its CPU is the work
            out[f"{name}_cpu_seconds"] = round(float(result["cpu"]), 2)  # type: ignore[arg-type]
    out["dry_vs_import"] = round(out["dry_empty_seconds"] / out["import_seconds"], 3)  # type: ignore[operator]
    out["dry_vs_reimport"] = round(out["dry_full_seconds"] / out["reimport_seconds"], 3)  # type: ignore[operator]
    if executor == "inline":
        out["cpu_dry_vs_import"] = round(
            out["dry_empty_cpu_seconds"] / out["import_cpu_seconds"],  # type: ignore[operator]
            3,
        )
        out["cpu_dry_vs_reimport"] = round(
            out["dry_full_cpu_seconds"] / out["reimport_cpu_seconds"],  # type: ignore[operator]
            3,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--postgres", help="a PostgreSQL server URL: bench there, not SQLite")
    parser.add_argument(
        "--executor",
        default="local",
        choices=["local", "inline"],
        help="inline: every chunk in the step's own process, whose CPU time is then "
        "reported too (steadier than the wall clock on a busy machine)",
    )
    args = parser.parse_args()
    from jobport.demo.data import write_csv

    with tempfile.TemporaryDirectory(prefix="jobport-dry-bench-") as tmp:
        workdir = Path(tmp)
        path = workdir / "customers.csv"
        invalid = write_csv(path, args.rows, dirty=0.01, seed=7)
        for round_no in range(1, args.repeat + 1):
            started = time.perf_counter()
            if args.postgres:
                with scratch_database(args.postgres) as url:
                    result = bench(path, args.rows, invalid, url, workdir, args.executor)
            else:
                url = f"sqlite:///{workdir}/bench-{round_no}.db"
                result = bench(path, args.rows, invalid, url, workdir, args.executor)
            result["database"] = "postgresql" if args.postgres else "sqlite"
            result["round"] = round_no
            result["total_seconds"] = round(time.perf_counter() - started, 1)
            print(json.dumps(result))


if __name__ == "__main__":
    main()
