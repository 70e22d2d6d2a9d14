"""Undo log overhead and undo speed: the same import with and without the log, same run.

    .venv/bin/python bench/undo_bench.py [ROWS] [sqlite|postgresql]

Imports ROWS customer rows into a table already holding ROWS/2 of them (half
updated, half inserted) twice: into a type without the undo log, then into an
undoable one (fresh tables each), and prints both times and their ratio; then
undoes the undoable import, prints its speed and checks the table is exactly
what it was.
"""

from __future__ import annotations

import csv
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from jobport import Importer, Jobport, JobRegistry, JobType, Settings
from jobport.demo import Customer
from jobport.principal import Principal
from jobport.service import ImportStart, JobService
from jobport.undoing import Undoing

OPERATOR = Principal.operator()


def table(name: str) -> sa.Table:
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("first_name", sa.String(100)),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("signup_date", sa.Date),
        sa.Column("balance", sa.Numeric(12, 2)),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("age", sa.Integer),
        sa.Column("score", sa.Float),
    )


def write(path: Path, start: int, rows: int, tag: str) -> None:
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "email", "last_name", "country", "balance", "active", "score"])
        for n in range(start, start + rows):
            out.writerow([n, f"{tag}{n}@example.com", f"Name{n}", "GB", f"{n % 997}.25", 1, n / 7])


def dump(engine: sa.Engine, name: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {name} ORDER BY id")]


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    backend = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
    folder = Path(tempfile.mkdtemp())
    url = (
        f"sqlite:///{folder / 's.db'}"
        if backend == "sqlite"
        else "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    registry = JobRegistry()
    for name, undoable in (("plain", False), ("logged", True)):
        registry.add(
            JobType(
                type=name,
                label=name,
                kind="import",
                model=table(f"bench_{name}"),
                handler=Importer(row=Customer, key="id"),
                chunk_size=20_000,
                undoable=undoable,
            )
        )
    seed, data = folder / "seed.csv", folder / "data.csv"
    write(seed, 1, rows // 2, "old")
    write(data, rows // 4, rows, "new")
    settings = Settings(database_url=url, storage_url=str(folder / "files"), executor="inline")
    with Jobport(settings, registry=registry) as engine:
        service = JobService(engine)
        times = {}
        for name in ("plain", "logged"):
            with engine.database.begin() as conn:
                conn.exec_driver_sql(f"DELETE FROM bench_{name}")
            service.wait(
                OPERATOR, service.start_import_file(OPERATOR, seed, ImportStart(name, "")).id
            )
            before = dump(engine.database, f"bench_{name}")
            started = time.perf_counter()
            run = service.start_import_file(OPERATOR, data, ImportStart(name, ""))
            run = service.wait(OPERATOR, run.id)
            times[name] = time.perf_counter() - started
            print(f"{name:7} import of {rows:,} rows: {times[name]:.2f} s ({run.status})")
        print(f"undo log overhead: x{times['logged'] / times['plain']:.2f}")
        started = time.perf_counter()
        undo = Undoing(service).undo(OPERATOR, run.id)
        undo = service.wait(OPERATOR, undo.id)
        seconds = time.perf_counter() - started
        speed = undo.processed / seconds
        print(f"undo of {undo.processed:,} rows: {seconds:.2f} s, {speed:,.0f} rows/s")
        print("table equal to before:", dump(engine.database, "bench_logged") == before)


if __name__ == "__main__":
    main()
