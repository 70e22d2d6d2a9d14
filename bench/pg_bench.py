"""PostgreSQL benchmarks: the demo import against the COPY floor, and Celery scaling.

Three figures, each against something measured in the same run:

1. **Import vs floor.** The floor is PostgreSQL's own bulk load: ``COPY ...
   FROM STDIN (FORMAT csv)`` of the same CSV into an equivalent table (same
   columns, types and primary key), no validation at all. jobport imports the
   file with its default executor (a local process pool) into a fresh database,
   twice: from a new engine (its worker processes start during the import),
   and on an engine whose workers are already up, as in a running server.
2. **The bulk path alone.** The same rows, already typed, through
   ``prepare_upsert`` and one transaction per 5,000-row chunk: into the empty
   table (direct ``COPY``), then over the same keys (staging merge). This is
   the part of an import the PostgreSQL path owns.
3. **Celery scaling.** The same import with ``executor=celery``, once with 1
   and once with 2 ``jobport worker --concurrency 1`` processes (Redis broker),
   each into a fresh database: rows/s of each and their ratio.

Every measurement uses a database of its own (created and dropped here), the
wall clock from ``import_file`` to the run's end, and checks the row counts.

    .venv/bin/python bench/pg_bench.py                 # 1M rows, both figures
    .venv/bin/python bench/pg_bench.py --rows 100000 --repeat 3
    .venv/bin/python bench/pg_bench.py --only floor    # or: --only write, --only celery

Needs PostgreSQL (``--postgres``, default ``postgresql://postgres@127.0.0.1:5432/test``:
the server is used to create scratch databases) and, for the Celery figure,
Redis (``--broker``, default ``redis://127.0.0.1:6379/14``).
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cpu_sampler import CpuSampler

BIN = Path(sys.executable).parent

IMPORT = r"""
import json, os, sys, time
from jobport import Jobport, Settings
if __name__ == "__main__":
    path, url, storage, executor, extra, ready = sys.argv[1:7]
    settings = Settings(app="jobport.demo", database_url=url, storage_url=storage,
                        executor=executor, **json.loads(extra))
    with Jobport(settings) as engine:
        if ready == "ready":  # a running server: its worker processes are up
            assert len(engine.executor.wait_ready()) == (engine.settings.workers or os.cpu_count())
        started = time.perf_counter()
        run = engine.import_file("customers", path)
        run = engine.wait(run.id, poll_seconds=0.05)
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "processed": run.processed, "failed": run.failed,
                      "status": run.status}))
"""


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A fresh database on the server of ``server_url``, migrated, dropped afterwards."""
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


def floor(path: Path, url: str, rows: int) -> float:
    """Seconds to COPY the CSV into a table equivalent to the demo's customers table."""
    import psycopg
    import sqlalchemy as sa
    from sqlalchemy.schema import CreateTable

    from jobport.demo import customers
    from jobport.store import make_engine

    table = customers.to_metadata(sa.MetaData(), name="floor_customers")
    engine = make_engine(url)
    ddl = str(CreateTable(table).compile(dialect=engine.dialect))
    engine.dispose()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute(ddl)
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cursor:
            copy_sql = "COPY floor_customers FROM STDIN (FORMAT csv, HEADER true)"
            with cursor.copy(copy_sql) as copy, open(path, "rb") as handle:
                while block := handle.read(1 << 20):
                    copy.write(block)
            conn.commit()
        seconds = time.perf_counter() - started
        count = conn.execute("SELECT count(*) FROM floor_customers").fetchone()
    if count is None or count[0] != rows:
        raise SystemExit(f"the floor loaded {count} rows, not {rows}")
    return seconds


def run_import(
    path: Path, url: str, storage: Path, executor: str, *, ready: bool = False, **extra: object
) -> dict:
    argv = [str(path), url, str(storage), executor, json.dumps(extra), "ready" if ready else "-"]
    out = subprocess.run(
        [sys.executable, "-c", IMPORT, *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"import failed:\n{out.stderr[-4000:]}")
    result: dict = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def check(result: dict, rows: int, invalid: int) -> None:
    if (result["processed"], result["failed"]) != (rows, invalid):
        raise SystemExit(f"wrong result: {result} (expected {rows} rows, {invalid} invalid)")


def bench_floor(path: Path, rows: int, invalid: int, server: str, workdir: Path) -> dict:
    with scratch_database(server) as url:
        floor_seconds = floor(path, url, rows)
    with scratch_database(server) as url:
        ours = run_import(path, url, workdir / f"files-{uuid.uuid4().hex[:6]}", "local")
    check(ours, rows, invalid)
    with scratch_database(server) as url:
        storage = workdir / f"files-{uuid.uuid4().hex[:6]}"
        running = run_import(path, url, storage, "local", ready=True)
    check(running, rows, invalid)
    floor_rate, ours_rate = rows / floor_seconds, rows / ours["seconds"]
    running_rate = rows / running["seconds"]
    return {
        "figure": "import_vs_copy_floor",
        "rows": rows,
        "floor_seconds": round(floor_seconds, 2),
        "floor_rows_per_s": round(floor_rate),
        "jobport_seconds": round(ours["seconds"], 2),
        "jobport_rows_per_s": round(ours_rate),
        "ratio": round(ours_rate / floor_rate, 3),
        # The same import on an engine whose worker processes are already up (a server).
        "running_seconds": round(running["seconds"], 2),
        "running_ratio": round(running_rate / floor_rate, 3),
    }


def bench_write_path(path: Path, rows: int, server: str) -> dict:
    """The bulk path alone: already-validated rows, 5,000 a chunk, one transaction each.

    Isolates what this path costs from validation: formatting the COPY text
    (outside the transaction, as workers do) plus the transaction itself, first
    into an empty table (direct COPY) and then again over the same keys (merge).
    """
    import csv
    import datetime as dt
    from decimal import Decimal

    from jobport.demo import customers
    from jobport.store import make_engine
    from jobport.targets.upsert import prepare_upsert

    columns = [c.name for c in customers.c]
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        typed = [
            (
                int(r[0]), r[1], r[2] or None, r[3], r[4], dt.date.fromisoformat(r[5]),
                Decimal(r[6]), r[7] in ("true", "1", "yes"), int(r[8]), float(r[9]),
            )
            for r in reader
        ]  # fmt: skip
    out: dict[str, object] = {"figure": "bulk_path_alone", "rows": rows}
    with scratch_database(server) as url:
        # The floor again, right before, into the same kind of table: same conditions.
        floor_seconds = floor(path, url, rows)
        out["floor_seconds"] = round(floor_seconds, 2)
        engine = make_engine(url)
        customers.create(engine)
        for label in ("direct", "merge"):
            started = time.perf_counter()
            for start in range(0, len(typed), 5_000):
                write = prepare_upsert(
                    engine.dialect, customers, typed[start : start + 5_000], columns, ("id",)
                )
                with engine.begin() as conn:
                    write(conn)
            seconds = time.perf_counter() - started
            out[f"{label}_seconds"] = round(seconds, 2)
            out[f"{label}_rows_per_s"] = round(rows / seconds)
            out[f"{label}_ratio_to_floor"] = round(floor_seconds / seconds, 3)
        engine.dispose()
    return out


def start_workers(count: int, env: dict[str, str], logs: Path) -> list[subprocess.Popen[bytes]]:
    processes = []
    for index in range(count):
        log = open(logs / f"worker-{index}.log", "wb")  # noqa: SIM115
        processes.append(
            subprocess.Popen(
                [str(BIN / "jobport"), "worker", "--concurrency", "1", "--loglevel", "warning",
                 "--hostname", f"bench{index}@%h"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        )  # fmt: skip
        log.close()
    return processes


def wait_ready(count: int, broker: str, timeout: float = 120) -> None:
    """Until ``count`` workers answer a ping: their start is not the import's time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(
            [sys.executable, "-m", "celery", "-b", broker, "inspect", "ping", "-t", "1"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if out.stdout.count("pong") >= count:
            return
    raise SystemExit(f"{count} Celery workers did not answer within {timeout:.0f} s")


def stop_workers(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def bench_celery(
    path: Path, rows: int, invalid: int, server: str, broker: str, workdir: Path, workers: int
) -> dict:
    queue = f"jobport-bench-{uuid.uuid4().hex[:8]}"
    storage = workdir / f"files-{queue}"
    with scratch_database(server) as url:
        settings = {
            "DATABASE_URL": url,
            "STORAGE_URL": str(storage),
            "APP": "jobport.demo",
            "BROKER_URL": broker,
            "CELERY_QUEUE": queue,
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("JOBPORT_")}
        env.update({f"JOBPORT_{k}": v for k, v in settings.items()})
        processes = start_workers(workers, env, workdir)
        try:
            wait_ready(workers, broker)
            with CpuSampler() as cpu:
                ours = run_import(
                    path, url, storage, "celery", broker_url=broker, celery_queue=queue
                )
        finally:
            stop_workers(processes)
    check(ours, rows, invalid)
    return {
        "figure": "celery_workers",
        "rows": rows,
        "workers": workers,
        "seconds": round(ours["seconds"], 2),
        "rows_per_s": round(rows / ours["seconds"]),
        # The profile: CPU seconds per component over the whole import (the importing
        # process's start included), and how busy both cores were.
        "cpu_seconds": cpu.by_component(),
        "cores_busy": round(cpu.utilisation(), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", choices=["floor", "write", "celery"])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()

    import jobport
    from jobport.demo.data import write_csv

    # Measure jobport as installed: with its modules byte-compiled, as a wheel install
    # leaves them (an environment with PYTHONDONTWRITEBYTECODE never caches them, and
    # every process would compile them again).
    compileall.compile_dir(Path(jobport.__file__).parent, quiet=1)

    with tempfile.TemporaryDirectory(prefix="jobport-pg-bench-") as tmp:
        workdir = Path(tmp)
        source = workdir / f"customers-{args.rows}.csv"
        # Clean rows: PostgreSQL 15's COPY stops at the first bad row, so the floor needs them.
        invalid = write_csv(source, args.rows, dirty=0.0, seed=7)
        results = []
        for _ in range(args.repeat):
            if args.only in (None, "floor"):
                results.append(bench_floor(source, args.rows, invalid, args.postgres, workdir))
                print(json.dumps(results[-1]), flush=True)
            if args.only in (None, "write"):
                results.append(bench_write_path(source, args.rows, args.postgres))
                print(json.dumps(results[-1]), flush=True)
            if args.only in (None, "celery"):
                pair = []
                for workers in (1, 2):
                    pair.append(
                        bench_celery(
                            source,
                            args.rows,
                            invalid,
                            args.postgres,
                            args.broker,
                            workdir,
                            workers,
                        )
                    )
                    print(json.dumps(pair[-1]), flush=True)
                ratio = pair[1]["rows_per_s"] / pair[0]["rows_per_s"]
                results.append({"figure": "celery_scaling", "ratio_2_over_1": round(ratio, 2)})
                print(json.dumps(results[-1]), flush=True)


if __name__ == "__main__":
    main()
