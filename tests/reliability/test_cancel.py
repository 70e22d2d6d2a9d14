"""Cancel in mid-run: no new chunk starts, the running one stops at its boundary, rows stay.

A chunk is the unit of a commit, so "its next batch boundary" is the end of
the chunk: a chunk running when the run is cancelled commits nothing (it is
set aside as cancelled and done again on resume); every chunk committed
before the cancel stays, counted.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from jobport.store.tables import job_chunks

from .app import ITEM_CHUNK
from .conftest import Place, wait_until, write_items

ROWS = 3_000  # 30 chunks
GATE_ID = 1_050  # chunk 10 stops at its gate until the test opens it
GATE_NO = (GATE_ID - 1) // ITEM_CHUNK


@pytest.mark.timeout(180)
def test_cancel_in_mid_run_then_resume(place: Place) -> None:
    path = place.folder / "items.csv"
    names = write_items(path, ROWS, names={GATE_ID: "GATE"})
    engine = place.jobport(executor="local")
    run = engine.import_file("items", path)
    wait_until((place.flags / "gate-reached").exists, timeout=120, what="a worker inside chunk 10")

    cancelled = place.cli("cancel", run.id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"run {run.id} cancelled after" in cancelled.stdout
    at_cancel = place.run(run.id)
    assert at_cancel["status"] == "cancelled"
    (place.flags / "gate-open").touch()

    # The chunks still running reach their boundary and stop there.
    wait_until(
        lambda: not [c for c in place.chunks(run.id) if c["status"] in ("running", "pending")],
        timeout=60,
        what="the running chunks to stop",
    )
    engine.close()  # the pool is gone: nothing can change any more
    chunks = place.chunks(run.id)
    done = [c for c in chunks if c["status"] == "done"]
    assert {c["status"] for c in chunks} == {"done", "cancelled"}
    assert chunks[GATE_NO]["status"] == "cancelled"
    assert [c["no"] for c in done] == list(range(len(done)))  # in-order commits
    assert len(done) >= GATE_NO
    final = place.run(run.id)
    assert final["status"] == "cancelled"
    assert (final["processed"], final["failed"]) == (at_cancel["processed"], 0)
    assert final["processed"] == sum(c["processed"] for c in done) == len(done) * ITEM_CHUNK
    # Exactly the committed chunks' rows; nothing of the chunk stopped at its gate.
    ids = [row[0] for row in place.table("items", "id")]
    assert ids == list(range(1, len(done) * ITEM_CHUNK + 1))
    # No chunk started after the cancel.
    started = place.query(
        sa.select(sa.func.max(job_chunks.c.started_at)).where(job_chunks.c.run_id == run.id)
    )[0][0]
    assert started <= at_cancel["finished_at"]

    # Resume continues from the unfinished chunks; the committed ones are not redone.
    resumed = place.cli("resume", run.id, executor="local")
    assert resumed.returncode == 0, resumed.stderr
    after = place.run(run.id)
    assert (after["status"], after["processed"], after["failed"]) == ("completed", ROWS, 0)
    assert dict(place.table("items", "id", "name")) == names
    again = place.chunks(run.id)
    assert all(again[c["no"]]["attempts"] == c["attempts"] for c in done)


def test_a_finished_run_cannot_be_cancelled(place: Place) -> None:
    path = place.folder / "items.csv"
    write_items(path, 50)
    run = place.jobport().import_file("items", path)
    result = place.cli("cancel", run.id)
    assert result.returncode == 1
    assert f"run {run.id} is already completed; nothing to cancel" in result.stderr
