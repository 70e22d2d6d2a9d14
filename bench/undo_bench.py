"""The undo log's cost: the demo import with and without it, back to back; and the undo.

Two job types import the demo ``customers`` file (``jobport.demo.data``, seed
42) into tables of the demo's shape, one plain, one undoable, in-process with
the inline executor (chunks of 20,000 rows, as the demo type). Each scenario
runs ``--repeat`` pairs, plain then logged, each into a new database:

- ``fresh``: the import into an empty table (every row created);
- ``reimport``: the table first holds the file written with another seed (same
  keys, other values), then the file is imported over it (every row updated).

Each import's CPU time is this process's (``time.process_time``) plus, on
PostgreSQL, its server backends' (``/proc``: the server must run on this
machine); wall time is shown too. The figure is the median of the pairs'
logged/plain CPU ratios (the machine's load moves both of a pair alike), with
the best of each. With ``--undo`` the last logged import is undone, its speed
shown and the table checked equal to what it was before the import.

    .venv/bin/python bench/undo_bench.py                                  # SQLite, 100k rows
    .venv/bin/python bench/undo_bench.py --rows 1000000 --repeat 2 --scenario fresh
    .venv/bin/python bench/undo_bench.py --postgres postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from jobport import Importer, Jobport, JobRegistry, JobType, Settings
from jobport.demo import Customer, customers
from jobport.demo.data import write_csv
from jobport.principal import Principal
from jobport.service import ImportStart, JobService
from jobport.store import make_engine
from jobport.store.migrations import upgrade
from jobport.undoing import Undoing

OPERATOR = Principal.operator()
TYPES = ("plain", "logged")


def registry() -> JobRegistry:
    out = JobRegistry()
    for name in TYPES:
        out.add(
            JobType(
                type=name,
                label=name,
                kind="import",
                model=customers.to_metadata(sa.MetaData(), name=f"bench_{name}"),
                handler=Importer(row=Customer, key="id"),
                chunk_size=20_000,
                undoable=name == "logged",
            )
        )
    return out


@contextmanager
def database(folder: Path, postgres: str | None) -> Iterator[str]:
    """A new state database at head: a SQLite file, or a PostgreSQL schema dropped after."""
    if postgres is None:
        yield f"sqlite:///{folder / f'{uuid.uuid4().hex}.db'}"
        return
    schema = f"undo_bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(postgres)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = f"{postgres}?options=-csearch_path%3D{schema}&application_name={schema}"
    try:
        state = make_engine(url)
        upgrade(state)
        state.dispose()
        yield url
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def server_cpu(engine: sa.Engine) -> float:
    """CPU seconds so far of the PostgreSQL backends of ``engine`` (by the application
    name :func:`database` gives them; 0 on SQLite)."""
    if engine.dialect.name != "postgresql":
        return 0.0
    with engine.connect() as conn:
        pids = conn.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
            (engine.url.query["application_name"],),
        ).scalars()
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def dump(engine: sa.Engine, table: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY id")]


def one_import(
    folder: Path, postgres: str | None, name: str, path: Path, seed: Path | None, undo: bool
) -> tuple[float, float]:
    """CPU and wall seconds of importing ``path`` with type ``name`` into a new database
    (after ``seed``, untimed); with ``undo``, the undo of it timed and checked too."""
    with database(folder, postgres) as url:
        settings = Settings(database_url=url, storage_url=str(folder / "files"), executor="inline")
        with Jobport(settings, registry=registry()) as engine:
            service = JobService(engine)
            if seed is not None:
                service.wait(OPERATOR, service.start_import_file(OPERATOR, seed, start(name)).id)
            before = dump(engine.database, f"bench_{name}") if undo else []
            server, cpu, wall = (
                server_cpu(engine.database),
                time.process_time(),
                time.perf_counter(),
            )
            run = service.start_import_file(OPERATOR, path, start(name))
            run = service.wait(OPERATOR, run.id)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            cpu += server_cpu(engine.database) - server
            assert run.status == "completed", run.status
            if undo:
                undo_speed(service, engine.database, run.id, before)
    return cpu, wall


def start(name: str) -> ImportStart:
    return ImportStart(type=name, source_key="")


def undo_speed(
    service: JobService, engine: sa.Engine, run_id: str, before: list[tuple[Any, ...]]
) -> None:
    started = time.perf_counter()
    undo = service.wait(OPERATOR, Undoing(service).undo(OPERATOR, run_id).id)
    seconds = time.perf_counter() - started
    print(
        f"  undo of {undo.processed:,} rows: {seconds:.2f} s,"
        f" {undo.processed / seconds:,.0f} rows/s;"
        f" table as before: {dump(engine, 'bench_logged') == before}"
    )


def scenario(args: argparse.Namespace, folder: Path, name: str) -> None:
    path = folder / f"customers-{args.rows}.csv"
    if not path.exists():
        write_csv(path, args.rows)
    seed = None
    if name == "reimport":
        seed = folder / f"customers-{args.rows}-seed7.csv"
        if not seed.exists():
            write_csv(seed, args.rows, seed=7)
    figures: dict[str, list[tuple[float, float]]] = {kind: [] for kind in TYPES}
    for repeat in range(args.repeat):
        for kind in TYPES:
            undo = args.undo and kind == "logged" and repeat == args.repeat - 1
            figures[kind].append(one_import(folder, args.postgres, kind, path, seed, undo))
    ratios = [
        logged[0] / plain[0]
        for plain, logged in zip(figures["plain"], figures["logged"], strict=True)
    ]
    plain, logged = min(figures["plain"]), min(figures["logged"])
    backend = "postgresql" if args.postgres else "sqlite"
    print(
        f"{name} {args.rows:,} rows, {backend}: plain {plain[0]:.2f} s CPU ({plain[1]:.2f} s wall),"
        f" logged {logged[0]:.2f} s CPU ({logged[1]:.2f} s wall) (best of {args.repeat});"
        f" logged/plain CPU x{statistics.median(ratios):.2f} (median of the pairs:"
        f" {', '.join(f'{r:.2f}' for r in ratios)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scenario", choices=("fresh", "reimport", "both"), default="both")
    parser.add_argument("--postgres", help="a PostgreSQL URL (default: SQLite files)")
    parser.add_argument("--undo", action="store_true", help="undo the last logged import")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jobport-undo-bench-") as folder:
        for name in ("fresh", "reimport") if args.scenario == "both" else (args.scenario,):
            scenario(args, Path(folder), name)


if __name__ == "__main__":
    main()
