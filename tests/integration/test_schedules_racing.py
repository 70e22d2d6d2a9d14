"""Exactly once, with company: racing schedulers, a claimer killed mid-claim, racing starts.

Each test runs on SQLite and on PostgreSQL. Every "process" is an engine of
its own (its own connection pool) over the same state database, driven from
its own thread; the claimer killed inside its transaction is a real process,
SIGKILLed while its claim is uncommitted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from tests.conftest import MakeJobport, migrated_schema
from tests.unit.schedules_support import START, Clock, Held, add, runs_of, scheduler

from jobport import Jobport, StartRequest
from jobport.schedules.gate import TypeBusy
from jobport.schedules.model import Outcome
from jobport.store import RunRecord, make_engine

APP = "tests.apps.scheduled"
ROOT = Path(__file__).resolve().parents[2]
EMPTY = {"pages": 0}

Engines = Callable[[int], list[Jobport]]


@pytest.fixture(scope="module")
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """One migrated schema for the module (migrating costs a second); emptied per test."""
    with migrated_schema(postgres_url) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engines(request: pytest.FixtureRequest, make_jobport: MakeJobport) -> Engines:
    """``engines(n)``: n engines over one state database of the backend."""
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_schema")
        emptied = make_engine(url)
        with emptied.begin() as conn:
            for table in ("jobport_schedules", "jobport_active_slots", "job_runs"):
                conn.exec_driver_sql(f"DELETE FROM {table}")  # firings and chunks cascade
        emptied.dispose()

    def make(count: int) -> list[Jobport]:
        extra = {"database_url": url} if url else {}
        return [make_jobport(app=APP, **extra) for _ in range(count)]

    return make


def test_two_schedulers_racing_fire_each_slot_once(engines: Engines) -> None:
    one, two = engines(2)
    clock = Clock()
    hourly = add(one, clock, "ticks", "0 * * * *", name="hourly", options=EMPTY)
    quarter = add(one, clock, "ticks-pair", "every 15m", name="quarter", options=EMPTY)
    racers = [scheduler(one, clock), scheduler(two, clock)]
    barrier = threading.Barrier(2)

    def race(fire: object) -> int:
        started = 0
        for _ in range(6 * 4):  # six hours, a sweep every quarter of an hour
            if barrier.wait(timeout=30) == 0:
                clock.advance(minutes=15)
            barrier.wait(timeout=30)  # both sweep at each tick of the shared clock
            started += fire.sweep()  # type: ignore[attr-defined]
        return started

    with ThreadPoolExecutor(2) as pool:
        counts = list(pool.map(race, racers))

    assert sum(counts) == 6 + 6 * 4
    assert all(counts), "both took part"
    slots = [f.slot_at for f in racers[0].store.firings(hourly.id)]
    assert slots == [START + timedelta(hours=h) for h in range(1, 7)]
    quarters = [f.slot_at for f in racers[0].store.firings(quarter.id)]
    assert quarters == [START + timedelta(minutes=15 * q) for q in range(1, 25)]
    assert len(runs_of(one, "ticks")) == 6
    assert len(runs_of(one, "ticks-pair")) == 6 * 4


_CLAIM_AND_HANG = """
import sys, time
from datetime import datetime
sys.path.insert(0, {root!r})
from jobport.store import make_engine
from jobport.store.database import WRITE
from jobport.store.tables import schedule_firings
engine = make_engine({url!r})
slot = datetime.fromisoformat({slot!r})
with engine.connect().execution_options(**{{WRITE: True}}) as conn, conn.begin():
    conn.execute(schedule_firings.insert().values(
        schedule_id={schedule!r}, slot_at=slot, run_id="11111111-2222-3333-4444-555555555555",
        outcome="claimed", claimed_by="doomed", claimed_at=slot))
    print("claimed, not committed", flush=True)
    time.sleep(120)
"""


def test_a_claimer_killed_inside_its_claim_leaves_the_slot_to_another(engines: Engines) -> None:
    (engine,) = engines(1)
    clock = Clock()
    hourly = add(engine, clock, "ticks", "0 * * * *", options=EMPTY)
    clock.advance(hours=1)
    script = _CLAIM_AND_HANG.format(
        root=str(ROOT),
        url=engine.settings.database_url,
        slot=clock.now.isoformat(),
        schedule=hourly.id,
    )
    doomed = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert doomed.stdout is not None
        assert doomed.stdout.readline().strip() == "claimed, not committed"
    finally:
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=30)
        if doomed.stdout is not None:
            doomed.stdout.close()
    survivor = scheduler(engine, clock)
    assert survivor.sweep() == 1
    (firing,) = survivor.store.firings(hourly.id)
    assert (firing.claimed_by, firing.outcome) == (survivor.me, Outcome.STARTED)
    assert [r["id"] for r in runs_of(engine, "ticks")] == [firing.run_id]


def _race_starts(engines: list[Jobport], type: str) -> tuple[list[RunRecord], list[TypeBusy]]:
    barrier = threading.Barrier(len(engines))

    def start(engine: Jobport) -> RunRecord | TypeBusy:
        barrier.wait(timeout=30)
        try:
            return engine.dispatcher.start(StartRequest(type=type))
        except TypeBusy as busy:
            return busy

    with ThreadPoolExecutor(len(engines)) as pool:
        results = list(pool.map(start, engines))
    return (
        [r for r in results if isinstance(r, RunRecord)],
        [r for r in results if isinstance(r, TypeBusy)],
    )


def test_racing_starts_never_pass_the_types_limit(engines: Engines) -> None:
    racers = engines(3)
    for engine in racers:
        engine.dispatcher.executor = Held()  # type: ignore[assignment]
    for _ in range(5):
        started, refused = _race_starts(racers[:2], "ticks")
        assert (len(started), len(refused)) == (1, 1)
        assert refused[0].active == (started[0].id,)
        racers[0].cancel(started[0].id)
    started, refused = _race_starts(racers, "ticks-pair")
    assert (len(started), len(refused)) == (2, 1)
    assert refused[0].status_code == 409
    assert "'ticks-pair' allows 2 active runs at a time and has 2" in refused[0].message
