"""A chunk that keeps failing ends its run after ``max_attempts``, with the reason; never loops.

On the local process pool, a row that kills its worker process breaks the
whole pool: the parent must re-deliver everything, count the lost attempt
against the poison chunk only (not against the chunks of the workers the
broken pool stopped), and fail the run once the poison chunk is out of
attempts.
"""

from __future__ import annotations

import pytest

from .app import ITEM_CHUNK, MAX_ATTEMPTS
from .conftest import Place, write_items

ROWS = 1_000
POISON_ID = 250  # chunk 2 of 10


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("marker", "death"),
    [
        ("POISON", "its worker process died while running it (exit code 1)"),
        ("SEGV", "its worker process was killed by SIGSEGV while running it"),
    ],
)
def test_a_row_that_kills_its_worker_fails_the_run_after_max_attempts(
    place: Place, marker: str, death: str
) -> None:
    path = place.folder / "items.csv"
    write_items(path, ROWS, names={POISON_ID: marker})
    engine = place.jobport(executor="local")
    run = engine.import_file("items", path)

    place.wait_finished(run.id, timeout=150)

    poison_no = (POISON_ID - 1) // ITEM_CHUNK
    final = engine.run(run.id)
    assert final.status == "failed"
    assert final.error == f"chunk {poison_no} failed after {MAX_ATTEMPTS} attempt(s): {death}"
    chunks = place.chunks(run.id)
    poison = chunks[poison_no]
    assert (poison["status"], poison["errors"], poison["attempts"]) == (
        "failed",
        MAX_ATTEMPTS,
        MAX_ATTEMPTS,
    )
    assert poison["error"] == death
    others = [c for c in chunks if c["no"] != poison_no]
    # Nothing left running; no other chunk blamed for the deaths it only witnessed.
    assert {c["status"] for c in others} <= {"done", "pending"}
    assert all(c["errors"] == 0 for c in others), [(c["no"], c["error"]) for c in others]
    # What committed, committed exactly once: the rows of the done chunks, and only those.
    # (An earlier chunk may still be pending: each death of the pool also stops the
    # chunk beside the poison one, which then starts again, uncharged.)
    ids = [row[0] for row in place.table("items", "id")]
    done = [c for c in chunks if c["status"] == "done"]
    assert len(ids) == len(set(ids)) == sum(c["processed"] for c in done) == final.processed
    expected = {
        i for c in done for i in range(c["no"] * ITEM_CHUNK + 1, (c["no"] + 1) * ITEM_CHUNK + 1)
    }
    assert set(ids) == expected


def test_a_chunk_that_raises_fails_the_run_after_max_attempts_with_the_reason(
    place: Place,
) -> None:
    path = place.folder / "items.csv"
    write_items(path, 500, names={250: "BROKEN"})
    engine = place.jobport()
    run = engine.import_file("items", path)  # inline: returns when nothing is left to try

    final = engine.run(run.id)
    assert final.status == "failed"
    assert final.error == (
        f"chunk 2 failed after {MAX_ATTEMPTS} attempt(s): "
        "RuntimeError: row 250 is broken until healed"
    )
    chunks = place.chunks(run.id)
    assert (chunks[2]["status"], chunks[2]["attempts"]) == ("failed", MAX_ATTEMPTS)
    assert [c["status"] for c in chunks] == ["done", "done", "failed", "pending", "pending"]
    assert final.processed == 200
