"""The scale-out pieces on their own, without brokers or databases: the Celery app
factory and routing, redelivery decisions, the Redis publisher's channels and
payload, storage options, S3 storage on a local server (moto), COPY text.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest

from jobport import Jobport, JobRegistry, JobType, Settings
from jobport.errors import ConfigurationError, MissingExtraError
from jobport.events import JobEvent
from jobport.events_redis import (
    EVENTS_CHANNEL,
    RedisPublisher,
    broadcast_filter,
    run_channel,
)
from jobport.executors.celery import (
    TASK_NAME,
    CeleryExecutor,
    QueueRouter,
    WorkerRuntime,
    create_app,
)
from jobport.files import FileStore, storage_options
from jobport.kinds import Importer
from jobport.targets.pgcopy import copy_text
from jobport.worker import ChunkResult

from .conftest import S3Server


def registry_with(**queues: str | None) -> JobRegistry:
    from pydantic import BaseModel

    class Row(BaseModel):
        id: int

    registry = JobRegistry()
    for name, queue in queues.items():
        registry.add(
            JobType(
                type=name, label=name, kind="import", handler=Importer(row=Row, key="id"),
                queue=queue,
            )
        )  # fmt: skip
    return registry


def test_routing_precedence() -> None:
    settings = Settings(
        celery_queue="default",
        type_queues={"pinned": "by-setting"},
        kind_queues={"import": "imports", "export": "exports"},
    )
    router = QueueRouter(settings, registry_with(pinned="own", owned="own", plain=None))
    assert router.queue_for("pinned", "import") == "by-setting"  # settings win over code
    assert router.queue_for("owned", "import") == "own"
    assert router.queue_for("plain", "import") == "imports"
    assert router.queue_for("plain", "sync") == "default"
    assert router.queue_for("unknown", "export") == "exports"
    assert router.queues() == ["default", "own", "by-setting", "imports", "exports"]


def test_celery_app_settings() -> None:
    app = create_app(Settings(broker_url="memory://", celery_queue="q1", lease_seconds=8))
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_default_queue == "q1"
    assert conf.broker_transport_options["visibility_timeout"] == 600.0
    task = app.tasks[TASK_NAME]
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True
    assert any(step.__name__ == "Sweeper" for step in app.steps["worker"])
    assert app.jobport_runtime.sweep_seconds == 4.0


def test_celery_needs_a_broker_and_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="JOBPORT_BROKER_URL"):
        create_app(Settings())
    monkeypatch.setitem(sys.modules, "celery", None)
    with pytest.raises(MissingExtraError, match=r"jobport\[celery\]"):
        create_app(Settings(broker_url="memory://"))


def test_engine_builds_the_celery_executor_and_redis_publisher(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 's.db'}",
        storage_url=str(tmp_path / "files"),
        executor="celery",
        broker_url="memory://",
        redis_url="redis://127.0.0.1:1/0",  # never contacted unless an event is published
    )
    with Jobport(settings, registry=registry_with(plain=None)) as engine:
        assert isinstance(engine.executor, CeleryExecutor)
        assert any(isinstance(x, RedisPublisher) for x in engine.bus._listeners)


class FakeApp:
    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[Any, ...], str]] = []

    class _Connection:
        def __enter__(self) -> FakeApp._Connection:
            return self

        def __exit__(self, *args: object) -> None:
            return None

    def connection_for_write(self) -> FakeApp._Connection:
        return self._Connection()

    def send_task(self, name: str, *, args: tuple[Any, ...], queue: str, connection: Any) -> None:
        self.sent.append((name, args, queue))

    def close(self) -> None:
        return None


def test_executor_sends_one_task_per_chunk_to_the_run_queue() -> None:
    app = FakeApp()
    executor = CeleryExecutor(app, route=lambda run_id: f"queue-of-{run_id}")
    executor.submit("r1", [0, 1, 2])
    executor.submit("r1", [])
    assert app.sent == [(TASK_NAME, ("r1", no), "queue-of-r1") for no in range(3)]


class FakeRequest:
    retries = 2
    delivery_info: ClassVar[dict[str, str]] = {"routing_key": "the-queue"}


class FakeTask:
    request = FakeRequest()

    def __init__(self) -> None:
        self.later: list[tuple[tuple[Any, ...], float, str]] = []
        self.retried: list[tuple[BaseException, float]] = []

    def apply_async(self, args: tuple[Any, ...], *, countdown: float, queue: str) -> None:
        self.later.append((args, countdown, queue))

    def retry(self, *, exc: BaseException, countdown: float) -> Exception:
        self.retried.append((exc, countdown))
        return RuntimeError("retry")


def test_delivery_redelivers_after_retry_in(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = WorkerRuntime(Settings())
    monkeypatch.setattr(runtime, "context", lambda: object())
    results = iter([ChunkResult(retry_in=1.5), ChunkResult()])
    monkeypatch.setattr("jobport.worker.run_chunk", lambda ctx, run_id, no: next(results))
    task = FakeTask()
    runtime.deliver(task, "r1", 3)
    runtime.deliver(task, "r1", 3)
    assert task.later == [(("r1", 3), 1.5, "the-queue")]


def test_delivery_retries_when_the_store_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = WorkerRuntime(Settings())

    def broken() -> Any:
        raise OSError("connection refused")

    monkeypatch.setattr(runtime, "context", broken)
    task = FakeTask()
    with pytest.raises(RuntimeError, match="retry"):
        runtime.deliver(task, "r1", 0)
    assert [(type(e), delay) for e, delay in task.retried] == [(OSError, 4.0)]


def test_celery_app_module_is_lazy(monkeypatch: pytest.MonkeyPatch) -> None:
    import jobport.executors.celery_app as module

    monkeypatch.setattr(module, "_app", None)
    monkeypatch.setenv("JOBPORT_BROKER_URL", "memory://")
    monkeypatch.setenv("JOBPORT_CELERY_QUEUE", "from-env")
    app = module.app
    assert app is module.get_app()
    assert app.conf.task_default_queue == "from-env"
    with pytest.raises(AttributeError):
        module.nothing  # noqa: B018


# -- Redis publishing -------------------------------------------------------------------------


class FakePipeline:
    def __init__(self, sink: list[tuple[str, str]]) -> None:
        self.sink = sink
        self.pending: list[tuple[str, str]] = []

    def publish(self, channel: str, message: str) -> None:
        self.pending.append((channel, message))

    def execute(self) -> None:
        self.sink.extend(self.pending)


class FakeRedis:
    def __init__(self) -> None:
        self.published: list[tuple[str, str]] = []

    def pipeline(self, transaction: bool) -> FakePipeline:
        return FakePipeline(self.published)

    def close(self) -> None:
        return None


def event(type: str = "customers", name: str = "JobProgressed", seq: int = 3) -> JobEvent:
    return JobEvent(
        name=name,  # type: ignore[arg-type]
        run_id="run-1",
        type=type,
        kind="import",
        status="running",
        total=10,
        processed=5,
        failed=1,
        seq=seq,
        rows_per_second=100.0,
        eta_seconds=0.05,
    )


def test_publisher_channels_and_payload() -> None:
    client = FakeRedis()
    RedisPublisher("redis://unused", client=client)(event())
    assert [channel for channel, _ in client.published] == ["jobport:runs:run-1", EVENTS_CHANNEL]
    assert run_channel("run-1") == "jobport:runs:run-1"
    payloads = [json.loads(message) for _, message in client.published]
    assert payloads[0] == payloads[1]
    committed_at = dt.datetime.fromisoformat(payloads[0].pop("committed_at"))
    assert committed_at.tzinfo is not None
    assert payloads[0] == event().to_dict()


def test_publisher_skips_types_that_do_not_broadcast() -> None:
    client = FakeRedis()
    quiet = {"customers": True, "secret": False}

    def is_broadcast(name: str) -> bool:
        from jobport.errors import UnknownJobType

        if name not in quiet:
            raise UnknownJobType(name, list(quiet))
        return quiet[name]

    publish = RedisPublisher("redis://unused", client=client, should_publish=broadcast_filter(
        is_broadcast
    ))  # fmt: skip
    for type_ in ("customers", "secret", "unknown"):
        publish(event(type=type_))
    assert [json.loads(m)["type"] for c, m in client.published if c == EVENTS_CHANNEL] == [
        "customers",
        "unknown",
    ]


# -- storage ----------------------------------------------------------------------------------


def test_storage_options_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBPORT_STORAGE_OPTIONS", '{"anon": false, "endpoint_url": "http://x"}')
    settings = Settings(
        storage_url="s3://bucket/prefix",
        s3_endpoint_url="http://ignored-because-options-set-it",
        s3_key="AK",
        s3_secret="SK",
        s3_region="eu-west-3",
    )
    assert storage_options(settings) == {
        "anon": False,
        "endpoint_url": "http://x",
        "key": "AK",
        "secret": "SK",
        "client_kwargs": {"region_name": "eu-west-3"},
    }
    local = Settings(storage_url="/tmp/files", s3_key="AK")
    assert storage_options(local) == {"anon": False, "endpoint_url": "http://x"}


def test_missing_s3_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import fsspec

    def no_s3fs(*args: Any, **kwargs: Any) -> Any:
        raise ImportError("Install s3fs to access S3")

    monkeypatch.setattr(fsspec.core, "url_to_fs", no_s3fs)
    with pytest.raises(MissingExtraError, match=r"jobport\[s3\]"):
        FileStore("s3://bucket/files")


def test_file_store_on_s3(s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket()
    settings = Settings(
        storage_url=f"s3://{bucket}/files",
        s3_endpoint_url=s3_server.endpoint_url,
        s3_key=s3_server.key,
        s3_secret=s3_server.secret,
        s3_region=s3_server.region,
    )
    files = FileStore.from_settings(settings)
    key, size = files.put_stream(io.BytesIO(b"id,name\n1,a\n"), extension=".csv")
    assert size == 12
    assert files.exists(key)
    assert files.size(key) == 12
    # Another process (a fresh filesystem instance) sees the same object.
    other = FileStore(settings.storage_url, skip_instance_cache=True, **storage_options(settings))
    with other.open(key) as handle:
        assert handle.read() == b"id,name\n1,a\n"
    other.delete(key)
    files.fs.invalidate_cache()
    assert not files.exists(key)


# -- COPY text --------------------------------------------------------------------------------


def test_copy_text_formats() -> None:
    uid = uuid.UUID(int=1)
    rows = [
        (1, "a\\b\tc\nd\re", Decimal("1.50"), dt.date(2024, 2, 29), True, 0.5, None, uid),
        (2, "\\N", Decimal("-0"), None, False, float("inf"), b"\x00\xff", None),
    ]
    assert copy_text(rows, 8) == (
        "1\ta\\\\b\\tc\\nd\\re\t1.50\t2024-02-29\tt\t0.5\t\\N\t00000000-0000-0000-0000-000000000001\n"
        "2\t\\\\N\t-0\t\\N\tf\tinf\t\\\\x00ff\t\\N\n"
    )
    assert copy_text([(1, dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC))], 2) == (
        "1\t2024-01-02T03:04:05+00:00\n"
    )
    assert copy_text([(1, {"json": True})], 2) is None, "unknown types take the driver path"
    assert copy_text([(1, "nul\x00")], 2) is None
    assert copy_text([(1, "x"), (2, 3)], 2) == "1\tx\n2\t3\n"
