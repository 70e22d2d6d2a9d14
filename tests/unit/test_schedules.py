"""Schedules on SQLite with a clock the test moves: slots, a simulated week, downtime, folders.

Racing schedulers, a claimer killed inside its transaction and both on
PostgreSQL are in ``tests/integration/test_schedules_racing.py``.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.conftest import MakeJobport
from tests.unit.schedules_support import START, Clock, Held, add, book, runs_of, scheduler

from jobport import Jobport
from jobport.errors import InputError, PermissionDenied, RegistryError
from jobport.principal import Principal
from jobport.schedules.gate import UNRECORDED_GRACE, TypeBusy
from jobport.schedules.model import Firing, Missed, NewSchedule, Outcome
from jobport.schedules.timing import Timing
from jobport.store.section import utcnow

APP = "tests.apps.scheduled"
#: A run with nothing to do: recorded completed at once (a week of them stays fast).
EMPTY = {"pages": 0}


@pytest.fixture
def engine(make_jobport: MakeJobport) -> Jobport:
    return make_jobport(app=APP)


# -- timing ---------------------------------------------------------------------------------------


def test_cron_slots_are_read_in_the_schedules_time_zone() -> None:
    paris = Timing.parse("0 9 * * *", "Europe/Paris")
    winter = datetime(2024, 1, 10, 12, tzinfo=UTC)
    summer = datetime(2024, 7, 10, 12, tzinfo=UTC)
    assert paris.latest(winter) == datetime(2024, 1, 10, 8, tzinfo=UTC)
    assert paris.after(winter) == datetime(2024, 1, 11, 8, tzinfo=UTC)
    assert paris.latest(summer) == datetime(2024, 7, 10, 7, tzinfo=UTC)  # CEST
    hourly = Timing.parse("0 * * * *")
    assert hourly.latest(START) == START  # a slot is at or before itself
    assert hourly.after(START) == START + timedelta(hours=1)


def test_intervals_count_from_the_epoch_so_every_process_agrees() -> None:
    every = Timing.parse("every 15m")
    moment = datetime(2024, 3, 5, 10, 37, 12, tzinfo=UTC)
    assert every.latest(moment) == datetime(2024, 3, 5, 10, 30, tzinfo=UTC)
    assert every.after(moment) == datetime(2024, 3, 5, 10, 45, tzinfo=UTC)
    assert Timing.parse("every 1d").latest(moment) == datetime(2024, 3, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "zone", "message"),
    [
        ("every 10s", "UTC", "at most every minute"),
        ("61 * * * *", "UTC", "neither a cron expression"),
        ("* * * * * *", "UTC", "five fields"),
        ("0 * * * *", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_a_bad_spec_or_zone_says_what_is_expected(spec: str, zone: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Timing.parse(spec, zone)


# -- a simulated week -----------------------------------------------------------------------------


def test_a_simulated_week_fires_each_slot_once(engine: Jobport) -> None:
    clock = Clock()
    hourly = add(engine, clock, "ticks", "0 * * * *", name="hourly", options=EMPTY)
    six = add(engine, clock, "ticks-pair", "every 6h", name="six-hourly", options=EMPTY)
    paused = add(engine, clock, "ticks-queued", "every 15m", name="paused", options=EMPTY)
    book(engine, clock).pause(Principal.operator(), "paused")
    fire = scheduler(engine, clock)

    while clock.now < START + timedelta(days=7):
        clock.advance(minutes=30)
        fire.sweep()

    firings = fire.store.firings(hourly.id)
    hours = [START + timedelta(hours=n) for n in range(1, 7 * 24 + 1)]
    assert [f.slot_at for f in firings] == hours
    assert {f.outcome for f in firings} == {Outcome.STARTED}
    assert sorted(r["id"] for r in runs_of(engine, "ticks")) == sorted(f.run_id for f in firings)
    assert len(runs_of(engine, "ticks-pair")) == len(fire.store.firings(six.id)) == 28
    assert runs_of(engine, "ticks-queued") == fire.store.firings(paused.id) == []


def test_downtime_gives_one_catch_up_run_then_the_slots_go_on(engine: Jobport) -> None:
    clock = Clock()
    hourly = add(engine, clock, "ticks", "0 * * * *", options=EMPTY)
    fire = scheduler(engine, clock)
    clock.advance(hours=1)
    assert fire.sweep() == 1
    clock.advance(hours=10, minutes=20)  # nothing ran for ten slots
    assert fire.sweep() == 1
    assert fire.sweep() == 0
    clock.advance(minutes=40)
    assert fire.sweep() == 1
    slots = [f.slot_at for f in fire.store.firings(hourly.id)]
    assert slots == [START + timedelta(hours=h) for h in (1, 11, 12)]
    assert len(runs_of(engine, "ticks")) == 3


def test_with_skip_a_slot_seen_late_is_not_run(engine: Jobport) -> None:
    clock = Clock()
    hourly = add(engine, clock, "ticks", "0 * * * *", options=EMPTY, missed=Missed.SKIP)
    fire = scheduler(engine, clock, late_after=timedelta(minutes=5))
    clock.advance(hours=10, minutes=20)
    assert fire.sweep() == 0
    clock.advance(minutes=41)  # 11:01, on time
    assert fire.sweep() == 1
    firings = fire.store.firings(hourly.id)
    assert [(f.slot_at.hour, f.outcome) for f in firings] == [
        (10, Outcome.SKIPPED),
        (11, Outcome.STARTED),
    ]
    assert "missed" in (firings[0].detail or "")


def test_a_resumed_schedule_fires_from_its_next_slot_only(engine: Jobport) -> None:
    clock = Clock()
    add(engine, clock, "ticks", "0 * * * *", name="h", options=EMPTY)
    fire = scheduler(engine, clock)
    book(engine, clock).pause(Principal.operator(), "h")
    clock.advance(hours=5, minutes=30)
    assert fire.sweep() == 0
    resumed = book(engine, clock).resume(Principal.operator(), "h")
    assert resumed.next_fire_at == START + timedelta(hours=6)
    assert fire.sweep() == 0
    clock.advance(minutes=30)
    assert fire.sweep() == 1


# -- claims whose process died --------------------------------------------------------------------


def test_a_claim_left_without_its_run_is_taken_over_under_the_same_run_id(
    engine: Jobport,
) -> None:
    """A claimer killed after its claim committed, before its run was recorded."""
    clock = Clock()
    hourly = add(engine, clock, "ticks", "0 * * * *", options=EMPTY)
    dead = scheduler(engine, clock)
    clock.advance(hours=1)
    claim = Firing(
        hourly.id,
        clock.now,
        "4a3c8e7e-dead-4d1e-9f00-000000000001",
        Outcome.CLAIMED,
        None,
        "elsewhere:1:scheduler",
        clock.now,
    )
    assert dead.store.claim(claim, clock.now + timedelta(hours=1))
    alive = scheduler(engine, clock, stale_after=timedelta(minutes=5))
    assert alive.sweep() == 0  # fresh: its claimer may still be starting it
    clock.advance(minutes=6)
    assert alive.sweep() == 1
    assert alive.sweep() == 0
    assert [r["id"] for r in runs_of(engine, "ticks")] == [claim.run_id]
    (firing,) = alive.store.firings(hourly.id)
    assert (firing.outcome, firing.claimed_by) == (Outcome.STARTED, alive.me)


def test_a_claim_taken_over_while_its_run_exists_starts_no_second_run(engine: Jobport) -> None:
    """A claimer that died after recording its run, before recording the outcome."""
    clock = Clock()
    hourly = add(engine, clock, "ticks", "0 * * * *", options=EMPTY)
    slow = scheduler(engine, clock)
    clock.advance(hours=1)
    slow.store.settle = lambda *args, **kwargs: None  # type: ignore[method-assign]
    assert slow.sweep() == 1  # started, outcome never recorded
    clock.advance(minutes=10)
    other = scheduler(engine, clock)
    assert other.sweep() == 1
    assert len(runs_of(engine, "ticks")) == 1
    assert other.store.firings(hourly.id)[0].outcome == Outcome.STARTED


# -- imports from a folder ------------------------------------------------------------------------


def test_a_folder_import_takes_each_file_once_and_moves_it_to_done(
    engine: Jobport, tmp_path: Path
) -> None:
    clock = Clock()
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "a.csv").write_text("id,name\n1,Ann\n2,Bob\n")
    (incoming / "b.csv").write_text("id,name\n3,Cy\n")
    (incoming / "notes.txt").write_text("not matched")
    schedule = add(engine, clock, "names", "every 15m", source=f"{incoming}/*.csv")
    first, second = scheduler(engine, clock), scheduler(engine, clock)
    clock.advance(minutes=15)
    assert first.sweep() + second.sweep() == 2
    assert sorted(p.name for p in incoming.iterdir()) == ["done", "notes.txt"]
    assert len(list((incoming / "done").iterdir())) == 2
    (incoming / "c.csv").write_text("id,name\n4,Di\n")
    clock.advance(minutes=15)
    assert second.sweep() + first.sweep() == 1
    clock.advance(minutes=15)
    assert first.sweep() == 0
    runs = [engine.run(r["id"]) for r in runs_of(engine, "names")]
    assert sorted(r.source_name or "" for r in runs) == ["a.csv", "b.csv", "c.csv"]
    assert {r.status for r in runs} == {"completed"}
    assert sum(r.processed for r in runs) == 4
    last = first.store.get(schedule.id)
    assert last is not None
    assert last.last is not None
    assert (last.last.outcome, last.last.detail) == (Outcome.SKIPPED, "no new file")


def test_a_source_that_cannot_be_listed_fails_its_slot_once(
    engine: Jobport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    schedule = add(engine, clock, "names", "every 15m", source=str(tmp_path))
    fire = scheduler(engine, clock)

    def unreachable(source: str) -> None:
        raise OSError("the share is gone")

    monkeypatch.setattr(fire, "_folder", unreachable)
    clock.advance(minutes=15)
    assert fire.sweep() == 0
    clock.advance(minutes=14)  # past the time a claim is taken over: none is left to take
    assert fire.sweep() == 0
    (firing,) = fire.store.firings(schedule.id)
    assert firing.outcome == Outcome.FAILED
    assert "could not list the source: the share is gone" in (firing.detail or "")


def test_only_admins_schedule_imports_and_only_imports_take_a_source(
    engine: Jobport, tmp_path: Path
) -> None:
    rules = book(engine, Clock())
    alice = Principal("alice")
    with pytest.raises(InputError, match="only an admin may schedule imports"):
        rules.add(alice, NewSchedule(type="names", spec="every 1h", source=str(tmp_path)))
    with pytest.raises(InputError, match="needs a source"):
        rules.add(Principal.operator(), NewSchedule(type="names", spec="every 1h"))
    with pytest.raises(InputError, match="only imports take a source"):
        rules.add(alice, NewSchedule(type="ticks", spec="every 1h", source=str(tmp_path)))
    with pytest.raises(PermissionDenied, match="ops"):
        rules.add(alice, NewSchedule(type="ticks-restricted", spec="every 1h"))
    with pytest.raises(InputError, match="invalid options for 'ticks'"):
        rules.add(alice, NewSchedule(type="ticks", spec="every 1h", options={"nope": 1}))


# -- busy types -----------------------------------------------------------------------------------


def test_a_firing_of_a_busy_type_is_skipped_and_says_why(engine: Jobport) -> None:
    clock = Clock()
    hourly = add(engine, clock, "ticks", "0 * * * *")
    fire = scheduler(engine, clock)
    engine.dispatcher.executor = Held()  # type: ignore[assignment]
    clock.advance(hours=1)
    assert fire.sweep() == 1  # started, held: still active
    clock.advance(hours=1)
    assert fire.sweep() == 0
    firings = fire.store.firings(hourly.id)
    assert [f.outcome for f in firings] == [Outcome.STARTED, Outcome.SKIPPED]
    assert "'ticks' allows 1 active run at a time" in (firings[1].detail or "")
    assert firings[0].run_id is not None
    assert firings[0].run_id in (firings[1].detail or "")
    engine.cancel(firings[0].run_id)
    clock.advance(hours=1)
    assert fire.sweep() == 1


def test_a_firing_of_a_busy_type_that_queues_starts_when_the_type_is_free(
    engine: Jobport,
) -> None:
    clock = Clock()
    queued = add(engine, clock, "ticks-queued", "0 * * * *")
    fire = scheduler(engine, clock)
    engine.dispatcher.executor = Held()  # type: ignore[assignment]
    clock.advance(hours=1)
    fire.sweep()
    clock.advance(hours=1)
    assert fire.sweep() == 1
    first, second = fire.store.firings(queued.id)
    assert (first.outcome, second.outcome) == (Outcome.STARTED, Outcome.QUEUED)
    assert second.run_id is not None
    assert engine.store.find_run(second.run_id) is None
    assert fire.sweep() == 0  # still busy: it waits
    assert first.run_id is not None
    engine.cancel(first.run_id)
    assert fire.sweep() == 1
    assert engine.run(second.run_id).status == "queued"  # recorded, under the queued id
    assert engine.dispatcher.gate.waiting(second.run_id) is None


def test_a_folder_may_be_any_fsspec_url(engine: Jobport) -> None:
    import fsspec

    memory = fsspec.filesystem("memory")
    folder = f"/jobport-test-{id(engine)}"
    memory.pipe(f"{folder}/in/one.csv", b"id,name\n7,Eve\n")
    clock = Clock()
    add(engine, clock, "names", "every 15m", source=f"memory://{folder}/in")  # the whole folder
    clock.advance(minutes=15)
    assert scheduler(engine, clock).sweep() == 1
    assert memory.ls(f"{folder}/in/done", detail=False)[0].startswith(f"{folder}/in/done/one.")
    (run,) = runs_of(engine, "names")
    assert engine.run(run["id"]).processed == 1
    memory.rm(folder, recursive=True)


# -- the supervisor's sweep -----------------------------------------------------------------------


def test_the_supervisors_sweep_fires_schedules_but_not_in_a_command_waiting_for_its_run(
    engine: Jobport,
) -> None:
    clock = Clock(utcnow() - timedelta(minutes=2))
    add(engine, clock, "ticks", "every 1m", options=EMPTY)  # its first slot has passed
    engine.dispatcher.here = engine.executor  # as the CLI's engine: no firing
    engine.supervisor.sweep()
    assert runs_of(engine, "ticks") == []
    engine.dispatcher.here = None
    engine.supervisor.sweep()
    assert len(runs_of(engine, "ticks")) == 1


# -- the limit per type ---------------------------------------------------------------------------


def test_max_active_is_checked_when_the_type_is_declared() -> None:
    from tests.apps.scheduled import registry

    ticks = registry.get("ticks")
    assert (ticks.active_limit, registry.get("names").active_limit) == (1, None)
    assert dataclasses.replace(ticks, max_active=None).active_limit is None
    assert ticks.summary()["max_active"] == 1
    for wrong in (0, -1, True):
        with pytest.raises(RegistryError, match="max_active must be at least 1"):
            dataclasses.replace(ticks, max_active=wrong)


def test_a_slot_whose_run_was_never_recorded_frees_after_a_while(engine: Jobport) -> None:
    gate, ticks = engine.dispatcher.gate, engine.registry.get("ticks")
    assert gate.take(ticks, "never-recorded") == 0  # its start died before recording it
    with pytest.raises(TypeBusy):
        gate.take(ticks, "next")
    later = utcnow() + UNRECORDED_GRACE + timedelta(seconds=1)
    assert gate.take(ticks, "next", now=later) == 0
    assert gate.holders("ticks", now=later) == ["next"]
