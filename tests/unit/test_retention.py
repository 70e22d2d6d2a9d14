"""Retention on SQLite with a chosen "now": which runs go (with their rows and files), which
stay, what a dry run says, and the supervisor's hourly prune."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import MakeJobport

from jobport import Jobport
from jobport.errors import InputError
from jobport.retention import PruneReport, Retention, parse_age
from jobport.store import NewRun
from jobport.store.section import utcnow
from jobport.store.tables import job_chunks, job_events, job_failures, job_runs, job_undo_log

NOW = utcnow()
AGE = timedelta(days=90)


def people_file(folder: Path, name: str, bad: int = 1) -> Path:
    """Four good rows and ``bad`` rows without a name (two chunks at least)."""
    path = folder / name
    rows = [[f"{name}{i}", "Ann", "30"] for i in range(4)] + [[f"x{i}", "", ""] for i in range(bad)]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["code", "name", "age"], *rows])
    return path


def age(engine: Jobport, run_id: str, days: float) -> None:
    """Make a run look created and finished ``days`` before NOW."""
    then = NOW - timedelta(days=days)
    with engine.database.begin() as conn:
        conn.execute(
            job_runs.update()
            .where(job_runs.c.id == run_id)
            .values(created_at=then - timedelta(minutes=5), finished_at=then)
        )


def rows_of(engine: Jobport, table: sa.Table, run_id: str) -> int:
    with engine.database.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(table).where(table.c.run_id == run_id)
            ).scalar_one()
        )


def exists(engine: Jobport, run_id: str) -> bool:
    return engine.store.find_run(run_id) is not None


@pytest.fixture
def engine(make_jobport: MakeJobport) -> Jobport:
    return make_jobport(app="tests.apps.people")


def import_aged(engine: Jobport, folder: Path, name: str, days: float, **request: Any) -> str:
    run = engine.wait(engine.import_file("people", people_file(folder, name), **request).id)
    age(engine, run.id, days)
    return run.id


def test_prune_removes_old_runs_whole_and_keeps_the_rest(engine: Jobport, tmp_path: Path) -> None:
    old = import_aged(engine, tmp_path, "old.csv", days=100)
    recent = import_aged(engine, tmp_path, "recent.csv", days=10)
    # A chain: an old import and its retry, recent: both stay (the retry came from it).
    original = import_aged(engine, tmp_path, "original.csv", days=200)
    retry = import_aged(engine, tmp_path, "retry.csv", days=5, retry_of=original)
    # A chain wholly past the cutoff goes whole.
    first = import_aged(engine, tmp_path, "first.csv", days=300)
    second = import_aged(engine, tmp_path, "second.csv", days=150, retry_of=first)
    # A chain past the cutoff whose original was resumed since: both stay.
    resumed = import_aged(engine, tmp_path, "resumed.csv", days=300)
    resumed_retry = import_aged(engine, tmp_path, "resumed-retry.csv", days=150, retry_of=resumed)
    with engine.database.begin() as conn:
        conn.execute(
            job_runs.update()
            .where(job_runs.c.id == resumed)
            .values(status="running", finished_at=None)
        )
    # A run still going, created long ago.
    active = engine.store.create_run(
        NewRun("people", "import", "polling", True, None, {}, 3, total=5), [{"rows": 5}]
    )
    age(engine, active.id, 400)
    with engine.database.begin() as conn:  # still going: no end
        conn.execute(job_runs.update().where(job_runs.c.id == active.id).values(finished_at=None))
    # An old run with a result file (an export's, say).
    result_key, result_size = engine.files.put_stream(
        _Bytes(b"x" * 1_500), area="results", extension=".csv"
    )
    engine.store.set_result(old, result_key, {"filename": "old.csv"})
    gone = [old, first, second]
    uploads = {run_id: engine.store.get_run(run_id).source_key for run_id in gone}
    assert all(uploads.values())
    assert all(engine.files.exists(k) for k in uploads.values())
    upload_bytes = sum(engine.files.size(k) for k in uploads.values())
    retention = Retention(engine.store, engine.files)

    preview = retention.prune(AGE, dry_run=True, now=NOW)

    expected = PruneReport(
        NOW - AGE, runs=3, failures=3, bytes=upload_bytes + result_size, dry_run=True
    )
    assert preview == expected
    assert all(exists(engine, run_id) for run_id in gone)  # a dry run changes nothing
    assert engine.files.exists(result_key)
    assert all(rows_of(engine, job_failures, run_id) == 1 for run_id in gone)

    report = retention.prune(AGE, now=NOW)

    assert report == PruneReport(NOW - AGE, runs=3, failures=3, bytes=preview.bytes)
    assert report.summary() == (
        f"pruned 3 runs (3 failures, {preview.bytes / 1000:,.1f} kB of files) finished "
        f"before {NOW - AGE:%Y-%m-%d}"
    )
    for run_id in gone:
        assert not exists(engine, run_id)
        for table in (job_chunks, job_failures, job_events):
            assert rows_of(engine, table, run_id) == 0, table.name
        assert not engine.files.exists(uploads[run_id])
    assert not engine.files.exists(result_key)
    for run_id in (recent, original, retry, active.id, resumed, resumed_retry):
        assert exists(engine, run_id)
    assert engine.files.exists(engine.store.get_run(original).source_key or "")
    assert rows_of(engine, job_failures, original) == 1
    # Nothing is left to prune: pruning again removes nothing.
    assert retention.prune(AGE, now=NOW).runs == 0


def test_prune_of_one_type_and_a_deadline(make_jobport: MakeJobport, tmp_path: Path) -> None:
    engine = make_jobport(app="tests.apps.people")
    mine = import_aged(engine, tmp_path, "mine.csv", days=100)
    other = engine.wait(
        engine.import_file("people-shout", people_file(tmp_path, "other.csv")).id
    ).id
    age(engine, other, 100)
    retention = Retention(engine.store, engine.files)

    stopped = retention.prune(AGE, now=NOW, deadline=0.0)  # past already: nothing done
    assert (stopped.runs, stopped.complete) == (0, False)
    assert retention.prune(AGE, type="people-shout", now=NOW).runs == 1
    assert exists(engine, mine)
    assert not exists(engine, other)


def test_the_supervisor_prunes_once_an_hour_when_retention_is_set(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    engine = make_jobport(app="tests.apps.people", retention_days=90)
    periodic = engine.supervisor.retention
    clock = [1_000.0]
    periodic.clock = lambda: clock[0]
    periodic.now = lambda: NOW
    first = import_aged(engine, tmp_path, "first.csv", days=91)

    engine.supervisor.sweep()
    assert not exists(engine, first)

    second = import_aged(engine, tmp_path, "second.csv", days=91)
    clock[0] += 3_500
    engine.supervisor.sweep()
    assert exists(engine, second)  # within the hour: not again

    clock[0] += 100
    engine.supervisor.sweep()
    assert not exists(engine, second)


def test_the_supervisor_forgets_undo_logs_past_their_window_hourly(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    """An undo log past JOBPORT_UNDO_DAYS is only space: the sweep forgets it (nothing
    called the store's prune before, so every log was kept forever); the run stays."""
    from jobport.demo.data import write_csv

    engine = make_jobport(app="jobport.demo", undo_days=7)
    periodic = engine.supervisor.undo_logs
    clock = [1_000.0]
    periodic.clock = lambda: clock[0]
    periodic.now = lambda: NOW

    def logged_import(name: str, days: float) -> str:
        write_csv(tmp_path / name, 20, seed=len(name))
        run = engine.wait(engine.import_file("customers", tmp_path / name).id)
        age(engine, run.id, days)
        assert rows_of(engine, job_undo_log, run.id) > 0
        return run.id

    expired, kept = logged_import("old.csv", days=8), logged_import("recent.csv", days=6)
    engine.supervisor.sweep()
    assert rows_of(engine, job_undo_log, expired) == 0
    assert rows_of(engine, job_undo_log, kept) > 0
    assert exists(engine, expired), "only the log goes; the run stays in the history"

    later = logged_import("later.csv", days=30)
    clock[0] += 3_500
    engine.supervisor.sweep()
    assert rows_of(engine, job_undo_log, later) > 0  # within the hour: not again
    clock[0] += 100
    engine.supervisor.sweep()
    assert rows_of(engine, job_undo_log, later) == 0


def test_without_retention_days_the_supervisor_keeps_everything(
    engine: Jobport, tmp_path: Path
) -> None:
    old = import_aged(engine, tmp_path, "old.csv", days=10_000)
    assert engine.supervisor.retention.tick() is None
    engine.supervisor.sweep()
    assert exists(engine, old)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90d", timedelta(days=90)), ("12h", timedelta(hours=12)), ("2w", timedelta(weeks=2))],
)
def test_ages_read_as_people_type_them(text: str, expected: timedelta) -> None:
    assert parse_age(text) == expected


@pytest.mark.parametrize("text", ["90", "d", "-1d", "0d", "3 months"])
def test_an_age_without_a_unit_is_refused_saying_how(text: str) -> None:
    with pytest.raises(InputError, match="as in 90d"):
        parse_age(text)


def test_the_summary_reads_well() -> None:
    cutoff = datetime(2026, 9, 8, 13, 45, tzinfo=NOW.tzinfo)
    report = PruneReport(cutoff, runs=1_204, failures=38_110, bytes=2_100_000_000)
    assert report.summary() == (
        "pruned 1,204 runs (38,110 failures, 2.1 GB of files) finished before 2026-09-08"
    )
    single = PruneReport(cutoff, runs=1, failures=1, bytes=10, dry_run=True, by_day=False)
    assert single.summary() == (
        "would prune 1 run (1 failure, 10 bytes of files) finished before 2026-09-08 13:45 UTC"
    )


class _Bytes:
    """A readable stream of ``data`` (what put_stream takes)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, size: int = -1) -> bytes:
        block, self._data = self._data[:size], self._data[size:]
        return block
