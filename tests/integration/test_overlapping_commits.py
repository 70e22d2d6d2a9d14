"""On PostgreSQL a chunk writes its rows beside the previous chunk's commit, in file order.

Each test holds the run's lock from a connection of its own, so that the
commits it starts stop at a known point, and reads the server's own view of
who waits on whom (``pg_blocking_pids``) before letting them go: nothing here
sleeps to synchronise.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import psycopg.errors
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jobport.errors import LeaseLost
from jobport.store import (
    ChunkOutcome,
    Claim,
    CommitConflict,
    JobStore,
    NewRun,
    NotYourTurn,
    make_engine,
)
from jobport.store.tables import job_chunks, job_runs
from jobport.targets import pgcopy as upsert_module
from jobport.targets.upsert import prepare_upsert
from jobport.worker import _commit

pytestmark = pytest.mark.postgres

targets = sa.MetaData()
labels = sa.Table(
    "overlap_labels",
    targets,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("label", sa.String(50)),
)


@pytest.fixture
def store(postgres_schema_url: str) -> Iterator[JobStore]:
    engine = make_engine(postgres_schema_url)
    try:
        targets.create_all(engine)
        yield JobStore(engine)
    finally:
        engine.dispose()


def two_chunk_run(store: JobStore) -> tuple[str, Claim, Claim]:
    new = NewRun(
        type="labels",
        kind="import",
        strategy="polling",
        broadcast=True,
        owner=None,
        params={},
        max_attempts=3,
        total=4,
    )
    run_id = store.create_run(new, [{"rows": 2}, {"rows": 2}]).id
    first = store.claim_chunk(run_id, 0, "w1", 60)
    second = store.claim_chunk(run_id, 1, "w2", 60)
    assert isinstance(first, Claim)
    assert isinstance(second, Claim)
    return run_id, first, second


def upsert(*rows: tuple[int, str]) -> ChunkOutcome:
    """A chunk outcome writing ``rows`` through the bulk path imports use."""

    def write(conn: Connection) -> None:
        prepare_upsert(conn.dialect, labels, list(rows), ["id", "label"], ["id"])(conn)

    return ChunkOutcome(processed=len(rows), write=write)


def stored(store: JobStore) -> dict[int, str]:
    with store.engine.connect() as conn:
        return {row.id: row.label for row in conn.execute(sa.select(labels))}


class Commit(threading.Thread):
    """``commit_chunk`` on a thread of its own; keeps what it returned or raised."""

    def __init__(self, store: JobStore, claim: Claim, outcome: ChunkOutcome) -> None:
        super().__init__(daemon=True)
        self.store, self.claim, self.outcome = store, claim, outcome
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.store.commit_chunk(self.claim, self.outcome, in_order=True)
        except BaseException as exc:
            self.error = exc


@pytest.fixture(autouse=True)
def fresh_bulk_path() -> None:
    """Each test starts with the direct ``COPY`` (an earlier conflict switches to the merge)."""
    upsert_module._conflicts.clear()


@pytest.fixture
def started() -> Iterator[list[threading.Thread]]:
    """Commit threads a test starts; joined before the schema goes, even after a failure."""
    threads: list[threading.Thread] = []
    yield threads
    for thread in threads:
        thread.join(timeout=60)


@pytest.fixture
def run_lock(
    store: JobStore, started: list[threading.Thread]
) -> Iterator[Callable[[str], tuple[Connection, int]]]:
    """Take a run's row lock from a connection of the test's: commits stop before it."""
    held: list[Connection] = []

    def take(run_id: str) -> tuple[Connection, int]:
        conn = store.engine.connect()
        held.append(conn)
        conn.begin()
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        conn.execute(sa.select(job_runs.c.id).where(job_runs.c.id == run_id).with_for_update())
        return conn, pid

    yield take
    for conn in held:
        conn.close()


def blockers(engine: Engine) -> dict[int, set[int]]:
    """Each waiting backend of the server, with the backends it waits for."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT pid, pg_blocking_pids(pid) FROM pg_stat_activity "
            "WHERE cardinality(pg_blocking_pids(pid)) > 0"
        ).all()
    return {pid: set(blocking) for pid, blocking in rows}


def wait_for(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout} s waiting for {what}")
        pause.wait(0.01)


def waits_on(engine: Engine, holder: int) -> bool:
    return any(holder in waited for waited in blockers(engine).values())


def writes_while_waiting_on_a_waiter_of(engine: Engine, holder: int) -> bool:
    """Some commit is loading its rows and waits on those of a commit that waits on ``holder``.

    Loading means in the bulk path's ``COPY`` or its merge's ``INSERT``. A commit
    merely queued behind another for the run's lock would be waiting on that
    lock (``tuple``), in a ``SELECT ... FOR UPDATE``.
    """
    with engine.connect() as conn:
        loading = conn.exec_driver_sql(
            "SELECT pid, pg_blocking_pids(pid) FROM pg_stat_activity "
            "WHERE wait_event = 'transactionid' "
            "AND (left(query, 5) = 'COPY ' OR left(query, 12) = 'INSERT INTO ')"
        ).all()
    graph = blockers(engine)
    return any(holder in graph.get(middle, set()) for _, waited in loading for middle in waited)


def overlapping(
    store: JobStore,
    held: tuple[Connection, int],
    started: list[threading.Thread],
    earlier: Commit,
    later: Commit,
) -> tuple[Connection, Commit, Commit]:
    """Start two commits while the test holds the run's lock; return once they overlap.

    The earlier one waits on the run's lock; the later one does not queue for
    that lock: it is already writing, and waits on a key the earlier one holds.
    """
    lock, holder = held
    earlier.start()
    started.append(earlier)
    wait_for(lambda: waits_on(store.engine, holder), "the first commit to reach the run's lock")
    later.start()
    started.append(later)
    wait_for(
        lambda: writes_while_waiting_on_a_waiter_of(store.engine, holder),
        "the second commit to wait on the first one's row",
    )
    return lock, earlier, later


def test_a_later_chunk_writes_beside_the_earlier_commit_and_its_value_wins(
    store: JobStore,
    run_lock: Callable[[str], tuple[Connection, int]],
    started: list[threading.Thread],
) -> None:
    run_id, first, second = two_chunk_run(store)
    lock, earlier, later = overlapping(
        store,
        run_lock(run_id),
        started,
        Commit(store, first, upsert((1, "early"), (2, "first only"))),
        Commit(store, second, upsert((1, "late"), (3, "second only"))),
    )
    lock.commit()
    for commit in (earlier, later):
        commit.join(timeout=30)
        assert not commit.is_alive()
        assert commit.error is None, commit.error
    assert stored(store) == {1: "late", 2: "first only", 3: "second only"}
    run = store.get_run(run_id)
    assert (run.status, run.processed, run.chunks_done, run.seq) == ("completed", 4, 2, 2)
    assert [e.name for e in store.events_since(run_id, 0)] == ["JobProgressed", "JobCompleted"]


def test_when_the_earlier_commit_fails_the_later_one_writes_nothing(
    store: JobStore,
    run_lock: Callable[[str], tuple[Connection, int]],
    started: list[threading.Thread],
) -> None:
    run_id, first, second = two_chunk_run(store)
    lock, earlier, later = overlapping(
        store,
        run_lock(run_id),
        started,
        Commit(store, first, upsert((1, "early"))),
        Commit(store, second, upsert((1, "late"), (3, "second only"))),
    )
    # The first chunk's lease is taken over meanwhile: its commit must be refused.
    lock.execute(
        job_chunks.update()
        .where(job_chunks.c.run_id == run_id, job_chunks.c.no == 0)
        .values(attempts=job_chunks.c.attempts + 1)
    )
    lock.commit()
    for commit in (earlier, later):
        commit.join(timeout=30)
        assert not commit.is_alive()
    assert isinstance(earlier.error, LeaseLost)
    assert isinstance(later.error, NotYourTurn)
    assert (later.error.previous, later.error.status) == (0, "running")
    assert stored(store) == {}  # the second chunk's rows went with its rollback
    assert [c["status"] for c in store.chunks(run_id)] == ["running", "running"]
    assert store.get_run(run_id).chunks_done == 0

    # The new holder of the first chunk commits, then the second one: file order.
    store.commit_chunk(dataclasses.replace(first, token=first.token + 1), upsert((1, "early")))
    store.commit_chunk(second, upsert((1, "late"), (3, "second only")), in_order=True)
    assert stored(store) == {1: "late", 3: "second only"}
    assert store.get_run(run_id).status == "completed"


def test_a_lock_cycle_broken_by_the_server_is_committed_again(store: JobStore) -> None:
    """The server fails one commit of a cycle: a conflict, nothing written; the worker retries."""
    run_id, first, _ = two_chunk_run(store)
    plain = upsert((1, "kept"))
    assert plain.write is not None
    broken_once: list[bool] = []

    def deadlocked_once(conn: Connection) -> None:
        assert plain.write is not None
        plain.write(conn)
        if not broken_once:
            broken_once.append(True)
            raise psycopg.errors.DeadlockDetected("deadlock detected")

    outcome = ChunkOutcome(processed=2, write=deadlocked_once)
    with pytest.raises(CommitConflict, match="nothing was written"):
        store.commit_chunk(first, outcome, in_order=True)
    assert stored(store) == {}
    assert store.chunks(run_id)[0]["status"] == "running"

    broken_once.clear()
    worker = SimpleNamespace(store=store)
    heartbeat = SimpleNamespace(lost=False)
    event = _commit(worker, first, outcome, in_order=True, heartbeat=heartbeat)
    assert broken_once == [True]  # it met the conflict, then committed again
    assert event is not None
    assert event.name == "JobProgressed"
    assert stored(store) == {1: "kept"}
    assert store.get_run(run_id).processed == 2
