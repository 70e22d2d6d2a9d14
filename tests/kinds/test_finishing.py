"""Finishing is part of the commit protocol: no reader sees a completed run without its result.

An export's last chunk leaves the run ``running`` at 100 %; the worker then
assembles the file and completes the run with its result and JobCompleted in
one transaction. A worker that dies in between leaves a run whose chunks are
all done; recovery finishes it again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import MakeJobport
from tests.kinds.support import result_bytes, rows_of

from jobport import Exporter, JobRegistry, JobType, StartRequest
from jobport.demo import customers
from jobport.events import JobEvent
from jobport.executors.base import ExecutorBase
from jobport.kinds.exports import ExportKind
from jobport.kinds.syncs import SyncKind
from jobport.store.tables import job_runs
from jobport.worker import finish_stalled, run_chunk


def small_exports(chunk_size: int) -> JobRegistry:
    registry = JobRegistry()
    registry.add(
        JobType(
            type="people-out",
            label="People",
            kind="export",
            model=customers,
            handler=Exporter(query=sa.select(customers)),
            formats=("csv",),
            chunk_size=chunk_size,
        )
    )
    return registry


def insert(engine: Any, count: int) -> None:
    rows = [
        {
            "id": i,
            "email": f"p{i}@example.com",
            "last_name": f"L{i}",
            "country": "FR",
            "active": True,
        }
        for i in range(1, count + 1)
    ]
    with engine.database.begin() as conn:
        conn.execute(customers.insert(), rows)


class WorkerDied(BaseException):
    """Stands for the death of the worker process: nothing after it runs."""


class Recorder(ExecutorBase):
    """An executor that only records deliveries, so the test delivers them itself."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, list[int]]] = []

    def submit(self, run_id: str, chunks: Any) -> None:
        self.submitted.append((run_id, list(chunks)))


def test_no_reader_sees_a_completed_export_without_its_file(
    make_jobport: MakeJobport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_jobport(app=None, registry=small_exports(5))
    insert(engine, 12)
    seen_during_finish: list[tuple[str, str | None, int]] = []
    real_finish = ExportKind.finish

    def finish_and_look(self: ExportKind, task: Any) -> Any:
        run = engine.store.get_run(task.run.id)  # what a dashboard poll reads right now
        seen_during_finish.append((run.status, run.result_key, run.processed))
        return real_finish(self, task)

    monkeypatch.setattr(ExportKind, "finish", finish_and_look)
    events: list[JobEvent] = []
    engine.bus.subscribe(events.append)
    run = engine.run(engine.start(StartRequest(type="people-out", format="csv")).id)
    assert seen_during_finish == [("running", None, 12)]
    assert run.status == "completed"
    assert run.result_key
    assert [int(r["id"]) for r in rows_of("csv", result_bytes(engine, run), tmp_path)] == list(
        range(1, 13)
    )
    completed = [e for e in events if e.name == "JobCompleted"]
    assert len(completed) == 1
    assert completed[0].seq == engine.store.get_run(run.id).seq
    assert [e.name for e in engine.store.events_since(run.id, 0)][-1] == "JobCompleted"


def test_a_worker_dying_in_the_finish_leaves_a_run_recovery_completes(
    make_jobport: MakeJobport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_jobport(app=None, registry=small_exports(5))
    insert(engine, 12)
    engine.dispatcher.executor = Recorder()
    real_finish = ExportKind.finish
    attempts = 0

    def dies_once(self: ExportKind, task: Any) -> Any:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            real_finish(self, task)  # the file is written, then the worker dies
            raise WorkerDied
        return real_finish(self, task)

    monkeypatch.setattr(ExportKind, "finish", dies_once)
    run = engine.start(StartRequest(type="people-out", format="csv"))
    ctx = engine.worker_context()
    run_chunk(ctx, run.id, 0)
    run_chunk(ctx, run.id, 1)
    with pytest.raises(WorkerDied):
        run_chunk(ctx, run.id, 2)
    stalled = engine.store.get_run(run.id)
    assert (stalled.status, stalled.result_key, stalled.chunks_done) == ("running", None, 3)
    # The dead worker's lease on the step is still running: nobody else starts it.
    assert finish_stalled(ctx) == 0
    with engine.database.begin() as conn:  # ... until it has run out
        conn.execute(job_runs.update().values(finishing_until=sa.func.current_timestamp()))
    assert engine.store.unfinished_runs(types=["people-out"]) == [run.id]
    assert engine.store.unfinished_runs(types=["something-else"]) == []
    assert engine.supervisor.sweep() == 1  # the one supervisor's sweep finishes it
    done = engine.store.get_run(run.id)
    assert done.status == "completed"
    assert [int(r["id"]) for r in rows_of("csv", result_bytes(engine, done), tmp_path)] == list(
        range(1, 13)
    )
    assert finish_stalled(ctx) == 0  # idempotent: nothing left to finish
    # The parts are gone once the run completed; the first attempt's file stays behind.
    assert sorted(p.parent.name for p in (tmp_path / "files").rglob("*") if p.is_file()) == [
        "results",
        "results",
    ]


def test_a_kind_with_a_last_step_says_so() -> None:
    assert ExportKind.finishes
    assert SyncKind.finishes


def test_a_last_step_that_fails_fails_the_run_instead_of_completing_it_without_a_file(
    make_jobport: MakeJobport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An export whose file cannot be made is a failed run with JobFailed, never a completed
    one without its file; resumed, the next sweep makes its file and completes it (the
    failed run holds no lease on the step)."""
    engine = make_jobport(app=None, registry=small_exports(5))
    insert(engine, 12)
    real_finish = ExportKind.finish
    failing = True

    def disk_full(self: ExportKind, task: Any) -> Any:
        if failing:
            raise OSError("disk full")
        return real_finish(self, task)

    monkeypatch.setattr(ExportKind, "finish", disk_full)
    events: list[JobEvent] = []
    engine.bus.subscribe(events.append)
    run = engine.run(engine.start(StartRequest(type="people-out", format="csv")).id)
    assert (run.status, run.result_key, run.chunks_done) == ("failed", None, 3)
    assert "disk full" in (run.error or "")
    assert [e.name for e in events if e.name != "JobProgressed"] == ["JobFailed"]
    assert [e.name for e in engine.store.events_since(run.id, 0)][-1] == "JobFailed"

    failing = False
    engine.resume(run.id)  # every chunk is done: only the last step is left to do
    assert engine.supervisor.sweep() == 1  # at once, not when the failed attempt's lease ends
    done = engine.store.get_run(run.id)
    assert done.status == "completed"
    assert [int(r["id"]) for r in rows_of("csv", result_bytes(engine, done), tmp_path)] == list(
        range(1, 13)
    )
