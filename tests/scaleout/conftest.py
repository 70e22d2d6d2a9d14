"""Scale-out fixtures: a fresh PostgreSQL database per test, Celery workers as
subprocesses, a private broker queue per test, and a local S3 server (moto).

Service checks come from the shared ``postgres_url`` / ``redis_url`` /
``rabbitmq_url`` fixtures: a service that is down skips the test with the
reason, or fails it when ``CI=true``.

Nothing here sleeps to synchronise: tests poll the store (or a process)
against a deadline with :func:`wait_until`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa

from jobport.store import make_engine
from jobport.store.migrations import upgrade

ROOT = Path(__file__).resolve().parents[2]
#: The Redis database the Celery tests use as broker, apart from other tests' keys.
BROKER_REDIS_DB = int(os.environ.get("JOBPORT_TEST_BROKER_REDIS_DB", "13"))


def wait_until(
    predicate: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.1
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# -- PostgreSQL -------------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_database(server_url: str, *, migrated: bool) -> Iterator[str]:
    """A database of its own on the server of ``server_url``, dropped afterwards."""
    name = f"jobport_scaleout_{uuid.uuid4().hex[:12]}"
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    if migrated:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    """A fresh, migrated database of its own (dropped after the test)."""
    with scratch_database(postgres_url, migrated=True) as url:
        yield url


@pytest.fixture
def empty_pg_url(postgres_url: str) -> Iterator[str]:
    """A fresh database without any table (dropped after the test)."""
    with scratch_database(postgres_url, migrated=False) as url:
        yield url


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


# -- brokers ----------------------------------------------------------------------------------


def broker_on_redis(redis_url: str) -> str:
    parts = urlsplit(redis_url)
    return urlunsplit(parts._replace(path=f"/{BROKER_REDIS_DB}"))


@pytest.fixture(params=["redis", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker(request: pytest.FixtureRequest) -> str:
    """Each Celery test runs once on Redis and once on RabbitMQ."""
    if request.param == "redis":
        request.applymarker(pytest.mark.redis)
        return broker_on_redis(request.getfixturevalue("redis_url"))
    return str(request.getfixturevalue("rabbitmq_url"))


@pytest.fixture
def queue_name(broker: str) -> Iterator[str]:
    """A queue of this test only, so no stray message of another test is consumed.

    Deleted from the broker after the test (with any ``<name>-*`` routed queues).
    """
    name = f"jobport-test-{uuid.uuid4().hex[:10]}"
    yield name
    delete_queues(broker, [name, f"{name}-routed"])


def delete_queues(broker_url: str, names: list[str]) -> None:
    """Remove the test's queues from the broker (RabbitMQ keeps declared queues).

    On Redis, also forget the deliveries a killed worker left unacknowledged
    on those queues, so no later worker restores them into a queue nobody reads.
    """
    from kombu import Connection

    with contextlib.suppress(Exception), Connection(broker_url, connect_timeout=3) as conn:
        channel = conn.default_channel
        for name in names:
            with contextlib.suppress(Exception):
                channel.queue_delete(name)
    if broker_url.startswith("redis"):
        import redis

        client = redis.Redis.from_url(broker_url)
        with contextlib.suppress(Exception):
            for name in names:  # the queue's lists (one per priority) and bindings
                keys = list(client.scan_iter(match=f"*{name}*"))
                if keys:
                    client.delete(*keys)
            for tag, raw in client.hgetall("unacked").items():
                with contextlib.suppress(ValueError, IndexError, TypeError):
                    if json.loads(raw)[2] in names:
                        client.hdel("unacked", tag)
                        client.zrem("unacked_index", tag)
        client.close()


# -- worker subprocesses ----------------------------------------------------------------------


@dataclass
class Workers:
    """Celery worker processes started by a test; all are killed at teardown."""

    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, env: dict[str, str], command: list[str] | None = None) -> int:
        """Start a worker in its own process group; returns its pid."""
        argv = command or [
            str(Path(sys.executable).parent / "jobport"),
            "worker",
            "--concurrency",
            "1",
            "--loglevel",
            "info",
            "--hostname",
            f"{name}@%h",
        ]
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.processes[name] = process
        return process.pid

    def kill(self, name: str) -> None:
        """SIGKILL the worker and its pool processes at once, as a lost machine would."""
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def pool_pids(self, name: str) -> set[int]:
        import psutil

        try:
            return {c.pid for c in psutil.Process(self.processes[name].pid).children(True)}
        except psutil.Error:
            return set()

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                pytest.fail(f"worker {name} exited with {process.returncode}:\n{self.log(name)}")

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)


@pytest.fixture
def workers(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Workers]:
    started = Workers(tmp_path)
    yield started
    started.stop_all()
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for name in started.processes:
            sys.stderr.write(f"\n--- log of worker {name} ---\n{started.log(name)[-6000:]}\n")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def worker_environment(**settings: str) -> dict[str, str]:
    """The environment of a worker subprocess: ours without JOBPORT_*, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBPORT_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update({f"JOBPORT_{key.upper()}": value for key, value in settings.items()})
    return env


# -- S3 (moto in server mode) -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    key: str = "testing"
    secret: str = "testing"
    region: str = "us-east-1"

    def new_bucket(self) -> str:
        """Create an empty bucket (deployments create theirs up front too)."""
        import s3fs

        name = f"jobport-{uuid.uuid4().hex[:12]}"
        fs = s3fs.S3FileSystem(
            endpoint_url=self.endpoint_url,
            key=self.key,
            secret=self.secret,
            skip_instance_cache=True,
        )
        fs.mkdir(name)
        return name


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A local S3-compatible server (moto), on 127.0.0.1 and a free port."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        pytest.skip("moto[server] is not installed (it comes with the dev extra)")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(endpoint_url=f"http://127.0.0.1:{port}")
    finally:
        server.stop()
