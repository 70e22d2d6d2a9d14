"""Exactly-once commits: a repeated delivery and a stale lease holder change nothing.

These drive the store and the worker in one process, to control exactly who
holds what: the fencing token (the attempt count) is what makes a late or
repeated commit harmless, whatever the executor does.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from jobport.engine import Jobport
from jobport.errors import LeaseLost
from jobport.kinds import ChunkTask, kind_for
from jobport.store import ChunkOutcome, Claim, RunRecord
from jobport.store.jobstore import utcnow
from jobport.worker import run_chunk

from .conftest import Place, write_items

ROWS = 450  # 5 chunks, the last one short


def snapshot(place: Place, engine: Jobport, run_id: str) -> dict[str, Any]:
    """Everything a commit could change."""
    run = engine.run(run_id)
    return {
        "items": place.table("items", "id", "name", "qty"),
        "failures": place.failure_lines(run_id),
        "counters": (run.status, run.processed, run.failed, run.chunks_done, run.seq),
        "chunks": [(c["no"], c["status"], c["processed"]) for c in place.chunks(run_id)],
        "events": [e.seq for e in engine.store.events_since(run_id, 0)],
    }


def outcome_of(engine: Jobport, run: RunRecord, claim: Claim) -> ChunkOutcome:
    """What a worker holding ``claim`` would commit (the kind's real work)."""
    job_type = engine.registry.get(run.type)
    return kind_for(run.kind).run_chunk(
        ChunkTask(job_type, engine.run(run.id), claim.no, claim.spec, engine.files, engine.database)
    )


@pytest.fixture
def planned(place: Place) -> tuple[Jobport, RunRecord]:
    path = place.folder / "items.csv"
    write_items(path, ROWS)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("451,no-qty,\n")  # a row that fails validation, in the last chunk
    engine = place.jobport()
    return engine, place.planned(engine, "items", path)


def test_a_stale_lease_holder_committing_late_changes_nothing(
    place: Place, planned: tuple[Jobport, RunRecord]
) -> None:
    engine, run = planned
    store = engine.store
    slow = store.claim_chunk(run.id, 0, "slow-worker", 30)
    assert isinstance(slow, Claim)
    late_outcome = outcome_of(engine, run, slow)
    # The slow worker's lease runs out (it stopped renewing: paused, cut off).
    requeued, _ = store.requeue_expired(now=utcnow() + timedelta(seconds=60))
    assert requeued == [(run.id, 0)]
    fresh = store.claim_chunk(run.id, 0, "fresh-worker", 30)
    assert isinstance(fresh, Claim)
    assert fresh.token == slow.token + 1

    # Late, while the fresh worker holds the chunk: rejected, nothing changes.
    before = snapshot(place, engine, run.id)
    with pytest.raises(LeaseLost, match=f"no longer held by attempt {slow.token}"):
        store.commit_chunk(slow, late_outcome, in_order=True)
    assert not store.renew_lease(slow, 30)
    assert store.fail_attempt(slow, "late failure", backoff_seconds=0) == (None, None)
    assert snapshot(place, engine, run.id) == before

    store.commit_chunk(fresh, outcome_of(engine, run, fresh), in_order=True)
    committed = snapshot(place, engine, run.id)
    assert committed["counters"][1:4] == (100, 0, 1)

    # Later still, after the fresh commit: rejected again, nothing changes.
    with pytest.raises(LeaseLost):
        store.commit_chunk(slow, late_outcome, in_order=True)
    assert snapshot(place, engine, run.id) == committed


def test_the_same_chunk_delivered_twice_commits_once(
    place: Place, planned: tuple[Jobport, RunRecord]
) -> None:
    engine, run = planned
    ctx = engine.worker_context()
    assert run_chunk(ctx, run.id, 0).detail == ""
    once = snapshot(place, engine, run.id)
    again = run_chunk(ctx, run.id, 0)
    assert (again.retry_in, again.detail) == (None, "chunk is done")
    assert snapshot(place, engine, run.id) == once

    for no in range(1, run.chunks_total):
        run_chunk(ctx, run.id, no)
    finished = snapshot(place, engine, run.id)
    assert finished["counters"][:4] == ("completed_with_errors", ROWS + 1, 1, 5)
    # Every chunk delivered again once the run is over: nothing moves.
    for no in range(run.chunks_total):
        assert run_chunk(ctx, run.id, no).detail in (
            "chunk is done",
            "run is completed_with_errors",
        )
    assert snapshot(place, engine, run.id) == finished
    assert place.failure_lines(run.id) == [ROWS + 2]  # recorded once, with its line


def test_simultaneous_deliveries_of_one_chunk_commit_it_once(
    place: Place, planned: tuple[Jobport, RunRecord]
) -> None:
    engine, run = planned
    results: list[str] = []
    start = threading.Barrier(4)

    def deliver(n: int) -> None:
        ctx = engine.worker_context(owner=f"thread-{n}")
        start.wait()
        results.append(run_chunk(ctx, run.id, 0).detail)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("") == 1, results
    chunk = place.chunks(run.id)[0]
    assert (chunk["status"], chunk["attempts"]) == ("done", 1)
    assert [row[0] for row in place.table("items", "id")] == list(range(1, 101))
    assert engine.run(run.id).processed == 100


def test_replayed_commits_never_push_progress_past_the_total(
    place: Place, planned: tuple[Jobport, RunRecord]
) -> None:
    engine, run = planned
    store = engine.store
    seen = []
    for no in range(run.chunks_total):
        claim = store.claim_chunk(run.id, no, "w", 30)
        assert isinstance(claim, Claim)
        outcome = outcome_of(engine, run, claim)
        store.commit_chunk(claim, outcome, in_order=True)
        for _ in range(3):  # the same commit replayed: refused each time
            try:
                replayed = store.commit_chunk(claim, outcome, in_order=True)
            except LeaseLost:
                continue
            assert replayed is None  # the run is over: set aside, nothing written
        current = engine.run(run.id)
        seen.append((current.processed, current.failed))
    assert seen == sorted(seen)
    assert seen[-1] == (ROWS + 1, 1)
    assert all(processed <= ROWS + 1 for processed, _ in seen)
