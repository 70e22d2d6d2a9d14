"""The JobStore on SQLite and PostgreSQL: runs, leases, fenced commits, retries, queries.

Every test runs on both backends. PostgreSQL tests use a schema of their own
(dropped at the end), so they never collide with other test modules.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine
from tests.conftest import migrated_schema

from jobport.errors import LeaseLost, RunNotFound, RunStateError
from jobport.store import (
    ChunkOutcome,
    Claim,
    Failure,
    JobStore,
    NewRun,
    NotYourTurn,
    Refused,
    RunFilter,
    make_engine,
)
from jobport.store.migrations import VERSION_TABLE, alembic_config, current, upgrade
from jobport.store.tables import job_chunks, job_events, job_failures, job_runs, job_users, metadata

probe_metadata = sa.MetaData()
probe = sa.Table(
    "store_probe",
    probe_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("label", sa.String(50)),
)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """The state tables, migrated, on each backend; one database (or schema) per module."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("store") / "state.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        probe_metadata.create_all(engine)
        yield engine
        engine.dispose()
        return
    with migrated_schema(request.getfixturevalue("postgres_url")) as url:
        engine = make_engine(url)
        try:
            probe_metadata.create_all(engine)
            yield engine
        finally:
            engine.dispose()


@pytest.fixture
def store(database: Engine) -> JobStore:
    with database.begin() as conn:
        for table in (job_events, job_failures, job_chunks, job_runs, job_users, probe):
            conn.execute(table.delete())
    return JobStore(database)


def new_run(
    store: JobStore,
    chunks: int = 2,
    *,
    rows: int = 5,
    max_attempts: int = 3,
    **fields: Any,
) -> str:
    values: dict[str, Any] = {
        "type": "things",
        "kind": "import",
        "strategy": "polling",
        "broadcast": True,
        "owner": None,
        "params": {"note": "ünïcode ok"},
        "max_attempts": max_attempts,
        "total": rows * chunks,
    }
    values.update(fields)
    specs = [{"rows": rows, "start": n * 100} for n in range(chunks)]
    return store.create_run(NewRun(**values), specs).id


def claim(store: JobStore, run_id: str, no: int = 0, owner: str = "w1", lease: float = 30) -> Claim:
    result = store.claim_chunk(run_id, no, owner, lease)
    assert isinstance(result, Claim), result
    return result


_probe_ids = itertools.count(1)


def writes(*labels: str) -> Any:
    """A chunk write that inserts one probe row per label."""
    rows = [{"id": next(_probe_ids), "label": label} for label in labels]

    def write(conn: Connection) -> None:
        conn.execute(probe.insert(), rows)

    return write


def probe_labels(store: JobStore) -> set[str]:
    with store.engine.connect() as conn:
        return set(conn.execute(sa.select(probe.c.label)).scalars())


def chunk_row(store: JobStore, run_id: str, no: int) -> dict[str, Any]:
    with store.engine.connect() as conn:
        row = (
            conn.execute(
                sa.select(job_chunks).where(job_chunks.c.run_id == run_id, job_chunks.c.no == no)
            )
            .mappings()
            .one()
        )
    return dict(row)


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


# -- migrations ---------------------------------------------------------------------------------


def test_migrated_schema_matches_the_table_definitions(database: Engine) -> None:
    with database.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        differences = compare_metadata(context, metadata)
    assert [d for d in differences if _not_probe(d)] == []


def _not_probe(difference: Any) -> bool:
    return "store_probe" not in repr(difference)


def test_upgrade_is_idempotent_and_records_the_head(database: Engine) -> None:
    upgrade(database)
    head = ScriptDirectory.from_config(alembic_config(database)).get_current_head()
    assert current(database) == head


# -- creating and reading runs ------------------------------------------------------------------


def test_create_run_queues_it_with_pending_chunks(store: JobStore) -> None:
    run_id = new_run(store, 3, rows=4, owner="ada")
    run = store.get_run(run_id)
    assert run.status == "queued"
    assert (run.total, run.processed, run.failed) == (12, 0, 0)
    assert (run.chunks_total, run.chunks_done, run.seq) == (3, 0, 0)
    assert run.owner == "ada"
    assert run.params == {"note": "ünïcode ok"}
    assert run.created_at.tzinfo is not None
    assert run.started_at is None
    assert [c["status"] for c in store.chunks(run_id)] == ["pending"] * 3
    assert store.pending_chunks(run_id) == [0, 1, 2]
    assert [r.id for r in store.active_runs()] == [run_id]


def test_create_run_without_chunks_completes_at_once(store: JobStore) -> None:
    run_id = new_run(store, 0)
    run = store.get_run(run_id)
    assert run.status == "completed"
    assert run.finished_at is not None
    assert [e.name for e in store.events_since(run_id, 0)] == ["JobCompleted"]


def test_create_run_with_an_error_is_failed(store: JobStore) -> None:
    run = store.create_run(
        NewRun(
            type="t",
            kind="import",
            strategy="polling",
            broadcast=True,
            owner=None,
            params={},
            max_attempts=3,
        ),
        [],
        error="the file is empty",
    )
    assert run.status == "failed"
    assert run.error == "the file is empty"
    events = store.events_since(run.id, 0)
    assert [(e.name, e.error) for e in events] == [("JobFailed", "the file is empty")]


def test_unknown_run_is_run_not_found(store: JobStore) -> None:
    with pytest.raises(RunNotFound, match="no run with id 'nope'"):
        store.get_run("nope")
    assert store.find_run("nope") is None


# -- claims and leases --------------------------------------------------------------------------


def test_claim_takes_a_lease_and_counts_the_attempt(store: JobStore) -> None:
    run_id = new_run(store)
    held = claim(store, run_id, 1, owner="worker-a", lease=30)
    assert (held.run_id, held.no, held.token, held.owner) == (run_id, 1, 1, "worker-a")
    assert held.spec == {"rows": 5, "start": 100}
    assert held.rows == 5
    row = chunk_row(store, run_id, 1)
    assert row["status"] == "running"
    assert row["attempts"] == 1
    assert row["lease_owner"] == "worker-a"
    assert later(25) < row["lease_expires_at"] < later(35)
    run = store.get_run(run_id)
    assert run.status == "running"
    assert run.started_at is not None


def test_a_running_chunk_cannot_be_claimed_again(store: JobStore) -> None:
    run_id = new_run(store)
    claim(store, run_id, 0, owner="w1")
    second = store.claim_chunk(run_id, 0, "w2", 30)
    assert isinstance(second, Refused)
    assert second.reason == "chunk is running"
    assert second.retry_in is None
    assert chunk_row(store, run_id, 0)["lease_owner"] == "w1"


def test_claims_of_missing_things_are_refused(store: JobStore) -> None:
    run_id = new_run(store)
    assert store.claim_chunk("no-such-run", 0, "w", 30) == Refused("run is gone")
    assert store.claim_chunk(run_id, 9, "w", 30) == Refused("no such chunk")


def test_renew_lease_extends_it_only_for_the_holder(store: JobStore) -> None:
    run_id = new_run(store)
    held = claim(store, run_id, lease=5)
    assert store.renew_lease(held, 120)
    assert chunk_row(store, run_id, 0)["lease_expires_at"] > later(100)
    stale = Claim(run_id, 0, held.token + 1, "other", {}, None)
    assert not store.renew_lease(stale, 120)


def test_release_gives_the_chunk_back_without_an_error(store: JobStore) -> None:
    run_id = new_run(store)
    held = claim(store, run_id)
    store.release_chunk(held)
    row = chunk_row(store, run_id, 0)
    assert (row["status"], row["errors"], row["lease_owner"]) == ("pending", 0, None)
    assert claim(store, run_id).token == 2


# -- commits ------------------------------------------------------------------------------------


def test_commit_writes_rows_moves_counters_and_marks_done(store: JobStore) -> None:
    run_id = new_run(store, 2)
    held = claim(store, run_id, 0)
    outcome = ChunkOutcome(
        processed=5,
        failures=[Failure(3, "age: too old", column="age", raw={"age": "999"})],
        write=writes("a", "b"),
    )
    event = store.commit_chunk(held, outcome)
    assert event is not None
    assert (event.name, event.processed, event.failed, event.seq) == ("JobProgressed", 5, 1, 1)
    run = store.get_run(run_id)
    assert (run.status, run.processed, run.failed, run.chunks_done) == ("running", 5, 1, 1)
    assert run.rows_per_second is not None
    assert run.eta_seconds is not None
    assert chunk_row(store, run_id, 0)["status"] == "done"
    assert chunk_row(store, run_id, 0)["lease_owner"] is None
    assert probe_labels(store) == {"a", "b"}

    last = store.commit_chunk(claim(store, run_id, 1), ChunkOutcome(processed=5))
    assert last is not None
    assert (last.name, last.status, last.processed, last.seq) == (
        "JobCompleted",
        "completed_with_errors",
        10,
        2,
    )
    run = store.get_run(run_id)
    assert run.status == "completed_with_errors"
    assert run.finished_at is not None
    assert run.eta_seconds == 0.0


def test_clean_run_completes(store: JobStore) -> None:
    run_id = new_run(store, 1)
    store.commit_chunk(claim(store, run_id), ChunkOutcome(processed=5))
    assert store.get_run(run_id).status == "completed"


def test_processed_never_passes_the_total(store: JobStore) -> None:
    run_id = new_run(store, 1, rows=5)
    store.commit_chunk(claim(store, run_id), ChunkOutcome(processed=7))
    run = store.get_run(run_id)
    assert run.processed == run.total == 5


def test_stale_token_commit_raises_lease_lost_and_changes_nothing(store: JobStore) -> None:
    run_id = new_run(store, 2)
    first = claim(store, run_id, 0, owner="slow", lease=30)
    requeued, _ = store.requeue_expired(now=later(60))  # the slow worker's lease runs out
    assert requeued == [(run_id, 0)]
    second = claim(store, run_id, 0, owner="fast")
    assert second.token == first.token + 1
    before = store.get_run(run_id)

    with pytest.raises(LeaseLost, match=f"no longer held by attempt {first.token}"):
        store.commit_chunk(
            first, ChunkOutcome(processed=5, failures=[Failure(2, "x")], write=writes("stale"))
        )

    after = store.get_run(run_id)
    assert (after.processed, after.failed, after.chunks_done, after.seq) == (
        before.processed,
        before.failed,
        before.chunks_done,
        before.seq,
    )
    assert probe_labels(store) == set()
    assert store.list_failures(run_id) == ([], 0)
    assert chunk_row(store, run_id, 0)["status"] == "running"
    assert chunk_row(store, run_id, 0)["lease_owner"] == "fast"

    store.commit_chunk(second, ChunkOutcome(processed=5, write=writes("fresh")))
    assert probe_labels(store) == {"fresh"}
    assert store.get_run(run_id).processed == 5


def test_a_repeated_commit_is_rejected(store: JobStore) -> None:
    run_id = new_run(store, 2)
    held = claim(store, run_id, 0)
    store.commit_chunk(held, ChunkOutcome(processed=5, write=writes("once")))
    with pytest.raises(LeaseLost):
        store.commit_chunk(held, ChunkOutcome(processed=5, write=writes("twice")))
    run = store.get_run(run_id)
    assert (run.processed, run.chunks_done, run.seq) == (5, 1, 1)
    assert probe_labels(store) == {"once"}


def test_a_repeated_commit_after_the_run_finished_changes_nothing(store: JobStore) -> None:
    run_id = new_run(store, 1)
    held = claim(store, run_id, 0)
    store.commit_chunk(held, ChunkOutcome(processed=5))
    assert store.commit_chunk(held, ChunkOutcome(processed=5, write=writes("late"))) is None
    run = store.get_run(run_id)
    assert (run.status, run.processed, run.chunks_done, run.seq) == ("completed", 5, 1, 1)
    assert probe_labels(store) == set()
    assert chunk_row(store, run_id, 0)["status"] == "done"


def test_in_order_commit_waits_for_the_previous_chunk(store: JobStore) -> None:
    run_id = new_run(store, 2)
    first, second = claim(store, run_id, 0), claim(store, run_id, 1)
    with pytest.raises(NotYourTurn) as turn:
        store.commit_chunk(second, ChunkOutcome(processed=5, write=writes("early")), in_order=True)
    assert (turn.value.previous, turn.value.status) == (0, "running")
    assert probe_labels(store) == set()
    assert store.get_run(run_id).chunks_done == 0
    store.commit_chunk(first, ChunkOutcome(processed=5), in_order=True)
    store.commit_chunk(second, ChunkOutcome(processed=5, write=writes("later")), in_order=True)
    assert store.get_run(run_id).status == "completed"
    assert probe_labels(store) == {"later"}


def test_a_failing_write_rolls_back_the_whole_commit(store: JobStore) -> None:
    run_id = new_run(store, 2)
    held = claim(store, run_id, 0)

    def broken(conn: Connection) -> None:
        writes("partial")(conn)
        raise RuntimeError("target database said no")

    with pytest.raises(RuntimeError, match="said no"):
        store.commit_chunk(
            held, ChunkOutcome(processed=5, failures=[Failure(2, "x")], write=broken)
        )
    assert probe_labels(store) == set()
    assert store.list_failures(run_id)[1] == 0
    assert chunk_row(store, run_id, 0)["status"] == "running"
    assert store.get_run(run_id).processed == 0


# -- failed attempts and expired leases ---------------------------------------------------------


def test_fail_attempt_retries_with_backoff_then_fails_the_run(store: JobStore) -> None:
    run_id = new_run(store, 2, max_attempts=2)
    held = claim(store, run_id, 0)
    delay, event = store.fail_attempt(held, "ValueError: boom", backoff_seconds=30)
    assert (delay, event) == (30, None)
    row = chunk_row(store, run_id, 0)
    assert (row["status"], row["errors"], row["error"]) == ("pending", 1, "ValueError: boom")
    backing_off = store.claim_chunk(run_id, 0, "w", 30)
    assert isinstance(backing_off, Refused)
    assert backing_off.reason == "backing off"
    assert backing_off.retry_in is not None
    assert 0 < backing_off.retry_in <= 30

    with store.engine.begin() as conn:  # the backoff has passed
        conn.execute(
            job_chunks.update()
            .where(job_chunks.c.run_id == run_id)
            .values(available_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    again = claim(store, run_id, 0)
    assert again.token == 2
    delay, event = store.fail_attempt(again, "ValueError: boom again", backoff_seconds=30)
    assert delay is None
    assert event is not None
    assert event.name == "JobFailed"
    run = store.get_run(run_id)
    assert run.status == "failed"
    assert run.error == "chunk 0 failed after 2 attempt(s): ValueError: boom again"
    assert run.finished_at is not None
    assert chunk_row(store, run_id, 0)["status"] == "failed"
    assert store.claim_chunk(run_id, 1, "w", 30) == Refused("run is failed")


def test_fail_attempt_from_a_stale_claim_is_ignored(store: JobStore) -> None:
    run_id = new_run(store, 1)
    held = claim(store, run_id)
    stale = Claim(run_id, 0, held.token + 5, "ghost", {}, None)
    assert store.fail_attempt(stale, "boom", backoff_seconds=0) == (None, None)
    assert chunk_row(store, run_id, 0)["errors"] == 0


def test_requeue_expired_puts_back_lost_chunks(store: JobStore) -> None:
    run_id = new_run(store, 2)
    claim(store, run_id, 0, lease=30)
    claim(store, run_id, 1, lease=300)
    assert store.requeue_expired() == ([], [])
    requeued, events = store.requeue_expired(now=later(60))
    assert (requeued, events) == ([(run_id, 0)], [])
    row = chunk_row(store, run_id, 0)
    assert (row["status"], row["errors"], row["lease_owner"]) == ("pending", 1, None)
    assert "lease expired" in row["error"]
    assert chunk_row(store, run_id, 1)["status"] == "running"


def test_requeue_expired_fails_a_chunk_out_of_attempts(store: JobStore) -> None:
    run_id = new_run(store, 2, max_attempts=1)
    claim(store, run_id, 0, owner="doomed")
    requeued, events = store.requeue_expired(now=later(60))
    assert requeued == []
    assert [(e.name, e.status) for e in events] == [("JobFailed", "failed")]
    run = store.get_run(run_id)
    assert run.status == "failed"
    assert run.error is not None
    assert "worker doomed was lost" in run.error


# -- user actions -------------------------------------------------------------------------------


def test_cancel_stops_pending_chunks_and_keeps_committed_rows(store: JobStore) -> None:
    run_id = new_run(store, 3)
    store.commit_chunk(claim(store, run_id, 0), ChunkOutcome(processed=5, write=writes("kept")))
    running = claim(store, run_id, 1)
    run, event = store.cancel_run(run_id)
    assert run.status == "cancelled"
    assert run.error == "cancelled by user"
    assert run.processed == 5
    assert event is not None
    assert (event.name, event.status) == ("JobFailed", "cancelled")
    assert [c["status"] for c in store.chunks(run_id)] == ["done", "running", "cancelled"]
    assert store.claim_chunk(run_id, 2, "w", 30) == Refused("run is cancelled")
    # The chunk that was running when the run was cancelled commits nothing.
    assert store.commit_chunk(running, ChunkOutcome(processed=5, write=writes("dropped"))) is None
    assert chunk_row(store, run_id, 1)["status"] == "cancelled"
    assert probe_labels(store) == {"kept"}
    assert store.get_run(run_id).processed == 5
    with pytest.raises(RunStateError, match="already cancelled; nothing to cancel"):
        store.cancel_run(run_id)
    with pytest.raises(RunNotFound):
        store.cancel_run("nope")


def test_resume_reopens_unfinished_chunks(store: JobStore) -> None:
    run_id = new_run(store, 3)
    store.commit_chunk(claim(store, run_id, 0), ChunkOutcome(processed=5))
    store.cancel_run(run_id)
    assert store.reopen_chunks(run_id, only_failed=False) == [1, 2]
    run = store.get_run(run_id)
    assert run.status == "running"
    assert run.finished_at is None
    assert run.error is None
    for no in (1, 2):
        store.commit_chunk(claim(store, run_id, no), ChunkOutcome(processed=5))
    run = store.get_run(run_id)
    assert (run.status, run.processed, run.chunks_done) == ("completed", 15, 3)


def test_retry_reopens_only_failed_chunks(store: JobStore) -> None:
    run_id = new_run(store, 3, max_attempts=1)
    store.commit_chunk(claim(store, run_id, 0), ChunkOutcome(processed=5))
    store.fail_attempt(claim(store, run_id, 1), "boom", backoff_seconds=0)
    assert store.get_run(run_id).status == "failed"
    assert store.reopen_chunks(run_id, only_failed=True) == [1, 2]  # 2 never started: pending
    assert [c["status"] for c in store.chunks(run_id)] == ["done", "pending", "pending"]
    assert chunk_row(store, run_id, 1)["errors"] == 0
    assert store.get_run(run_id).status == "running"


def test_retry_without_failed_chunks_is_refused(store: JobStore) -> None:
    run_id = new_run(store, 2)
    store.cancel_run(run_id)
    with pytest.raises(RunStateError, match="no failed chunks to retry; use resume"):
        store.reopen_chunks(run_id, only_failed=True)


@pytest.mark.parametrize("only_failed", [False, True])
def test_a_completed_run_cannot_be_resumed_or_retried(store: JobStore, only_failed: bool) -> None:
    run_id = new_run(store, 1)
    store.commit_chunk(claim(store, run_id), ChunkOutcome(processed=5))
    action = "retry" if only_failed else "resume"
    with pytest.raises(RunStateError, match=f"is completed; there is nothing to {action}"):
        store.reopen_chunks(run_id, only_failed=only_failed)
    with pytest.raises(RunNotFound):
        store.reopen_chunks("nope", only_failed=only_failed)


# -- queries ------------------------------------------------------------------------------------


def test_list_runs_newest_first_with_filters_and_pages(store: JobStore) -> None:
    ids = [
        new_run(store, 1, type="alpha", owner="ada"),
        new_run(store, 1, type="beta", owner="bob"),
        new_run(store, 0, type="alpha", owner="ada"),  # completed at once
        new_run(store, 1, type="alpha", kind="export", owner="bob"),
        new_run(store, 1, type="beta", owner="ada"),
    ]
    newest_first = ids[::-1]
    runs, count = store.list_runs()
    assert [r.id for r in runs] == newest_first
    assert count == 5
    runs, count = store.list_runs(limit=2, offset=1)
    assert [r.id for r in runs] == newest_first[1:3]
    assert count == 5
    assert [r.id for r in store.list_runs(RunFilter(type="alpha"))[0]] == [ids[3], ids[2], ids[0]]
    assert [r.id for r in store.list_runs(RunFilter(status="completed"))[0]] == [ids[2]]
    assert [r.id for r in store.list_runs(RunFilter(kind="export"))[0]] == [ids[3]]
    assert [r.id for r in store.list_runs(RunFilter(owner="bob"))[0]] == [ids[3], ids[1]]
    both = RunFilter(type="beta", owner="ada")
    assert store.list_runs(both)[0][0].id == ids[4]
    assert store.list_runs(both)[1] == 1
    runs, count = store.list_runs(RunFilter(since=later(60)))
    assert (runs, count) == ([], 0)
    assert store.list_runs(RunFilter(until=later(60)))[1] == 5


def test_retried_by_links_children_to_the_original(store: JobStore) -> None:
    original = new_run(store, 1)
    child = new_run(store, 1, retry_of=original)
    assert store.get_run(original).retried_by == (child,)
    assert store.get_run(child).retry_of == original
    assert store.get_run(child).retried_by == ()


def test_list_and_iter_failures_in_line_order(store: JobStore) -> None:
    run_id = new_run(store, 2)
    store.commit_chunk(
        claim(store, run_id, 0),
        ChunkOutcome(
            processed=5,
            failures=[
                Failure(
                    5,
                    "age: too old",
                    column="age",
                    errors=[{"column": "age"}],
                    raw={"age": "999", "name": "Zoë"},
                ),
                Failure(2, "name: is required", column="name", raw={"name": ""}),
            ],
        ),
    )
    store.commit_chunk(
        claim(store, run_id, 1),
        ChunkOutcome(processed=5, failures=[Failure(9, "bad"), Failure(7, "worse")]),
    )
    items, count = store.list_failures(run_id)
    assert count == 4
    assert [(f["line"], f["chunk_no"]) for f in items] == [(2, 0), (5, 0), (7, 1), (9, 1)]
    assert items[1]["raw"] == {"age": "999", "name": "Zoë"}
    assert items[1]["errors"] == [{"column": "age"}]
    assert items[1]["column"] == "age"
    page, count = store.list_failures(run_id, limit=2, offset=2)
    assert [f["line"] for f in page] == [7, 9]
    assert count == 4
    assert [f["line"] for f in store.iter_failures(run_id, batch=3)] == [2, 5, 7, 9]
    assert [f["message"] for f in store.iter_failures(run_id, batch=1)] == [
        "name: is required",
        "age: too old",
        "worse",
        "bad",
    ]
    assert list(store.iter_failures(new_run(store, 1))) == []


def test_iter_failures_pages_through_many_rows(store: JobStore) -> None:
    run_id = new_run(store, 1, rows=2_500)
    failures = [Failure(line, f"row {line}") for line in range(2_501, 1, -1)]
    store.commit_chunk(claim(store, run_id), ChunkOutcome(processed=2_500, failures=failures))
    lines = [f["line"] for f in store.iter_failures(run_id, batch=700)]
    assert lines == list(range(2, 2_502))
    assert store.get_run(run_id).failed == 2_500


def test_events_since(store: JobStore) -> None:
    run_id = new_run(store, 3)
    for no in range(3):
        store.commit_chunk(claim(store, run_id, no), ChunkOutcome(processed=5))
    events = store.events_since(run_id, 0)
    assert [(e.name, e.seq, e.processed) for e in events] == [
        ("JobProgressed", 1, 5),
        ("JobProgressed", 2, 10),
        ("JobCompleted", 3, 15),
    ]
    assert [e.seq for e in store.events_since(run_id, 2)] == [3]
    assert store.events_since(run_id, 3) == []
    assert store.latest_event_id() > 0
    tail = store.outbox_after(0)
    assert [event.seq for _, event, _ in tail if event.run_id == run_id] == [1, 2, 3]


def test_events_of_quiet_and_private_types(store: JobStore) -> None:
    quiet = new_run(store, 2, strategy="none")
    private = new_run(store, 2, broadcast=False)
    for run_id in (quiet, private):
        for no in range(2):
            store.commit_chunk(claim(store, run_id, no), ChunkOutcome(processed=5))
    assert [e.name for e in store.events_since(quiet, 0)] == ["JobCompleted"]
    assert store.events_since(private, 0) == []
    assert store.get_run(private).status == "completed"


def test_a_failing_chunk_does_not_turn_a_cancelled_run_into_a_failed_one(store: JobStore) -> None:
    run_id = new_run(store, 2)
    held = claim(store, run_id, 0)
    store.cancel_run(run_id)
    delay, event = store.fail_attempt(held, "ValueError: boom", backoff_seconds=0)
    assert delay is None
    assert event is None
    run = store.get_run(run_id)
    assert (run.status, run.error) == ("cancelled", "cancelled by user")
    assert [e.status for e in store.events_since(run_id, 0)] == ["cancelled"]


def test_list_and_iter_failures_agree_on_rows_without_a_line(store: JobStore) -> None:
    run_id = new_run(store, 1)
    failures = [Failure(4, "four"), Failure(None, "whole chunk"), Failure(2, "two")]
    store.commit_chunk(claim(store, run_id), ChunkOutcome(processed=5, failures=failures))
    listed = [f["message"] for f in store.list_failures(run_id)[0]]
    iterated = [f["message"] for f in store.iter_failures(run_id)]
    assert sorted(listed) == sorted(iterated) == ["four", "two", "whole chunk"]
    assert listed == iterated


# -- a whole import with PostgreSQL as the state and target database ---------------------------


@pytest.mark.postgres
def test_import_on_postgresql(postgres_schema_url: str, tmp_path: Path) -> None:
    from decimal import Decimal

    from jobport import Jobport, Settings
    from jobport.demo import customers
    from jobport.demo.data import COLUMNS, generate, write_csv

    path = tmp_path / "customers.csv"
    invalid = write_csv(path, 400, dirty=0.1, seed=9)
    generated = list(generate(400, dirty=0.1, seed=9))
    good = {
        int(r.values[0]): dict(zip(COLUMNS, r.values, strict=True))
        for r in generated
        if not r.defect
    }
    settings = Settings(
        database_url=postgres_schema_url,
        storage_url=str(tmp_path / "files"),
        executor="inline",
        app="jobport.demo",
    )
    with Jobport(settings) as engine:
        run = engine.import_file("customers", path)
        assert (run.status, run.processed, run.failed) == ("completed_with_errors", 400, invalid)
        failures = {f["line"] for f in engine.store.iter_failures(run.id)}
        assert failures == {r.line for r in generated if r.defect}
        again = engine.import_file("customers", path)  # the same file again: same rows
        assert again.failed == invalid
        with engine.database.connect() as conn:
            stored = {row.id: row for row in conn.execute(sa.select(customers))}
    assert set(stored) == set(good)
    for customer_id in list(good)[:25]:
        values, row = good[customer_id], stored[customer_id]
        assert row.balance == Decimal(values["balance"])
        assert row.signup_date.isoformat() == values["signup_date"]
        assert row.active is (values["active"] in ("true", "1", "yes"))
        assert row.email == values["email"]
