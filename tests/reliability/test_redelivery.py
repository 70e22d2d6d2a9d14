"""Lost deliveries: sent again by the sweeper, never waited for in a busy loop, resumable.

A broker may lose a delivery out of the store's sight (a worker killed while
it had one reserved, a broker restarted without persistence). The chunk then
stays pending: the sweeper sends it again once nobody claimed it within
``redeliver_seconds`` while nothing waits in its queue. Meanwhile the chunks
after it, whose in-order commits wait for it, are given back less and less
often instead of being claimed twice a second. And ``resume`` of such a run
is not refused because the process that started it is still waiting.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

import pytest

from jobport.executors import ExecutorBase
from jobport.worker import MAX_TURN_WAIT_SECONDS, WorkerContext, run_chunk

from .conftest import HOST, Place, wait_until, write_items


class Broker(ExecutorBase):
    """An in-process stand-in for a Celery queue and one worker, that can lose deliveries.

    Deliveries wait in a queue until due (a countdown), then one worker thread
    runs them and sends again those that ask to come back. ``lose`` names
    chunk numbers whose next delivery vanishes on the way.
    """

    counts_backlog = True

    def __init__(self, context: Callable[[], WorkerContext]) -> None:
        self.lose: set[int] = set()
        self.sent: list[tuple[str, int]] = []
        self._context = context
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, str, int]] = []
        self._seq = itertools.count()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="fake-broker", daemon=True)
        self._thread.start()

    def submit(self, run_id: str, chunks: Sequence[int]) -> None:
        for no in chunks:
            self._send(run_id, no, 0.0)

    def backlog(self, run_id: str) -> int:
        """Deliveries due and not yet taken by the worker (those on a countdown are held)."""
        now = time.monotonic()
        with self._cond:
            return sum(1 for due, _, r, _ in self._queue if r == run_id and due <= now)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=30)

    def _send(self, run_id: str, no: int, countdown: float) -> None:
        with self._cond:
            self.sent.append((run_id, no))
            if no in self.lose:
                self.lose.discard(no)
                return
            heapq.heappush(self._queue, (time.monotonic() + countdown, next(self._seq), run_id, no))
            self._cond.notify_all()

    def _work(self) -> None:
        ctx = self._context()
        while True:
            with self._cond:
                while not self._closed and (
                    not self._queue or self._queue[0][0] > time.monotonic()
                ):
                    wait = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._cond.wait(wait)
                if self._closed:
                    return
                _, _, run_id, no = heapq.heappop(self._queue)
            result = run_chunk(ctx, run_id, no)
            if result.retry_in is not None:
                self._send(run_id, no, result.retry_in)


def test_a_lost_delivery_is_sent_again_and_the_run_completes(place: Place) -> None:
    path = place.folder / "items.csv"
    names = write_items(path, 300)  # 3 chunks of 100
    engine = place.jobport(redeliver_seconds=0.3)
    broker = Broker(engine.worker_context)
    engine.executor = engine.dispatcher.executor = broker
    broker.lose.add(0)  # the first chunk's delivery never arrives

    run = engine.import_file("items", path)
    engine.start_sweeper(0.05)
    final = place.wait_finished(run.id, timeout=20)
    broker.close()

    assert (final["status"], final["processed"], final["failed"]) == ("completed", 300, 0)
    assert dict(place.table("items", "id", "name")) == names  # every row, once
    first = place.chunks(run.id)[0]
    assert (first["status"], first["attempts"], first["errors"]) == ("done", 1, 0)
    assert broker.sent.count((run.id, 0)) >= 2, "the lost delivery was sent again"


class Queued(ExecutorBase):
    """A broker that only records what is sent, and says how many deliveries wait."""

    counts_backlog = True

    def __init__(self, waiting: int | None) -> None:
        self.waiting = waiting
        self.sent: list[tuple[str, list[int]]] = []

    def submit(self, run_id: str, chunks: Sequence[int]) -> None:
        self.sent.append((run_id, list(chunks)))

    def backlog(self, run_id: str) -> int | None:
        return self.waiting


def test_nothing_is_sent_again_while_deliveries_wait_in_the_queue(place: Place) -> None:
    path = place.folder / "items.csv"
    write_items(path, 200)
    engine = place.jobport(redeliver_seconds=0.5, redeliver_busy_seconds=300)
    run = place.planned(engine, "items", path)
    broker = Queued(waiting=5)  # the chunks may be among them
    engine.executor = engine.dispatcher.executor = broker

    assert engine.supervisor.sweep() == 0  # starts the chunks' delivery leases
    wait_until(
        lambda: engine.store.overdue_runs(0.5) == [run.id],
        timeout=10,
        what="the delivery leases to run out",
    )
    assert engine.supervisor.sweep() == 0
    assert broker.sent == []

    broker.waiting = 0
    assert engine.supervisor.sweep() == 2
    assert engine.supervisor.sweep() == 0, "once per redelivery deadline, not at every sweep"
    assert broker.sent == [(run.id, [0, 1])]


@pytest.mark.parametrize("waiting", [5, None], ids=["busy-queue", "uncounted"])
def test_a_queue_that_never_empties_still_gets_the_lost_chunks_again(
    place: Place, waiting: int | None
) -> None:
    """A queue shared with other runs may never be empty at a sweep, and a broker may
    not be able to count it: past redeliver_busy_seconds the chunks are sent anyway,
    once per deadline (before, such a run waited for as long as the queue stayed busy)."""
    path = place.folder / "items.csv"
    write_items(path, 200)
    engine = place.jobport(redeliver_seconds=0.2, redeliver_busy_seconds=0.6)
    run = place.planned(engine, "items", path)
    broker = Queued(waiting)
    engine.executor = engine.dispatcher.executor = broker

    assert engine.supervisor.sweep() == 0  # starts the chunks' delivery leases
    wait_until(
        lambda: engine.store.overdue_runs(0.2) == [run.id],
        timeout=10,
        what="the delivery leases to run out",
    )
    wait_until(lambda: engine.supervisor.sweep() == 2, timeout=10, what="the busy deadline")
    assert engine.supervisor.sweep() == 0, "once per redelivery deadline, not at every sweep"
    assert broker.sent == [(run.id, [0, 1])]


def test_a_chunk_waiting_for_a_lost_one_is_not_claimed_over_and_over(place: Place) -> None:
    path = place.folder / "items.csv"
    names = write_items(path, 200)  # 2 chunks
    engine = place.jobport()
    run = place.planned(engine, "items", path)  # chunk 0's delivery is lost: nobody has it
    ctx = engine.worker_context()

    # Chunk 1 is delivered again each time it asks to; its time away is added up
    # instead of slept. A minute of chunk 0 missing must cost a bounded number of claims.
    away, deliveries = 0.0, 0
    while away < 60 and deliveries < 40:
        result = run_chunk(ctx, run.id, 1)
        deliveries += 1
        assert result.retry_in is not None, result.detail
        assert result.retry_in <= MAX_TURN_WAIT_SECONDS
        away += result.retry_in
    assert away >= 60, f"{deliveries} claims of chunk 1 in {away:.2f} s of waiting"
    assert deliveries <= 25
    waiting = place.chunks(run.id)[1]
    assert (waiting["status"], waiting["attempts"], waiting["errors"]) == ("pending", deliveries, 0)

    # Chunk 0 arrives at last: both commit, in order, every row once.
    assert run_chunk(ctx, run.id, 0).retry_in is None
    assert run_chunk(ctx, run.id, 1).retry_in is None
    assert place.run(run.id)["status"] == "completed"
    assert dict(place.table("items", "id", "name")) == names


def test_resume_of_a_run_whose_starting_process_still_waits(place: Place) -> None:
    path = place.folder / "items.csv"
    names = write_items(path, 250)
    engine = place.jobport()
    run = place.planned(engine, "items", path)
    waiting = place.spawn(["-c", "import time; time.sleep(300)"])  # the starting CLI, alive
    engine.store.adopt_run(run.id, f"{HOST}:{waiting.pid}")

    resumed = engine.resume(run.id)

    assert (resumed.status, resumed.processed) == ("completed", 250)
    assert dict(place.table("items", "id", "name")) == names


@pytest.mark.redis
@pytest.mark.timeout(120)
def test_cli_resume_while_the_cli_that_started_the_run_waits(place: Place, redis_url: str) -> None:
    """The starting CLI sent its chunks to a Celery queue nobody reads, and waits."""
    path = place.folder / "items.csv"
    names = write_items(path, 250)
    place.jobport()  # the state tables, before either CLI opens them
    broker = urlunsplit(urlsplit(redis_url)._replace(path="/13"))
    queue = f"jobport-test-{uuid.uuid4().hex[:10]}"
    starter = place.spawn(
        ["-m", "jobport.cli", "import", "items", str(path), "--json"],
        executor="celery",
        broker_url=broker,
        celery_queue=queue,
    )
    run_id = wait_until(
        lambda: _planned_run(place), timeout=60, what="the starting CLI to plan its run"
    )
    assert run_id is not None

    resumed = place.cli("resume", run_id, "--json")

    assert resumed.returncode == 0, resumed.stderr
    assert starter.wait(timeout=60) == 0, place.stderr(starter)
    assert place.run(run_id)["status"] == "completed"
    assert dict(place.table("items", "id", "name")) == names
    _delete_queue(broker, queue)


def _planned_run(place: Place) -> str | None:
    """The id of the run whose chunks are planned, once there is one."""
    import sqlalchemy as sa

    from jobport.store.tables import job_chunks

    rows = place.query(sa.select(job_chunks.c.run_id).distinct())
    return str(rows[0].run_id) if rows else None


def _delete_queue(broker: str, queue: str) -> None:
    import redis

    client = redis.Redis.from_url(broker)
    try:
        keys = list(client.scan_iter(match=f"*{queue}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
