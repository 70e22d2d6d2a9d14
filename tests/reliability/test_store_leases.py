"""The store operations recovery relies on, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from tests.conftest import migrated_schema

from jobport.store import (
    ChunkOutcome,
    Claim,
    CommitConflict,
    JobStore,
    NewRun,
    NotYourTurn,
    make_engine,
)
from jobport.store.jobstore import utcnow
from jobport.store.migrations import upgrade
from jobport.store.tables import job_chunks, job_events, job_failures, job_runs


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('leases') / 'state.db'}")
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


@pytest.fixture
def store(database: Engine) -> JobStore:
    with database.begin() as conn:
        for table in (job_events, job_failures, job_chunks, job_runs):
            conn.execute(table.delete())
    return JobStore(database)


def new_run(store: JobStore, chunks: int, *, max_attempts: int = 3) -> str:
    new = NewRun(
        type="things",
        kind="import",
        strategy="polling",
        broadcast=True,
        owner=None,
        params={},
        max_attempts=max_attempts,
        total=5 * chunks,
    )
    return store.create_run(new, [{"rows": 5}] * chunks).id


def claim(store: JobStore, run_id: str, no: int, owner: str) -> Claim:
    held = store.claim_chunk(run_id, no, owner, 30)
    assert isinstance(held, Claim), held
    return held


def chunk(store: JobStore, run_id: str, no: int) -> dict[str, Any]:
    return store.chunks(run_id)[no]


def test_lose_leases_blames_only_the_workers_that_died(store: JobStore) -> None:
    run_id = new_run(store, 5)
    claim(store, run_id, 0, "host:9/2/101")  # died on its own
    claim(store, run_id, 1, "host:9/2/102")  # stopped by its broken pool
    claim(store, run_id, 2, "host:9/2/103")  # no exit code known: the pool's reason
    claim(store, run_id, 3, "host:9/3/101")  # a later pool of the same parent: alive
    claim(store, run_id, 4, "host:90/2/101")  # another process whose name shares a prefix

    reclaimed = store.lose_leases(
        {
            "host:9/2/": "its worker process was lost",
            "host:9/2/101": "its worker process died while running it (exit code 1)",
            "host:9/2/102": None,
        }
    )

    assert sorted(reclaimed.requeued) == [(run_id, 0), (run_id, 1), (run_id, 2)]
    assert (reclaimed.events, reclaimed.charged) == ([], 2)
    rows = store.chunks(run_id)
    assert [(c["status"], c["errors"]) for c in rows] == [
        ("pending", 1),
        ("pending", 0),
        ("pending", 1),
        ("running", 0),
        ("running", 0),
    ]
    assert rows[0]["error"] == "its worker process died while running it (exit code 1)"
    assert rows[2]["error"] == "its worker process was lost"


def test_a_dispatcher_name_covers_its_own_workers_only(store: JobStore) -> None:
    run_id = new_run(store, 3)
    claim(store, run_id, 0, "host:42")  # the process itself (inline executor)
    claim(store, run_id, 1, "host:42/1/7")  # one of its pool workers
    claim(store, run_id, 2, "host:420/1/7")  # someone else
    reclaimed = store.lose_leases({"host:42": "the process running it (host:42) died"})
    assert sorted(reclaimed.requeued) == [(run_id, 0), (run_id, 1)]
    assert chunk(store, run_id, 2)["status"] == "running"


def test_lose_leases_fails_a_chunk_out_of_attempts_and_its_run(store: JobStore) -> None:
    run_id = new_run(store, 2, max_attempts=1)
    claim(store, run_id, 1, "host:9/1/5")
    reclaimed = store.lose_leases({"host:9/1/5": "its worker process was killed by SIGSEGV"})
    assert reclaimed.requeued == []
    assert [(e.name, e.status) for e in reclaimed.events] == [("JobFailed", "failed")]
    run = store.get_run(run_id)
    assert (
        run.error == "chunk 1 failed after 1 attempt(s): its worker process was killed by SIGSEGV"
    )
    assert chunk(store, run_id, 1)["status"] == "failed"


def test_a_stopped_runs_chunk_is_set_aside_not_failed(store: JobStore) -> None:
    run_id = new_run(store, 3, max_attempts=1)
    claim(store, run_id, 0, "w-lost")
    claim(store, run_id, 1, "w-dead")
    store.cancel_run(run_id)
    requeued, events = store.requeue_expired(now=utcnow() + timedelta(seconds=60))
    assert (requeued, events) == ([], [])
    reclaimed = store.lose_leases({"w-dead": "died"})
    assert (reclaimed.requeued, reclaimed.events, reclaimed.charged) == ([], [], 0)
    assert [c["status"] for c in store.chunks(run_id)] == ["cancelled"] * 3
    assert [c["errors"] for c in store.chunks(run_id)] == [0, 0, 0]
    run = store.get_run(run_id)
    assert (run.status, run.error) == ("cancelled", "cancelled by user")
    # All three come back on resume.
    assert store.reopen_chunks(run_id, only_failed=False) == [0, 1, 2]


def test_an_in_order_commit_learns_how_long_the_previous_chunk_backs_off(
    store: JobStore,
) -> None:
    run_id = new_run(store, 3)
    first = claim(store, run_id, 0, "w1")
    delay, _ = store.fail_attempt(first, "boom", backoff_seconds=30)
    assert delay == 30
    second = claim(store, run_id, 1, "w2")
    # The claim already says so: the worker need not spend the chunk's work.
    assert second.backoff_before is not None
    assert second.backoff_before[0] == 0
    assert 25 < second.backoff_before[1] <= 30
    with pytest.raises(NotYourTurn) as turn:
        store.commit_chunk(second, ChunkOutcome(processed=5), in_order=True)
    assert turn.value.status == "pending"
    assert turn.value.retry_in is not None
    assert 25 < turn.value.retry_in <= 30
    store.release_chunk(second)
    assert chunk(store, run_id, 1)["errors"] == 0  # giving a chunk back is not an error


def test_requeue_expired_sweeps_only_the_given_types(store: JobStore) -> None:
    run_id = new_run(store, 1)
    claim(store, run_id, 0, "ghost")
    later = utcnow() + timedelta(seconds=60)
    assert store.requeue_expired(now=later, types=["other"]) == ([], [])
    assert store.requeue_expired(now=later, types=["things"]) == ([(run_id, 0)], [])


def test_a_claim_carries_the_run_as_it_left_it(store: JobStore) -> None:
    run_id = new_run(store, 2)
    assert store.get_run(run_id).status == "queued"
    first = claim(store, run_id, 0, "w1")
    assert first.run is not None
    assert first.backoff_before is None
    # The first claim starts the run: the record says so, as a read would.
    read = store.get_run(run_id)
    assert (first.run.status, first.run.started_at) == ("running", read.started_at)
    assert first.run == replace(read, retried_by=())
    second = claim(store, run_id, 1, "w2")
    assert second.run is not None
    assert second.run.status == "running"
    assert second.backoff_before is None  # chunk 0 is running, not backing off


def test_a_run_resumed_while_its_chunk_commits_gets_that_chunk_committed(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled during the commit, resumed before the chunk is set aside: commit again.

    On PostgreSQL a chunk's rows are written before the run's lock, so a stop
    seen under the lock rolls them back and a second transaction sets the chunk
    aside; a resume can come in between. SQLite does it all in one transaction.
    """
    run_id = new_run(store, 2)
    held = claim(store, run_id, 0, "w1")
    store.cancel_run(run_id)
    real_write = store._write
    transactions = 0

    @contextlib.contextmanager
    def resume_between_the_two() -> Iterator[Any]:
        nonlocal transactions
        transactions += 1
        if transactions == 2:  # the stop was seen and rolled back: the user resumes now
            assert store.reopen_chunks(run_id, only_failed=False) == [1]
        with real_write() as conn:
            yield conn

    def write_rows(conn: Any) -> None:
        """Stands for a chunk's rows: only its presence makes the early write happen."""

    outcome = ChunkOutcome(processed=5, write=write_rows)
    monkeypatch.setattr(store, "_write", resume_between_the_two)
    if store.engine.dialect.name == "sqlite":
        assert store.commit_chunk(held, outcome, in_order=True) is None
        assert transactions == 1
        assert chunk(store, run_id, 0)["status"] == "cancelled"  # set aside, resumable
        return
    with pytest.raises(CommitConflict, match="resumed"):
        store.commit_chunk(held, outcome, in_order=True)
    monkeypatch.setattr(store, "_write", real_write)
    assert chunk(store, run_id, 0)["status"] == "running"  # still held, not lost

    event = store.commit_chunk(held, outcome, in_order=True)
    assert event is not None
    assert chunk(store, run_id, 0)["status"] == "done"
    assert store.get_run(run_id).processed == 5
