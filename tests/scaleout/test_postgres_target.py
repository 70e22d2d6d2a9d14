"""PostgreSQL as target database: the COPY bulk path lands exactly the values.

Imports run on the inline executor against a database of their own; the
rows are read back and compared value by value (Decimal, date, bool, NULL,
strings holding COPY's special characters), on the direct path (new keys)
and on the staging merge path (existing keys).
"""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from jobport import Importer, Jobport, JobRegistry, JobType, Settings
from jobport.targets import pgcopy as upsert
from jobport.targets.pgcopy import copy_text
from jobport.targets.upsert import prepare_upsert

pytestmark = pytest.mark.postgres

metadata = sa.MetaData()
ledger = sa.Table(
    "ledger",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("amount", sa.Numeric(12, 2)),
    sa.Column("day", sa.Date),
    sa.Column("flag", sa.Boolean, nullable=False),
    sa.Column("count", sa.Integer),
    sa.Column("ratio", sa.Float),
    sa.Column("seen_at", sa.DateTime(timezone=True)),
    sa.Column("created", sa.DateTime(timezone=True), server_default=sa.func.now()),
)


class Entry(BaseModel):
    id: int
    name: str
    note: str | None = None
    amount: Decimal | None = None
    day: dt.date | None = None
    flag: bool
    count: int | None = None
    ratio: float | None = None
    seen_at: dt.datetime | None = None


COLUMNS = ["id", "name", "note", "amount", "day", "flag", "count", "ratio", "seen_at"]
UTC = dt.UTC

FIRST = [
    ["1", "plain", "nothing special", "12.30", "2024-02-29", "true", "7", "0.5", ""],
    ["2", "tab", "a\tb", "-0.01", "1999-12-31", "false", "", "", "2024-01-02T03:04:05+00:00"],
    ["3", "newline", "line 1\nline 2\r\nline 3", "", "", "yes", "0", "-1.25e-3", ""],
    ["4", "backslash", "C:\\path\\N and \\N", "9999999999.99", "2000-01-01", "0", "-5", "", ""],
    ["5", "unicode", "é ü 中文 🚀", "0", "", "1", "", "1e20", ""],
    ["6", "null-looking", "\\N", "", "", "no", "", "", ""],
    ["7", "empty note", "", "1", "", "true", "", "", ""],
]

SECOND = [
    ["2", "tab again", "x\ty", "100.00", "2025-05-05", "true", "1", "2.5", ""],
    ["6", "null-looking", "", "3.14", "", "true", "42", "", ""],
    ["8", "new", "brand new", "", "2026-01-01", "false", "", "", ""],
]


def expected(rows: list[list[str]]) -> dict[int, tuple[Any, ...]]:
    out = {}
    for r in rows:
        out[int(r[0])] = (
            int(r[0]),
            r[1],
            r[2] or None,
            Decimal(r[3]).quantize(Decimal("0.01")) if r[3] else None,
            dt.date.fromisoformat(r[4]) if r[4] else None,
            r[5].lower() in ("true", "yes", "1"),
            int(r[6]) if r[6] else None,
            float(r[7]) if r[7] else None,
            dt.datetime.fromisoformat(r[8]) if r[8] else None,
        )
    return out


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path


@pytest.fixture
def engine(pg_url: str, tmp_path: Path) -> Iterator[Jobport]:
    registry = JobRegistry()
    registry.add(
        JobType(
            type="ledger",
            label="Ledger",
            kind="import",
            model=ledger,
            handler=Importer(row=Entry, key="id"),
            chunk_size=3,
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


def read_back(jobport: Jobport) -> dict[int, tuple[Any, ...]]:
    with jobport.database.connect() as conn:
        rows = conn.execute(
            sa.select(*[ledger.c[name] for name in COLUMNS]).order_by(ledger.c.id)
        ).all()
    return {row[0]: tuple(row) for row in rows}


def test_import_lands_exact_values_then_merges_updates(engine: Jobport, tmp_path: Path) -> None:
    upsert._conflicts.clear()
    run = engine.import_file("ledger", write_csv(tmp_path / "first.csv", FIRST))
    run = engine.run(run.id)
    assert (run.status, run.processed, run.failed) == ("completed", len(FIRST), 0)
    assert read_back(engine) == expected(FIRST)
    assert not upsert._conflicts, "new keys take the direct COPY path"

    run = engine.import_file("ledger", write_csv(tmp_path / "second.csv", SECOND))
    run = engine.run(run.id)
    assert (run.status, run.processed, run.failed) == ("completed", len(SECOND), 0)
    assert read_back(engine) == {**expected(FIRST), **expected(SECOND)}
    assert upsert._conflicts, "existing keys went through the staging merge"
    with engine.database.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ledger)).scalar_one() == 8
        assert (
            conn.execute(
                sa.select(sa.func.count()).select_from(ledger).where(ledger.c.created.is_(None))
            ).scalar_one()
            == 0
        ), "columns the file does not carry keep their defaults"


def test_db_upgrade_command_on_postgresql(empty_pg_url: str) -> None:
    """``jobport db upgrade`` creates the state tables, and is a no-op the second time."""
    command = [str(Path(sys.executable).parent / "jobport"), "--database-url", empty_pg_url]
    for _ in range(2):
        done = subprocess.run(
            [*command, "db", "upgrade"], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        assert "state tables at revision" in done.stdout
    engine = sa.create_engine(empty_pg_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"job_runs", "job_chunks", "job_events", "job_failures"} <= tables


def test_an_unmigrated_database_gets_a_clear_error(empty_pg_url: str, tmp_path: Path) -> None:
    """Before ``jobport db upgrade``, commands say to run it (one line, no traceback)."""
    csv_file = write_csv(tmp_path / "ledger.csv", FIRST)
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "jobport"),
            "--database-url",
            empty_pg_url,
            "--app",
            "jobport.demo",
            "import",
            "customers",
            str(csv_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "run `jobport db upgrade`" in done.stderr
    assert "Traceback" not in done.stderr


def test_rejected_rows_are_not_written(engine: Jobport, tmp_path: Path) -> None:
    rows = [*FIRST[:2], ["x", "bad id", "", "", "", "true", "", "", ""], FIRST[2]]
    run = engine.run(engine.import_file("ledger", write_csv(tmp_path / "bad.csv", rows)).id)
    assert (run.status, run.processed, run.failed) == ("completed_with_errors", 4, 1)
    assert set(read_back(engine)) == {1, 2, 3}


# -- the bulk path on its own -----------------------------------------------------------------

pairs = sa.Table(
    "pairs",
    sa.MetaData(),
    sa.Column("serial", sa.Integer, sa.Identity(), nullable=False),
    sa.Column("a", sa.String(10), primary_key=True),
    sa.Column("b", sa.Integer, primary_key=True),
    sa.Column("value", sa.String(20)),
    sa.Column("extra", sa.JSON),
)


@pytest.fixture
def pairs_table(pg_engine: sa.Engine) -> sa.Table:
    pairs.create(pg_engine)
    return pairs


def _rows(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                sa.select(pairs.c.serial, pairs.c.a, pairs.c.b, pairs.c.value).order_by(
                    pairs.c.a, pairs.c.b
                )
            )
        ]


def test_composite_key_merge_keeps_identity_of_updated_rows(
    pg_engine: sa.Engine, pairs_table: sa.Table
) -> None:
    columns = ["a", "b", "value"]
    with pg_engine.begin() as conn:
        prepare_upsert(
            conn.dialect, pairs, [("x", 1, "one"), ("x", 2, "two")], columns, ["a", "b"]
        )(conn)
    with pg_engine.begin() as conn:
        write = prepare_upsert(
            conn.dialect, pairs, [("x", 2, "TWO"), ("y", 1, "three")], columns, ["a", "b"]
        )
        assert write.copy is not None
        write(conn)
    rows = _rows(pg_engine)
    assert [row[1:] for row in rows] == [("x", 1, "one"), ("x", 2, "TWO"), ("y", 1, "three")]
    # An updated row keeps its identity; a new one draws a fresh value (gaps are allowed,
    # as with any INSERT ... ON CONFLICT).
    assert [row[0] for row in rows[:2]] == [1, 2]
    assert rows[2][0] > 2


def test_key_only_columns_do_nothing_on_conflict(
    pg_engine: sa.Engine, pairs_table: sa.Table
) -> None:
    with pg_engine.begin() as conn:
        prepare_upsert(conn.dialect, pairs, [("k", 1, "kept")], ["a", "b", "value"], ["a", "b"])(
            conn
        )
    upsert._conflicts.clear()
    with pg_engine.begin() as conn:
        prepare_upsert(conn.dialect, pairs, [("k", 1), ("k", 2)], ["a", "b"], ["a", "b"])(conn)
    assert [row[1:] for row in _rows(pg_engine)] == [("k", 1, "kept"), ("k", 2, None)]


def test_values_without_a_copy_form_use_the_driver_path(
    pg_engine: sa.Engine, pairs_table: sa.Table
) -> None:
    rows = [("j", 1, {"nested": [1, "two"]})]
    with pg_engine.begin() as conn:
        write = prepare_upsert(conn.dialect, pairs, rows, ["a", "b", "extra"], ["a", "b"])
        assert write.copy is None
        write(conn)
    with pg_engine.connect() as conn:
        assert conn.execute(sa.select(pairs.c.extra)).scalar_one() == {"nested": [1, "two"]}


def test_several_upserts_in_one_transaction(pg_engine: sa.Engine, pairs_table: sa.Table) -> None:
    with pg_engine.begin() as conn:
        for value in ("first", "second", "third"):
            upsert._conflicts.clear()
            prepare_upsert(conn.dialect, pairs, [("t", 1, value)], ["a", "b", "value"], ["a", "b"])(
                conn
            )
    assert [row[1:] for row in _rows(pg_engine)] == [("t", 1, "third")]


text_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=30,
)


@settings(max_examples=40)
@given(values=st.lists(st.one_of(st.none(), text_values), min_size=1, max_size=20))
def test_copy_text_round_trips_any_string(postgres_url: str, values: list[str | None]) -> None:
    """Whatever a string holds (tabs, newlines, backslashes, '\\N'), COPY reads it back as is."""
    data = copy_text([(i, v) for i, v in enumerate(values)], 2)
    assert data is not None
    engine = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as conn:
            cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            cursor.execute("CREATE TEMP TABLE roundtrip (i int, v text) ON COMMIT DROP")
            with cursor.copy("COPY roundtrip (i, v) FROM STDIN") as copy:
                copy.write(data)
            cursor.execute("SELECT v FROM roundtrip ORDER BY i")
            assert [row[0] for row in cursor.fetchall()] == values
    finally:
        engine.dispose()
