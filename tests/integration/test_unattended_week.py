"""A simulated week of jobport left alone: schedules fire, webhooks deliver, retention prunes.

The acceptance test of running unattended (issue 19): one engine (SQLite,
inline executor), an hourly cron schedule read in a half-hour time zone and
an interval schedule, one webhook subscription to a local receiver that
checks every signature with the Standard Webhooks library and answers 500
for twelve hours mid-week, and ``retention_days=2``. Nothing but the
supervisor's sweep acts, every five simulated minutes, then one pass of its
webhook deliverer (the thread it would start is off: ``webhooks_concurrency=0``
and :meth:`Deliverer.run_once`).

One clock drives it all: the supervisor's (``Supervisor(clock=...)``, shared
by its scheduler, deliverer and retention), and the store's timestamps
(``jobport.store.section.utcnow``, which the store's modules import by name:
each binding is pointed at the same clock), so a run finishes at the
simulated moment its slot fired and retention's cutoff is read on the same
time line. Only the signature's ``webhook-timestamp`` stays on the wall
clock, as the receiver checks it against the wall clock.
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.conftest import MakeJobport
from tests.unit.schedules_support import START, Clock, add, book
from tests.webhooks.conftest import Receiver, body_of
from tests.webhooks.conftest import receiver as receiver  # the local receiver fixture

from jobport import Jobport
from jobport.principal import Principal
from jobport.recovery import Supervisor
from jobport.schedules.model import Outcome
from jobport.store import section
from jobport.store.tables import job_runs, schedules, webhook_deliveries, webhooks
from jobport.store.webhooks import PENDING, SUCCEEDED, WebhookStore
from jobport.webhooks.events import EVENT_TYPES
from jobport.webhooks.service import WebhookService

APP = "tests.apps.scheduled"
WEEK = timedelta(days=7)
RETENTION = timedelta(days=2)
#: The receiver answers 500 from Wednesday 06:00 to 18:00 (simulated).
OUTAGE = (START + timedelta(days=2, hours=6), START + timedelta(days=2, hours=18))
OPERATOR = Principal.operator()


def one_clock(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point every module's ``utcnow`` (the store's timestamps) at ``clock``."""
    original = section.utcnow
    for name, module in list(sys.modules.items()):
        if name.startswith("jobport") and getattr(module, "utcnow", None) is original:
            monkeypatch.setattr(module, "utcnow", clock)


def runs_now(engine: Jobport) -> dict[str, tuple[str, object, str | None]]:
    """Every run in the state database: id -> (type, finished_at, result key)."""
    with engine.database.connect() as conn:
        rows = conn.execute(
            sa.select(job_runs.c.id, job_runs.c.type, job_runs.c.finished_at, job_runs.c.result_key)
        )
        return {row.id: (row.type, row.finished_at, row.result_key) for row in rows}


def next_due(engine: Jobport, now: datetime) -> datetime:
    """The next moment something is due: a schedule's slot or a delivery's next attempt
    (retention's hourly prune falls on the hourly schedule's slots). What was due by
    ``now`` was done by the pass at ``now``, or waits behind its run's earlier message."""
    with engine.database.connect() as conn:
        slot = conn.execute(
            sa.select(schedules.c.next_fire_at).order_by(schedules.c.next_fire_at).limit(1)
        ).scalar()
        retry = conn.execute(
            sa.select(webhook_deliveries.c.next_attempt_at)
            .where(
                webhook_deliveries.c.status == PENDING,
                webhook_deliveries.c.next_attempt_at > now,  # not one held behind its run's
            )
            .order_by(webhook_deliveries.c.next_attempt_at)
            .limit(1)
        ).scalar()
    due: datetime = min(moment for moment in (slot, retry) if moment is not None)
    return due


def deliveries_now(engine: Jobport) -> dict[tuple[str, int], tuple[str, int]]:
    """The deliveries log: (run, seq) -> (status, attempts)."""
    with engine.database.connect() as conn:
        rows = conn.execute(
            sa.select(
                webhook_deliveries.c.run_id,
                webhook_deliveries.c.seq,
                webhook_deliveries.c.status,
                webhook_deliveries.c.attempts,
            )
        )
        return {(row.run_id, row.seq): (row.status, row.attempts) for row in rows}


def test_a_week_unattended_fires_delivers_and_prunes_exactly(
    make_jobport: MakeJobport, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clock = Clock()
    one_clock(clock, monkeypatch)
    engine = make_jobport(
        app=APP,
        retention_days=RETENTION.days,
        webhooks_allow_private=True,
        webhooks_timeout_seconds=2.0,
        webhooks_concurrency=0,  # no delivery thread: the test makes each pass on its clock
    )
    with engine.database.begin() as conn:
        conn.execute(sa.text("insert into names (id, name) values (1, 'Ann'), (2, 'Bo')"))
    # Minute 30 in Kolkata (UTC+05:30) is minute 0 in UTC: 168 slots, on the hour UTC.
    hourly = add(
        engine, clock, "names-export", "30 * * * *", name="hourly", timezone="Asia/Kolkata"
    )
    six = add(engine, clock, "ticks", "every 6h", name="six-hourly", options={"pages": 0})
    hooks = WebhookService(
        store=WebhookStore(engine.store.engine),
        runs=engine.store,
        registry=engine.registry,
        settings=engine.settings,
        clock=clock,
    )
    hook = hooks.add(OPERATOR, receiver.hook("all"), events=tuple(EVENT_TYPES))
    receiver.secrets["/all"] = hook.secret
    supervisor = Supervisor(
        dispatcher=engine.dispatcher, bus=engine.bus, settings=engine.settings, clock=clock
    )
    seen: dict[str, tuple[str, object, str | None]] = {}
    logged: dict[tuple[str, int], tuple[str, int]] = {}
    steps = 0

    while clock.now < START + WEEK:
        clock.now = min(next_due(engine, clock.now), START + WEEK)
        receiver.default = 500 if OUTAGE[0] <= clock.now < OUTAGE[1] else 204
        supervisor.sweep()
        supervisor.webhooks.run_once()
        # Sweeping again at the same moment fires nothing and sends nothing.
        assert supervisor.scheduler.sweep() == 0
        assert supervisor.webhooks.run_once() == 0
        seen.update(runs_now(engine))
        logged.update(deliveries_now(engine))  # a pruned run's deliveries go with it
        steps += 1
    end = clock.now
    assert steps < 7 * 24 * 4  # stepped from one due time to the next
    assert end == START + WEEK

    # -- schedules: each slot fired once, each firing one run ----------------------------------
    store = supervisor.scheduler.store
    firings = {s.id: store.firings(s.id) for s in (hourly, six)}
    hours = [START + timedelta(hours=n) for n in range(1, 7 * 24 + 1)]
    assert [f.slot_at for f in firings[hourly.id]] == hours
    assert [f.slot_at for f in firings[six.id]] == hours[5::6]
    fired = [f for found in firings.values() for f in found]
    assert {f.outcome for f in fired} == {Outcome.STARTED}
    run_ids = [f.run_id for f in fired if f.run_id is not None]
    assert len(set(run_ids)) == len(run_ids) == 168 + 28
    assert set(seen) == set(run_ids)  # and no other run
    assert Counter(kind for kind, _, _ in seen.values()) == {"names-export": 168, "ticks": 28}
    slot_of = {f.run_id: f.slot_at for f in fired if f.run_id is not None}
    assert all(seen[r][1] == slot_of[r] for r in run_ids)  # finished as its slot fired
    assert book(engine, clock).get(OPERATOR, "hourly").next_fire_at == end + timedelta(hours=1)

    # -- webhooks: every event of every run accepted once, in seq order per run -----------------
    got = receiver.messages("/all")
    assert [r.error for r in got if r.error] == []  # every signature verified
    by_run: dict[str, list[int]] = defaultdict(list)
    for message in got:
        by_run[body_of(message)["data"]["run_id"]].append(message.seq)
    assert set(by_run) == set(run_ids)
    assert all(seqs == sorted(seqs) for seqs in by_run.values())  # never out of order
    with engine.database.connect() as conn:
        paused = conn.execute(sa.select(webhooks.c.paused_reason)).scalar_one()
    assert paused is None
    assert {status for status, _ in logged.values()} == {SUCCEEDED}
    for run_id, seqs in by_run.items():
        delivered = sorted(seq for r, seq in logged if r == run_id)
        assert delivered == sorted(set(seqs)) == list(range(1, len(delivered) + 1)), run_id
    last = {body_of(m)["data"]["run_id"]: body_of(m)["type"] for m in got}
    assert set(last.values()) == {"run.completed"}  # each run's last message: how it ended
    # The outage was felt, and made up for by retries alone.
    during = [r for r in run_ids if OUTAGE[0] <= slot_of[r] < OUTAGE[1]]
    assert during
    assert all(len(by_run[r]) > len(set(by_run[r])) for r in during)
    retried = {run_id for (run_id, _), (_, attempts) in logged.items() if attempts > 1}
    assert retried == set(during)
    # Each message reached the receiver once per attempt: accepted once, after its failures.
    assert len(got) == sum(attempts for _, attempts in logged.values())

    # -- retention: exactly the runs finished more than two days before the end are gone --------
    cutoff = end - RETENTION
    old = {r for r in run_ids if slot_of[r] < cutoff}
    # Slots 1 h .. 119 h and 6 h .. 114 h: the runs of the slot exactly at the cutoff stay.
    assert len(old) == (5 * 24 - 1) + (5 * 4 - 1)
    kept = runs_now(engine)
    assert set(kept) == set(run_ids) - old
    for run_id in run_ids:
        key = seen[run_id][2]
        if seen[run_id][0] == "names-export":
            assert key is not None
            assert engine.files.exists(key) == (run_id not in old), run_id
