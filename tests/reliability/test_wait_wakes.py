"""A caller waiting for its run on the local pool hears of its end at once.

``Jobport.wait`` polls the run; between polls it waits for the pool's next
delivery to end rather than for the poll's interval, so the command that
waits (``jobport import``) exits as soon as the last chunk commits.
"""

from __future__ import annotations

import pytest

from .conftest import Place, write_items

ROWS = 1_000  # 10 chunks of 100


@pytest.mark.timeout(60)
def test_waiting_wakes_when_the_pool_finishes_the_run_not_at_the_next_poll(place: Place) -> None:
    """With a poll of 10 minutes, only a wake-up by the pool's deliveries ends the wait
    before the test's timeout (it slept the whole poll before)."""
    write_items(place.folder / "items.csv", ROWS)
    engine = place.jobport(executor="local")
    engine.executor.wait_ready()  # so the pool, not this thread, runs the chunks
    run = engine.import_file("items", place.folder / "items.csv")
    done = engine.wait(run.id, poll_seconds=600)
    assert (done.status, done.processed) == ("completed", ROWS)
    assert len(place.table("items", "id", "name")) == ROWS
