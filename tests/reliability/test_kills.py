"""Workers killed for real in a 200,000-row import; a whole embedded process killed too.

After recovery the target table must hold exactly the file's valid rows (by
key and content), each invalid row must be recorded once, and every progress
the run ever showed must have moved forward only, never past the total.
"""

from __future__ import annotations

import os

import pytest

from jobport.store import JobStore

from .conftest import HOST, Customers, Place, ProgressSampler, assert_monotonic, wait_until

LEASE = 2.0
#: Rows past this id hang the worker that reads them (chunk 20 on): it is then
#: certainly in the middle of a chunk, lease held and renewed, when it is killed.
HANG_AFTER = "40000"


def assert_exact_outcome(place: Place, run_id: str, data: Customers) -> None:
    run = place.run(run_id)
    assert run["status"] == "completed_with_errors"
    assert run["total"] == run["processed"] == data.rows
    assert run["failed"] == len(data.invalid_lines)
    assert run["chunks_done"] == run["chunks_total"]
    # Exactly the valid rows, each once, each with its own content.
    assert place.table("customers", "count(*)", "count(DISTINCT id)") == [
        (len(data.valid), len(data.valid))
    ]
    assert dict(place.table("customers", "id", "email")) == data.valid
    # Each invalid row recorded once, with its line.
    assert place.failure_lines(run_id) == sorted(data.invalid_lines)
    chunks = place.chunks(run_id)
    assert {c["status"] for c in chunks} == {"done"}
    assert sum(c["processed"] for c in chunks) == data.rows


def assert_progress_only_forward(
    store: JobStore, run_id: str, sampled: list[tuple[int, int]], total: int
) -> None:
    """Both the record of every commit (the run's events) and what a poller saw."""
    events = store.events_since(run_id, 0)
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs)), "events out of order or repeated"
    assert_monotonic([(e.processed, e.failed) for e in events], total)
    assert events[-1].name == "JobCompleted"
    assert_monotonic(sampled, total)
    assert sampled[-1] == (events[-1].processed, events[-1].failed)


@pytest.mark.timeout(240)
def test_workers_killed_mid_chunk_then_recovered_exactly(
    place: Place, big_customers: Customers
) -> None:
    engine = place.jobport()
    run = place.planned(engine, "customers", big_customers.path)
    assert run.chunks_total == 100
    timing = {"lease_seconds": LEASE, "sweep_seconds": 0.2}
    with ProgressSampler(place, run.id) as sampler:
        a = place.driver(run.id, extra_env={"RELIABILITY_HANG_AFTER_ID": HANG_AFTER}, **timing)
        b = place.driver(run.id, **timing)
        a_owner, b_owner = f"{HOST}:{a.pid}", f"{HOST}:{b.pid}"
        wait_until(
            lambda: [no for no in place.held_by(run.id, a_owner) if no >= 20],
            timeout=120,
            what="worker A to be inside a chunk past row 40,000",
        )
        wait_until(lambda: place.held_by(run.id, b_owner), timeout=60, what="B to hold a chunk")
        place.kill(a)
        place.kill(b)

        chunks = place.chunks(run.id)
        killed = [c["no"] for c in chunks if c["status"] == "running"]
        done_before = sum(c["status"] == "done" for c in chunks)
        assert killed, "the killed workers held no chunk"
        assert {c["lease_owner"] for c in chunks if c["status"] == "running"} <= {
            a_owner,
            b_owner,
        }
        assert 10 <= done_before < run.chunks_total

        # Recovery: fresh workers, whose sweepers take back the dead workers' chunks.
        fresh = [place.driver(run.id, **timing), place.driver(run.id, **timing)]
        place.wait_finished(run.id, timeout=150)
        for worker in fresh:
            assert worker.wait(timeout=60) == 0
            assert "Traceback" not in place.stderr(worker)

    assert_exact_outcome(place, run.id, big_customers)
    after = {c["no"]: c for c in place.chunks(run.id)}
    for no in killed:
        assert after[no]["attempts"] >= 2, after[no]
        assert after[no]["errors"] >= 1, after[no]
    assert_progress_only_forward(engine.store, run.id, sampler.seen, big_customers.rows)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("how", ["recover on start-up", "jobport resume"])
def test_a_killed_embedded_process_is_recovered(
    place: Place, mid_customers: Customers, how: str
) -> None:
    """``jobport import`` killed with its pool; a new process adopts the run, or resumes it."""
    data = mid_customers
    place.jobport().close()  # the state tables exist before the CLI's run is looked for
    cli = place.spawn(
        ["-m", "jobport.cli", "import", "customers", str(data.path), "--json"],
        extra_env={"RELIABILITY_HANG_AFTER_ID": HANG_AFTER},
        executor="local",
        lease_seconds=LEASE,
    )
    run_id = wait_until(
        lambda: (runs := place.table("job_runs", "id")) and runs[0][0],
        timeout=60,
        what="the CLI to start its run",
    )
    with ProgressSampler(place, run_id) as sampler:
        # Both pool workers end up inside chunks past row 40,000; all before are done.
        wait_until(
            lambda: (
                [c["status"] for c in place.chunks(run_id)][:22] == ["done"] * 20 + ["running"] * 2
            ),
            timeout=120,
            what="the CLI's pool to work up to row 40,000",
        )
        place.kill(cli)  # the CLI and its pool workers, all at once
        interrupted = place.run(run_id)
        assert interrupted["status"] == "running"
        assert interrupted["dispatcher"] == f"{HOST}:{cli.pid}"

        if how == "jobport resume":
            resumed = place.cli("resume", run_id, "--json", executor="local", lease_seconds=LEASE)
            assert resumed.returncode == 0, resumed.stderr
            assert "Traceback" not in resumed.stderr
        else:
            recovered = place.jobport(executor="local", lease_seconds=LEASE, recover=True)
            assert place.run(run_id)["dispatcher"] == f"{HOST}:{os.getpid()}"
            place.wait_finished(run_id, timeout=150)
            recovered.close()

    assert_exact_outcome(place, run_id, data)
    chunks = place.chunks(run_id)
    for chunk in chunks[20:22]:
        assert (chunk["attempts"], chunk["errors"]) == (2, 1), chunk
    assert all(c["attempts"] == 1 for c in chunks[:20])  # done before the kill: never redone
    assert_progress_only_forward(place.jobport().store, run_id, sampler.seen, data.rows)
