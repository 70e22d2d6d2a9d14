"""PostgreSQL target: a file with fewer columns keeps the others, on the COPY merge path too,
and a value its column cannot hold fails only its row, at the file's line."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel

from jobport import Importer, Jobport, JobRegistry, JobType, Settings, demo
from jobport.demo import customers
from jobport.demo.data import write_csv
from jobport.targets import pgcopy as upsert

pytestmark = pytest.mark.postgres

metadata = sa.MetaData()
counts = sa.Table(
    "counts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("small", sa.SmallInteger),
    sa.Column("label", sa.String(8)),
)


class Count(BaseModel):
    id: int
    small: int | None = None
    label: str | None = None


def write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


@pytest.fixture
def engine(pg_url: str, tmp_path: Path) -> Iterator[Jobport]:
    registry = JobRegistry()
    registry.add(demo.registry.get("customers"))
    registry.add(
        JobType(
            type="counts",
            label="Counts",
            kind="import",
            model=counts,
            handler=Importer(row=Count, key="id"),
            chunk_size=5,
        )
    )
    settings = Settings(
        database_url=pg_url,
        storage_url=str(tmp_path / "files"),
        executor="inline",
        retry_backoff_seconds=0.0,
    )
    with Jobport(settings, registry=registry) as jobport:
        yield jobport


def rows_of(jobport: Jobport, table: sa.Table) -> dict[Any, tuple[Any, ...]]:
    with jobport.database.connect() as conn:
        return {row[0]: tuple(row) for row in conn.execute(sa.select(table)).all()}


def test_fewer_columns_keep_the_others_on_the_merge_path(engine: Jobport, tmp_path: Path) -> None:
    upsert._conflicts.clear()
    write_csv(tmp_path / "full.csv", 30, seed=8)
    assert engine.import_file("customers", tmp_path / "full.csv").status == "completed"
    before = rows_of(engine, customers)
    partial = write(
        tmp_path / "partial.csv",
        ["id", "email", "last_name", "country"],
        [[str(i), f"p{i}@example.com", "Same", "FR"] for i in range(1, 31)],
    )
    run = engine.import_file("customers", partial)
    assert (run.status, run.failed) == ("completed", 0), run.error
    assert upsert._conflicts, "existing keys went through the staging merge"
    after = rows_of(engine, customers)
    for key, row in before.items():
        # id, email, first_name, last_name, country, signup_date, balance, active, age, score
        assert after[key][1:5] == (f"p{key}@example.com", row[2], "Same", "FR")
        assert after[key][5:] == row[5:]


def test_values_outside_the_column_fail_their_rows_at_the_file_line(
    engine: Jobport, tmp_path: Path
) -> None:
    rows = [[str(i), "1", "ok"] for i in range(1, 13)]
    rows[3] = ["3000000000", "1", "ok"]  # over PostgreSQL's integer
    rows[7] = ["8", "40000", "ok"]  # over smallint
    rows[9] = ["10", "1", "far too long"]  # over varchar(8)
    run = engine.import_file("counts", write(tmp_path / "c.csv", ["id", "small", "label"], rows))
    assert (run.status, run.processed, run.failed) == ("completed_with_errors", 12, 3), run.error
    failures, _ = engine.store.list_failures(run.id, limit=10)
    assert [(f["line"], f["column"]) for f in failures] == [
        (5, "id"),
        (9, "small"),
        (11, "label"),
    ]
    assert "-2,147,483,648 to 2,147,483,647" in failures[0]["message"]
    assert len(rows_of(engine, counts)) == 9
