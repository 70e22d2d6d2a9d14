"""Runs executed by Celery workers started as subprocesses, on Redis and on RabbitMQ.

- a full import and then an export of the imported rows, on PostgreSQL, with
  exact counts and the rows read back; on Redis the workers are ``jobport
  worker`` processes sharing S3 storage (moto) and publishing events to Redis
  pub/sub; on RabbitMQ the worker is ``celery -A jobport.executors.celery_app``
  consuming a queue the job type is routed to;
- a worker SIGKILLed while it holds a chunk: the run finishes on the other
  worker with every row exactly once.

Both tests run once on Redis and once on RabbitMQ. Timing is never asserted; every
wait polls the store against a deadline.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from jobport import Jobport, Settings
from jobport.demo import customers
from jobport.demo.data import generate, write_csv
from jobport.dispatch import StartRequest
from jobport.events_redis import EVENTS_CHANNEL, RUN_CHANNEL
from jobport.store.jobstore import event_from_dict
from jobport.store.records import RunRecord
from jobport.store.tables import job_chunks

from .conftest import S3Server, Workers, wait_until, worker_environment

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(240)]

ROWS = 50_000
DIRTY = 0.002
SEED = 7
#: Short leases, so a killed worker's chunk comes back within seconds.
LEASE_SECONDS = "4"
RUN_DEADLINE = 150.0


@pytest.fixture(scope="module")
def customers_csv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("data") / "customers.csv"
    invalid = write_csv(path, ROWS, dirty=DIRTY, seed=SEED)
    return path, invalid


def valid_ids(rows: int = ROWS) -> set[int]:
    return {int(row.values[0]) for row in generate(rows, dirty=DIRTY, seed=SEED) if not row.defect}


def wait_for_run(engine: Jobport, run_id: str, workers: Workers) -> RunRecord:
    def finished() -> RunRecord | None:
        workers.check_alive()
        run = engine.run(run_id)
        return run if run.finished else None

    run: RunRecord = wait_until(finished, timeout=RUN_DEADLINE, what=f"run {run_id} to finish")
    return run


def target_ids(engine: Jobport) -> list[int]:
    with engine.database.connect() as conn:
        return list(conn.execute(sa.select(customers.c.id).order_by(customers.c.id)).scalars())


def export_ids(engine: Jobport, run: RunRecord) -> list[int]:
    assert run.result_key is not None
    with engine.files.open(run.result_key) as handle:
        reader = csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8"))
        return [int(row["id"]) for row in reader]


@pytest.fixture
def storage(request: pytest.FixtureRequest, broker: str, tmp_path: Path) -> dict[str, str]:
    """S3 (moto) on the Redis run, a shared local folder on the RabbitMQ run."""
    if broker.startswith("redis"):
        s3: S3Server = request.getfixturevalue("s3_server")
        bucket = s3.new_bucket()
        return {
            "storage_url": f"s3://{bucket}/files",
            "s3_endpoint_url": s3.endpoint_url,
            "s3_key": s3.key,
            "s3_secret": s3.secret,
            "s3_region": s3.region,
        }
    return {"storage_url": str(tmp_path / "files")}


class EventListener:
    """Collects what workers publish on Redis for the duration of a test."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.pubsub = self.client.pubsub()
        self.pubsub.subscribe(EVENTS_CHANNEL)
        self.pubsub.psubscribe(RUN_CHANNEL.format(run_id="*"))
        # Subscriptions are confirmed before anything is published.
        confirmed = 0
        while confirmed < 2:
            message = self.pubsub.get_message(timeout=5)
            assert message is not None, "Redis did not confirm the subscriptions"
            confirmed += message["type"] in ("subscribe", "psubscribe")
        self.messages: list[tuple[str, dict[str, Any]]] = []

    def drain_until_completed(self, run_id: str) -> None:
        def completed() -> bool:
            while (message := self.pubsub.get_message(timeout=0.2)) is not None:
                if message["type"] in ("message", "pmessage"):
                    self.messages.append((message["channel"].decode(), json.loads(message["data"])))
            return any(
                p["run_id"] == run_id and p["event"] == "JobCompleted"
                for channel, p in self.messages
                if channel == EVENTS_CHANNEL
            )

        wait_until(completed, timeout=30, what="the JobCompleted event on Redis")

    def events(self, channel: str, run_id: str) -> list[dict[str, Any]]:
        return [p for c, p in self.messages if c == channel and p["run_id"] == run_id]

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()


@pytest.fixture
def listener(broker: str, request: pytest.FixtureRequest) -> Iterator[EventListener | None]:
    if not broker.startswith("redis"):
        yield None
        return
    events = EventListener(request.getfixturevalue("redis_url"))
    yield events
    events.close()


def test_import_and_export_through_celery_workers(
    broker: str,
    queue_name: str,
    pg_url: str,
    storage: dict[str, str],
    listener: EventListener | None,
    workers: Workers,
    customers_csv: tuple[Path, int],
    request: pytest.FixtureRequest,
) -> None:
    path, invalid = customers_csv
    on_redis = broker.startswith("redis")
    settings: dict[str, Any] = {
        "database_url": pg_url,
        "app": "jobport.demo",
        "broker_url": broker,
        "celery_queue": queue_name,
        "lease_seconds": LEASE_SECONDS,
        **storage,
    }
    if on_redis:
        settings["redis_url"] = request.getfixturevalue("redis_url")
        env = worker_environment(**settings)
        workers.start("w1", env)
        workers.start("w2", env)
    else:
        # The import type is routed to a queue of its own; the worker consumes only that one.
        routed = f"{queue_name}-routed"
        settings["type_queues"] = json.dumps({"customers": routed})
        env = worker_environment(**settings)
        workers.start(
            "w1",
            env,
            [
                sys.executable, "-m", "celery", "-A", "jobport.executors.celery_app", "worker",
                "--concurrency", "2", "--queues", f"{routed},{queue_name}",
                "--loglevel", "info", "--without-gossip", "--without-mingle",
            ],
        )  # fmt: skip
    client_settings = {**settings, "executor": "celery"}
    if "type_queues" in client_settings:
        client_settings["type_queues"] = json.loads(client_settings["type_queues"])
    with Jobport(Settings(**client_settings)) as engine:
        run = engine.import_file("customers", path)
        run = wait_for_run(engine, run.id, workers)
        assert (run.status, run.processed, run.failed) == ("completed_with_errors", ROWS, invalid)
        assert run.chunks_done == run.chunks_total
        assert target_ids(engine) == sorted(valid_ids())

        export = engine.start(StartRequest(type="customers-export"))
        export = wait_for_run(engine, export.id, workers)
        assert export.status == "completed"
        export = wait_until(
            lambda: (r := engine.run(export.id)).result_key and r,
            timeout=30,
            what="the export's file",
        )
        assert export_ids(engine, export) == sorted(valid_ids())

    if listener is not None:
        listener.drain_until_completed(run.id)
        for channel in (EVENTS_CHANNEL, RUN_CHANNEL.format(run_id=run.id)):
            # Two workers publish after their own commits, so pub/sub may carry their
            # events in either order: ``seq`` orders them (see jobport.events_redis).
            events = sorted(listener.events(channel, run.id), key=lambda e: e["seq"])
            seqs = [e["seq"] for e in events]
            assert len(seqs) == len(set(seqs)), "each event once"
            assert events[-1]["event"] == "JobCompleted"
            assert events[-1]["processed"] == ROWS
            payload = dict(events[-1])
            payload.pop("committed_at")
            assert event_from_dict(payload).run_id == run.id


def test_killed_worker_run_finishes_on_the_other(
    broker: str,
    queue_name: str,
    pg_url: str,
    tmp_path: Path,
    workers: Workers,
    customers_csv: tuple[Path, int],
) -> None:
    path, invalid = customers_csv
    settings: dict[str, Any] = {
        "database_url": pg_url,
        "storage_url": str(tmp_path / "files"),
        "app": "jobport.demo",
        "broker_url": broker,
        "celery_queue": queue_name,
        "lease_seconds": LEASE_SECONDS,
    }
    env = worker_environment(**settings)
    # The victim works alone until it is killed holding a chunk past the first, so the
    # run is certainly mid-way; the survivor, started then, must finish it alone.
    workers.start("victim", env)
    with Jobport(Settings(**settings, executor="celery")) as engine:
        run = engine.import_file("customers", path)

        def victim_holds_a_chunk() -> tuple[int] | None:
            """The number of a chunk (not the first) the victim's pool process is on."""
            workers.check_alive()
            marks = [f":{pid}/" for pid in workers.pool_pids("victim")]
            with engine.database.connect() as conn:
                held = conn.execute(
                    sa.select(job_chunks.c.no, job_chunks.c.lease_owner).where(
                        job_chunks.c.run_id == run.id, job_chunks.c.status == "running"
                    )
                ).all()
            for no, owner in held:
                if no >= 1 and owner and any(mark in owner for mark in marks):
                    return (int(no),)
            return None

        (killed_chunk,) = wait_until(
            victim_holds_a_chunk, timeout=60, what="the victim to hold a chunk", interval=0.02
        )
        workers.kill("victim")
        del workers.processes["victim"]
        assert not engine.run(run.id).finished
        workers.start("survivor", env)

        run = wait_for_run(engine, run.id, workers)
        assert (run.status, run.processed, run.failed) == (
            "completed_with_errors",
            ROWS,
            invalid,
        )
        assert target_ids(engine) == sorted(valid_ids())
        chunks = {c["no"]: c for c in engine.store.chunks(run.id)}
        assert chunks[killed_chunk]["attempts"] >= 2, "the killed chunk ran again"
        assert all(c["status"] == "done" for c in chunks.values())
        assert sum(c["processed"] for c in chunks.values()) == ROWS


def test_a_lost_delivery_is_sent_again_by_the_workers_sweeper(
    broker: str,
    queue_name: str,
    pg_url: str,
    tmp_path: Path,
    workers: Workers,
    customers_csv: tuple[Path, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Chunk 0's delivery never reaches the broker; the worker's sweeper sends it again."""
    path, invalid = customers_csv
    settings: dict[str, Any] = {
        "database_url": pg_url,
        "storage_url": str(tmp_path / "files"),
        "app": "jobport.demo",
        "broker_url": broker,
        "celery_queue": queue_name,
        "lease_seconds": LEASE_SECONDS,
        "redeliver_seconds": "1",
        "sweep_seconds": "0.2",
    }
    with Jobport(Settings(**settings, executor="celery")) as engine:
        send = engine.executor.submit

        def lose_chunk_0(run_id: str, chunks: Sequence[int]) -> None:
            send(run_id, [no for no in chunks if no != 0])

        monkeypatch.setattr(engine.executor, "submit", lose_chunk_0)
        run = engine.import_file("customers", path)
        assert engine.store.chunks(run.id)[0]["status"] == "pending"
        workers.start("w1", worker_environment(**settings))

        run = wait_for_run(engine, run.id, workers)
        assert (run.status, run.processed, run.failed) == ("completed_with_errors", ROWS, invalid)
        assert target_ids(engine) == sorted(valid_ids())
        first = engine.store.chunks(run.id)[0]
        assert (first["status"], first["attempts"], first["errors"]) == ("done", 1, 0)
    assert "were not delivered; sending again" in workers.log("w1")


def test_deliveries_lost_with_the_broker_are_sent_again(
    broker: str,
    queue_name: str,
    pg_url: str,
    tmp_path: Path,
    workers: Workers,
    customers_csv: tuple[Path, int],
) -> None:
    """Every queued delivery vanishes, as with a broker restarted without persistence
    (the run's queue purged on the real broker before any worker took one); the
    worker that comes up later sends them again and the run completes, every row once."""
    path, invalid = customers_csv
    settings: dict[str, Any] = {
        "database_url": pg_url,
        "storage_url": str(tmp_path / "files"),
        "app": "jobport.demo",
        "broker_url": broker,
        "celery_queue": queue_name,
        "lease_seconds": LEASE_SECONDS,
        "redeliver_seconds": "1",
        "sweep_seconds": "0.2",
    }
    with Jobport(Settings(**settings, executor="celery")) as engine:
        run = engine.import_file("customers", path)
        chunks = len(engine.store.chunks(run.id))
        assert engine.executor.backlog(run.id) == chunks, "every delivery waits in the queue"
        with engine.executor.app.connection_for_write() as connection:
            connection.default_channel.queue_purge(queue_name)
        assert engine.executor.backlog(run.id) == 0, "the broker lost them all"
        workers.start("w1", worker_environment(**settings))

        run = wait_for_run(engine, run.id, workers)
        assert (run.status, run.processed, run.failed) == ("completed_with_errors", ROWS, invalid)
        assert target_ids(engine) == sorted(valid_ids())
        assert all(c["attempts"] == 1 for c in engine.store.chunks(run.id))
    assert "were not delivered; sending again" in workers.log("w1")
