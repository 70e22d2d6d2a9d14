"""Webhook deliveries against a local receiver: signed, in order per run, retried, paused.

Every message the receiver gets is checked with the Standard Webhooks
library (``Received.message`` is set only when its signature verified). The
clock of the deliveries is moved by hand: the retry schedule's hours pass at
once, and nothing is sent before it is due.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.webhooks.conftest import ADMIN, ALICE, BOB, OPERATOR, Hooks, MakeHooks, body_of

from jobport import metrics
from jobport.store.webhooks import FAILED, PENDING, SUCCEEDED
from jobport.webhooks import policy
from jobport.webhooks.deliverer import Deliverer

EVERY_EVENT = ("run.progress", "run.completed", "run.failed", "run.cancelled")


def test_a_runs_events_arrive_signed_once_each_in_seq_order(hooks: Hooks) -> None:
    hook = hooks.subscribe(OPERATOR, "all", events=EVERY_EVENT)
    run_id = hooks.import_people(7)  # three chunks: two progress events, then completed

    assert hooks.deliver() == 3
    got = hooks.receiver.messages("/all")
    assert [r.error for r in got] == [None, None, None]  # every signature verified
    assert [r.seq for r in got] == [1, 2, 3]
    assert [r.message["type"] for r in got if r.message] == [
        "run.progress",
        "run.progress",
        "run.completed",
    ]
    last = body_of(got[-1])["data"]
    assert (last["run_id"], last["job_type"], last["status"]) == (run_id, "people", "completed")
    assert (last["processed"], last["total"]) == (7, 7)
    assert len({r.headers["webhook-id"] for r in got}) == 3
    assert hooks.deliver() == 0  # nothing is sent twice
    items, total = hooks.service.deliveries(OPERATOR, hook)
    assert total == 3
    assert {(d.status, d.status_code, d.attempts) for d in items} == {(SUCCEEDED, 204, 1)}
    assert all(d.response_ms is not None for d in items)


def test_a_failing_receiver_is_retried_on_schedule_and_holds_back_the_runs_later_events(
    make_hooks: MakeHooks,
) -> None:
    hooks = make_hooks(webhooks_timeout_seconds=0.3)
    hook = hooks.subscribe(OPERATOR, "flaky", events=EVERY_EVENT)
    hooks.import_people(7)
    hooks.receiver.answer(500, 503, "hang")

    assert hooks.deliver() == 1  # seq 1 fails; 2 and 3 wait behind it
    assert hooks.deliver() == 0  # not due before its delay
    hooks.clock.advance(seconds=4.9)
    assert hooks.deliver() == 0
    hooks.clock.advance(seconds=0.1)
    assert hooks.deliver() == 1  # 5 s after: 503
    hooks.clock.advance(minutes=5)
    assert hooks.deliver() == 1  # 5 min after: no answer in time
    hooks.clock.advance(minutes=30)
    assert hooks.deliver() == 3  # 30 min after: answered, and the rest follows at once

    assert hooks.receiver.seqs("/flaky") == [1, 1, 1, 1, 2, 3]
    first = hooks.service.deliveries(OPERATOR, hook, limit=10)[0][-1]
    assert (first.seq, first.status, first.attempts) == (1, SUCCEEDED, 4)
    attempts = hooks.service.delivery(OPERATOR, hook, first.id).attempts
    assert [a.status_code for a in attempts] == [500, 503, None, 204]
    assert attempts[2].error == "no answer within 0.3 s"
    assert hooks.service.subscription(OPERATOR, hook).failing_since is None


def test_a_delivery_is_given_up_after_its_last_attempt_and_the_next_one_goes(
    hooks: Hooks,
) -> None:
    hook = hooks.subscribe(OPERATOR, "down", events=("run.progress",))
    hooks.import_people(4)  # two chunks: seq 1 progress (seq 2 completes: not asked for)
    hooks.import_people(4, name="q")
    hooks.receiver.default = 500
    metrics.reset()
    metrics.enable()
    try:
        for delay in (timedelta(0), *policy.RETRY_DELAYS):
            hooks.clock.advance(seconds=delay.total_seconds())
            hooks.deliver()
        scraped = metrics.exposition()[0].decode()
    finally:
        metrics.reset()
    items, _ = hooks.service.deliveries(OPERATOR, hook)
    assert sorted((d.status, d.attempts) for d in items) == [(FAILED, 8), (FAILED, 8)]
    assert len(hooks.receiver.messages("/down")) == 2 * policy.MAX_ATTEMPTS
    counted = {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
        if sample.name == "jobport_webhook_deliveries_total"
    }
    assert counted == {"retrying": 14.0, "given_up": 2.0}


def test_replay_one_delivery_or_a_run_since_a_seq(hooks: Hooks) -> None:
    before = hooks.import_people(7, name="old")  # recorded before the subscription
    hook = hooks.subscribe(ALICE, "replays", events=EVERY_EVENT)
    run_id = hooks.import_people(7)
    hooks.deliver()
    second = next(d for d in hooks.service.deliveries(ALICE, hook)[0] if d.seq == 2)

    replayed = hooks.service.replay(ALICE, hook, second.id)
    assert (replayed.status, replayed.attempts) == (PENDING, 0)
    hooks.deliver()
    assert hooks.receiver.seqs("/replays") == [1, 2, 3, 2]
    got = hooks.receiver.messages("/replays")
    assert got[-1].headers["webhook-id"] == got[1].headers["webhook-id"]  # the same message
    assert got[-1].error is None

    assert hooks.service.replay_since(ALICE, hook, run_id, 2) == 2
    hooks.deliver()
    assert hooks.receiver.seqs("/replays")[4:] == [2, 3]
    # A run from before the subscription: its events become deliveries when asked for.
    assert hooks.service.replay_since(ALICE, hook, before, 0) == 3
    hooks.deliver()
    got = hooks.receiver.messages("/replays")
    assert [r.seq for r in got if body_of(r)["data"]["run_id"] == before] == [1, 2, 3]


def test_a_subscription_failing_for_a_day_is_paused_and_resumes_with_its_backlog(
    hooks: Hooks,
) -> None:
    hook = hooks.subscribe(OPERATOR, "dead")
    hooks.import_people(4)
    hooks.receiver.default = 500
    hooks.deliver()
    elapsed = timedelta(0)
    for delay in policy.RETRY_DELAYS:
        if hooks.service.subscription(OPERATOR, hook).paused:
            break
        hooks.clock.advance(seconds=delay.total_seconds())
        elapsed += delay
        hooks.deliver()
    paused = hooks.service.subscription(OPERATOR, hook)
    assert paused.paused, paused
    assert elapsed >= timedelta(hours=24)
    assert paused.paused_reason is not None
    assert "failed for 24 h" in paused.paused_reason
    assert "HTTP 500" in paused.paused_reason

    # Paused: new events are recorded but not sent.
    hooks.receiver.default = 204
    hooks.import_people(4, name="q")
    sent = len(hooks.receiver.messages("/dead"))
    hooks.clock.advance(hours=1)
    assert hooks.deliver() == 0
    assert len(hooks.receiver.messages("/dead")) == sent

    resumed = hooks.service.resume(OPERATOR, hook)
    assert not resumed.paused
    assert resumed.failing_since is None
    assert hooks.deliver() == 1  # the new run's message; the first was given up
    assert hooks.receiver.messages("/dead")[-1].error is None


def test_a_subscription_hears_only_of_runs_its_owner_may_see_and_of_its_types(
    hooks: Hooks,
) -> None:
    hooks.subscribe(ALICE, "alice")
    hooks.subscribe(BOB, "bob")
    hooks.subscribe(ADMIN, "admin")
    hooks.subscribe(ADMIN, "other-type", types=("people-shout",))
    hooks.subscribe(ADMIN, "progress-only", events=("run.progress",))
    alices = hooks.import_people(4, owner="alice")
    bobs = hooks.import_people(4, owner="bob", name="b")

    hooks.deliver()

    def runs(path: str) -> list[str]:
        return [body_of(r)["data"]["run_id"] for r in hooks.receiver.messages(path)]

    assert runs("/alice") == [alices]
    assert runs("/bob") == [bobs]
    assert sorted(runs("/admin")) == sorted([alices, bobs])
    assert runs("/other-type") == []
    assert [r.message["type"] for r in hooks.receiver.messages("/progress-only") if r.message] == [
        "run.progress",
        "run.progress",
    ]


def test_the_answer_is_kept_short_and_a_redirect_is_a_failure(hooks: Hooks) -> None:
    hook = hooks.subscribe(OPERATOR, "answers")
    hooks.import_people(1, name="a")
    hooks.import_people(1, name="b")
    hooks.receiver.answer((200, b"x" * 10_000, {}), (302, b"", {"location": "http://1.2.3.4/"}))

    hooks.deliver()
    by_code = {d.status_code: d for d in hooks.service.deliveries(OPERATOR, hook)[0]}
    assert by_code[200].response_body == "x" * 1024
    assert by_code[200].status == SUCCEEDED
    assert by_code[302].status == PENDING  # to be tried again; the redirect was not followed
    assert len(hooks.receiver.messages("/answers")) == 2


def test_private_addresses_are_refused_when_sending_too(make_hooks: MakeHooks) -> None:
    """A URL accepted once (private allowed then) is refused when connecting, if not now."""
    allowed = make_hooks()
    hook = allowed.subscribe(OPERATOR, "inside")
    allowed.import_people(1)
    strict = Deliverer(
        allowed.deliverer.store,
        allowed.engine.settings.model_copy(update={"webhooks_allow_private": False}),
        clock=allowed.clock,
    )
    try:
        assert strict.run_once() == 1
    finally:
        strict.stop()
    assert allowed.receiver.messages() == []
    failed = allowed.service.deliveries(OPERATOR, hook)[0][0]
    assert failed.error is not None
    assert "127.0.0.1 is a loopback address" in failed.error


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_two_processes_send_each_message_once_in_order(
    make_hooks: MakeHooks, database: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_schema_url") if database == "postgres" else None
    hooks = make_hooks(**({"database_url": url} if url else {}))
    hooks.subscribe(OPERATOR, "shared", events=EVERY_EVENT)
    for n in range(4):
        hooks.import_people(7, name=f"r{n}")
    other = Deliverer(hooks.deliverer.store, hooks.engine.settings, clock=hooks.clock)
    go = threading.Barrier(2)

    def work(deliverer: Deliverer) -> None:
        go.wait()
        deliverer.run_once()

    threads = [threading.Thread(target=work, args=(d,)) for d in (hooks.deliverer, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    other.stop()
    got = hooks.receiver.messages("/shared")
    ids = [r.headers["webhook-id"] for r in got]
    assert len(ids) == len(set(ids)) == 12
    for run in {body_of(r)["data"]["run_id"] for r in got}:
        assert [r.seq for r in got if body_of(r)["data"]["run_id"] == run] == [1, 2, 3]


def test_the_schedule_waits_longer_each_time_then_gives_up() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    waits = [policy.retry_at(n, now) for n in range(1, policy.MAX_ATTEMPTS + 1)]
    assert waits[-1] is None
    delays = [at - now for at in waits[:-1] if at is not None]
    assert delays == sorted(delays)
    assert delays[0] == timedelta(seconds=5)
    assert delays[-1] == timedelta(hours=10)
    assert timedelta(hours=27) < sum(delays, timedelta(0)) < timedelta(hours=28)


def test_the_supervisors_sweep_runs_the_delivery_thread_until_it_stops(
    make_hooks: MakeHooks,
) -> None:
    hooks = make_hooks(webhooks_poll_seconds=0.02)
    hooks.subscribe(OPERATOR, "live")
    supervisor = hooks.engine.supervisor
    supervisor.sweep()
    assert supervisor.webhooks.running
    run_id = hooks.import_people(4)

    deadline = time.monotonic() + 20
    while not hooks.receiver.messages("/live") and time.monotonic() < deadline:
        time.sleep(0.02)
    got = hooks.receiver.messages("/live")
    assert [(r.error, body_of(r)["data"]["run_id"]) for r in got] == [(None, run_id)]
    supervisor.stop()
    assert not supervisor.webhooks.running
