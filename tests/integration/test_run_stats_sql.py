"""Dashboard statistics computed in SQL agree with a plain Python count of the same runs.

The reference below is how the statistics were computed before the database
did it: every run of the window read, then counted, summed and ranked in
Python. Random runs (types, statuses, times to the microsecond, owners) on
SQLite and PostgreSQL must give the same figures.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.conftest import migrated_schema

from jobport.lifecycle import ACTIVE_STATUSES, COMPLETED_STATUSES, RunStatus
from jobport.store import JobStore, make_engine
from jobport.store.migrations import upgrade
from jobport.store.stats import RunStats, TypeStats, percentile
from jobport.store.tables import job_runs

UNTIL = datetime(2024, 3, 15, 12, 0, tzinfo=UTC)
SINCE = datetime(2024, 3, 2, tzinfo=UTC)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("stats") / "state.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    with migrated_schema(request.getfixturevalue("postgres_url")) as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def random_runs(seed: int, count: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    runs = []
    for n in range(count):
        status = rng.choice(list(RunStatus))
        created = SINCE - timedelta(days=1) + timedelta(seconds=rng.uniform(0, 15 * 86400))
        created = created.replace(microsecond=rng.randrange(1_000_000))
        started = None if status == RunStatus.QUEUED else created + timedelta(seconds=rng.random())
        finished = None
        if started is not None and not status.active:
            finished = started + timedelta(microseconds=rng.choice([0, rng.randrange(10**9)]))
        type_ = rng.choice(["customers", "orders", "invoices"])
        runs.append(
            {
                "id": f"{seed:08d}-0000-0000-0000-{n:012d}",
                "type": type_,
                "kind": "sync" if type_ == "orders" else "import",
                "status": status,
                "strategy": "polling",
                "broadcast": True,
                "processed": rng.choice([0, rng.randrange(10**6)]),
                "failed": rng.randrange(50),
                "owner": rng.choice(["ann", "bob"]),
                "params": {},
                "created_at": created,
                "started_at": started,
                "finished_at": finished,
                "chunks_total": 1,
                "chunks_done": 1,
                "seq": 1,
                "max_attempts": 3,
            }
        )
    return runs


def reference(
    runs: Sequence[Mapping[str, Any]], owner: str | None, window: int
) -> tuple[RunStats, list[TypeStats]]:
    chosen = [
        run
        for run in runs
        if SINCE <= run["created_at"] < UNTIL and (owner is None or run["owner"] == owner)
    ]
    chosen.sort(key=lambda run: run["created_at"], reverse=True)
    truncated = len(chosen) > window
    chosen = chosen[:window]
    days = [SINCE + timedelta(days=n) for n in range(14)]
    index = {d.date(): n for n, d in enumerate(days)}
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    volume: dict[str, list[int]] = {}
    for run in chosen:
        by_type.setdefault(run["type"], []).append(run)
        slot = index.get(run["created_at"].date())
        if slot is not None:
            volume.setdefault(run["type"], [0] * len(days))[slot] += 1
    types = [type_stats(name, of_type) for name, of_type in sorted(by_type.items())]
    return RunStats(SINCE, UNTIL, days, volume, types, len(chosen), truncated), types


def type_stats(name: str, runs: Sequence[Mapping[str, Any]]) -> TypeStats:
    status = [run["status"] for run in runs]
    durations = []
    busy_seconds = 0.0
    busy_rows = 0
    for run in runs:
        if run["started_at"] is None or run["finished_at"] is None:
            continue
        seconds = (run["finished_at"] - run["started_at"]).total_seconds()
        if run["status"] in COMPLETED_STATUSES:
            durations.append(seconds)
        if seconds > 0 and run["processed"]:
            busy_seconds += seconds
            busy_rows += int(run["processed"])
    durations.sort()
    return TypeStats(
        type=name,
        kind=runs[0]["kind"],
        runs=len(runs),
        active=sum(s in ACTIVE_STATUSES for s in status),
        completed=status.count(RunStatus.COMPLETED),
        with_errors=status.count(RunStatus.COMPLETED_WITH_ERRORS),
        failed=status.count(RunStatus.FAILED),
        cancelled=status.count(RunStatus.CANCELLED),
        rows=sum(int(run["processed"]) for run in runs),
        failed_rows=sum(int(run["failed"]) for run in runs),
        rows_per_second=busy_rows / busy_seconds if busy_seconds > 0 else None,
        p50_seconds=percentile(durations, 0.50),
        p95_seconds=percentile(durations, 0.95),
    )


@pytest.mark.parametrize(
    ("seed", "count", "owner", "window"),
    [(1, 0, None, 20_000), (2, 60, None, 20_000), (3, 120, "bob", 20_000), (4, 150, None, 40)],
)
def test_sql_statistics_match_a_python_count(
    database: Engine, seed: int, count: int, owner: str | None, window: int
) -> None:
    runs = random_runs(seed, count)
    with database.begin() as conn:
        conn.execute(job_runs.delete())
        if runs:
            conn.execute(job_runs.insert(), runs)
    found = JobStore(database).run_stats(owner=owner, since=SINCE, until=UNTIL, window=window)
    expected, expected_types = reference(runs, owner, window)
    assert (found.days, found.volume) == (expected.days, expected.volume)
    assert (found.runs, found.truncated) == (expected.runs, expected.truncated)
    assert [t.type for t in found.types] == [t.type for t in expected_types]
    for got, want in zip(found.types, expected_types, strict=True):
        for name in ("kind", "runs", "active", "completed", "with_errors", "failed"):
            assert getattr(got, name) == getattr(want, name), name
        assert (got.cancelled, got.rows, got.failed_rows) == (
            want.cancelled,
            want.rows,
            want.failed_rows,
        )
        for name in ("rows_per_second", "p50_seconds", "p95_seconds"):
            assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-9), name


def test_the_statistics_read_no_run_outside_the_period(database: Engine) -> None:
    with database.begin() as conn:
        conn.execute(job_runs.delete())
        conn.execute(job_runs.insert(), random_runs(5, 40))
        outside = conn.execute(
            sa.select(sa.func.count())
            .select_from(job_runs)
            .where(sa.or_(job_runs.c.created_at < SINCE, job_runs.c.created_at >= UNTIL))
        ).scalar_one()
    assert outside > 0  # the random runs do straddle the period
    stats = JobStore(database).run_stats(since=SINCE, until=UNTIL)
    assert stats.runs == 40 - outside
