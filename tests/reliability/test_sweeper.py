"""The sweeper, start-up recovery, and the limits that keep anything from looping forever."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from fastapi.testclient import TestClient

from jobport.executors.local import LocalExecutor
from jobport.recovery import Supervisor, sweep_interval
from jobport.server import app_from_env
from jobport.settings import Settings
from jobport.store import Claim

from .conftest import HOST, Place, wait_until, write_items


def dead_pid() -> int:
    """The pid of a process of this host that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_sweeper_thread_takes_back_a_lost_workers_chunk_and_delivers_it(
    place: Place,
) -> None:
    path = place.folder / "items.csv"
    write_items(path, 80)  # one chunk
    engine = place.jobport(lease_seconds=0.5)
    run = place.planned(engine, "items", path)
    ghost = engine.store.claim_chunk(run.id, 0, "ghost-worker", 0.3)  # then it vanishes
    assert isinstance(ghost, Claim)

    sweeper = engine.start_sweeper(0.05)
    assert engine.start_sweeper() is sweeper  # one per engine
    place.wait_finished(run.id, timeout=30)

    chunk = place.chunks(run.id)[0]
    assert (chunk["status"], chunk["attempts"], chunk["errors"]) == ("done", 2, 1)
    assert engine.run(run.id).status == "completed"
    engine.close()
    assert not sweeper.running


def test_recover_adopts_only_runs_whose_process_on_this_host_died(place: Place) -> None:
    path = place.folder / "items.csv"
    write_items(path, 250)  # 3 chunks
    engine = place.jobport()
    dead = f"{HOST}:{dead_pid()}"
    runs = {}
    for name, dispatcher in [
        ("dead", dead),
        ("alive", f"{HOST}:{os.getppid()}"),
        ("elsewhere", "another-host:1"),
    ]:
        runs[name] = place.planned(engine, "items", path).id
        engine.store.adopt_run(runs[name], dispatcher)
    # The dead process's pool worker was inside chunk 0 when it died.
    held = engine.store.claim_chunk(runs["dead"], 0, f"{dead}/1/4242", 30)
    assert isinstance(held, Claim)

    recovered = place.jobport(recover=True)  # inline: delivers while recovering

    run = recovered.run(runs["dead"])
    assert (run.status, run.processed, run.dispatcher) == (
        "completed",
        250,
        f"{HOST}:{os.getpid()}",
    )
    assert place.chunks(runs["dead"])[0]["errors"] == 1  # the lost attempt counts
    for name in ("alive", "elsewhere"):
        untouched = recovered.run(runs[name])
        assert (untouched.status, untouched.processed) == ("queued", 0)
    assert recovered.supervisor.recover() == []  # nothing left to adopt


def test_resume_takes_over_a_run_whose_process_died(place: Place) -> None:
    """(A run whose process is alive is resumed too: see test_redelivery.)"""
    path = place.folder / "items.csv"
    write_items(path, 250)
    engine = place.jobport()
    run = place.planned(engine, "items", path)
    engine.store.adopt_run(run.id, f"{HOST}:{dead_pid()}")
    resumed = engine.resume(run.id)
    assert (resumed.status, resumed.dispatcher) == ("completed", f"{HOST}:{os.getpid()}")


@pytest.mark.timeout(180)
def test_a_pool_whose_workers_cannot_start_fails_the_run_instead_of_looping(
    place: Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = place.folder / "items.csv"
    write_items(path, 250)
    # The app imports in this process only (see app_unstartable), whoever imports it first.
    monkeypatch.setenv("UNSTARTABLE_APP_HOME", str(os.getpid()))
    engine = place.jobport(executor="local", app="tests.reliability.app_unstartable")
    run = engine.import_file("items", path)
    final = place.wait_finished(run.id, timeout=150)
    assert final["status"] == "failed"
    assert (
        "the worker processes died 3 times in a row before finishing any chunk" in (final["error"])
    )
    assert "check that the app module imports" in final["error"]
    assert all(c["status"] == "pending" and c["errors"] == 0 for c in place.chunks(run.id))
    wait_until(
        lambda: engine.executor.outstanding() == 0,  # type: ignore[attr-defined]
        timeout=30,
        what="the executor to drop the run's deliveries",
    )


def test_wait_ready_returns_once_every_worker_process_answers(place: Place) -> None:
    engine = place.jobport(executor="local")
    executor = engine.executor
    assert isinstance(executor, LocalExecutor)
    pids = executor.wait_ready(timeout=60)
    assert len(pids) == engine.settings.workers == 2
    pool = executor._current_pool()
    assert pids == set(pool._processes)  # the pool's own worker processes, both up
    assert os.getpid() not in pids


def test_serve_on_the_local_executor_sweeps_on_one_thread(
    place: Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server and the local pool's parent are one process: one supervisor, one sweeper."""
    timing = {"lease_seconds": 0.2, "sweep_seconds": 0.02, "workers": 1}
    for name, value in place.env(executor="local", **timing).items():
        if name.startswith("JOBPORT_"):
            monkeypatch.setenv(name, value)
    sweeps: list[str] = []

    def sweep(self: Supervisor) -> int:
        sweeps.append(threading.current_thread().name)
        return 0

    monkeypatch.setattr(Supervisor, "sweep", sweep)
    with TestClient(app_from_env()):
        serving = len(sweeps)  # the engine's sweeper started before the app did
        wait_until(lambda: len(sweeps) >= serving + 40, timeout=30, what="40 sweeps while serving")
    assert set(sweeps) == {"jobport-sweeper"}


def test_one_sweep_interval_for_every_process() -> None:
    """JOBPORT_SWEEP_SECONDS, else half the shorter of the lease and the redelivery deadline."""
    assert sweep_interval(Settings(sweep_seconds=3)) == 3
    assert sweep_interval(Settings(lease_seconds=30, redeliver_seconds=20)) == 10
    assert sweep_interval(Settings(lease_seconds=8, redeliver_seconds=20)) == 4
    assert sweep_interval(Settings(lease_seconds=0.2, redeliver_seconds=20)) == 0.5
