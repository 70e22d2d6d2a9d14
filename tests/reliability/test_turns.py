"""In-order commits never stall the pool when an earlier chunk is retried.

Chunks of an import commit in file order (so the later of two rows with the
same key wins). When chunk 1 fails once and backs off, the chunks after it
that the pool's workers already hold must not sit waiting for it: waiting
workers would leave no worker for chunk 1's retry.
"""

from __future__ import annotations

import time

import pytest

from .conftest import Place, write_items

ROWS = 4_000  # 40 chunks of 100
FLAKY_ID = 150  # chunk 1


def file_with_a_flaky_chunk(place: Place) -> dict[int, str]:
    path = place.folder / "items.csv"
    names = write_items(path, ROWS, names={FLAKY_ID: "FLAKY"})
    with open(path, "a", encoding="utf-8") as handle:
        # The same key again in chunk 2: being later in the file, it must win.
        handle.write(f"{FLAKY_ID},later-wins,1\n")
    names[FLAKY_ID] = "later-wins"
    return names


def assert_completed_in_order(place: Place, run_id: str, names: dict[int, str]) -> None:
    run = place.run(run_id)
    assert (run["status"], run["processed"], run["failed"]) == ("completed", ROWS + 1, 0)
    assert dict(place.table("items", "id", "name")) == names
    flaky = place.chunks(run_id)[1]
    assert flaky["errors"] == 1
    assert flaky["attempts"] >= 2
    assert (place.flags / f"flaky-{FLAKY_ID}").exists()


@pytest.mark.timeout(120)
def test_a_chunk_failing_once_on_the_process_pool_does_not_stall_the_rest(place: Place) -> None:
    """The chunks that gave chunk 1 their turn go again as soon as it commits.

    Each hand-back doubles a chunk's wait (up to 5 s), so before the pool woke
    them, the 38 later chunks waited out their timers one after another: 48 to
    62 s for this run, which takes about 1.5 s. The bound is loose on purpose:
    it tells a stall from a slow machine.
    """
    names = file_with_a_flaky_chunk(place)
    engine = place.jobport(executor="local", retry_backoff_seconds=0.5)
    started = time.monotonic()
    run = engine.import_file("items", place.folder / "items.csv")
    place.wait_finished(run.id, timeout=20)
    elapsed = time.monotonic() - started
    assert_completed_in_order(place, run.id, names)
    print(f"40 chunks, one retried, on 2 workers: {elapsed:.1f} s")


def test_a_chunk_failing_once_inline(place: Place) -> None:
    names = file_with_a_flaky_chunk(place)
    engine = place.jobport(retry_backoff_seconds=0.2)
    run = engine.import_file("items", place.folder / "items.csv")
    assert_completed_in_order(place, run.id, names)
