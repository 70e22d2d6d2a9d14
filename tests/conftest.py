"""Fixtures shared by every test layer.

Service checks: integration tests ask for ``postgres_url``, ``redis_url`` or
``rabbitmq_url``. A service that does not answer on its port skips the test
with the reason, except in CI (``CI=true``), where it fails it: a missing
service must never pass silently there. ``.ci/run`` starts the services.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, settings

from jobport import Jobport, JobRegistry, Settings

# Timing is never asserted: no deadlines; no example database left in the work tree.
settings.register_profile(
    "jobport",
    deadline=None,
    database=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", parent=settings.get_profile("jobport"), max_examples=3000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "jobport"))

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"

_DEFAULT_PORTS = {"postgresql": 5432, "redis": 6379, "amqp": 5672}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str, url: str) -> str:
    """Return ``url`` if its service answers; otherwise skip (or fail when CI=true)."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    host = parts.hostname or "127.0.0.1"
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    if reachable(host, port):
        return url
    message = f"{name} is not reachable at {host}:{port}"
    if in_ci():
        pytest.fail(f"{message}; CI=true, so a missing service fails the run (.ci/run starts it)")
    pytest.skip(f"{message}; start it (see .ci/run) to run this test")


@pytest.fixture(name="require_service")
def require_service_fixture() -> Callable[[str, str], str]:
    """The service check itself, for tests needing a service not covered below."""
    return require_service


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL URL (trust auth) for integration tests."""
    return require_service(
        "PostgreSQL", os.environ.get("JOBPORT_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    )


@contextlib.contextmanager
def migrated_schema(postgres_url: str) -> Iterator[str]:
    """A fresh schema on the server, with jobport's tables; dropped afterwards.

    Yields a URL whose connections use that schema, so test modules sharing
    one database never see each other's rows.
    """
    from jobport.store import make_engine
    from jobport.store.migrations import upgrade

    schema = f"jobport_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(postgres_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = f"{postgres_url}?options=-csearch_path%3D{schema}"
    try:
        state = make_engine(url)
        upgrade(state)
        state.dispose()
        yield url
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """A URL whose connections use a fresh schema (dropped afterwards), migrated."""
    with migrated_schema(postgres_url) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    return require_service("Redis", os.environ.get("JOBPORT_TEST_REDIS_URL", DEFAULT_REDIS_URL))


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    return require_service(
        "RabbitMQ", os.environ.get("JOBPORT_TEST_RABBITMQ_URL", DEFAULT_RABBITMQ_URL)
    )


MakeJobport = Callable[..., Jobport]


@pytest.fixture
def make_jobport(tmp_path: Path) -> Iterator[MakeJobport]:
    """Build embedded engines (SQLite in tmp_path, local files, inline executor).

    ``make_jobport(app="tests.apps.people")`` or ``make_jobport(registry=reg)``;
    extra keyword arguments go to :class:`Settings`. Every engine is closed after
    the test.
    """
    built: list[Jobport] = []

    def make(
        app: str | None = "jobport.demo", registry: JobRegistry | None = None, **overrides: object
    ) -> Jobport:
        values: dict[str, object] = {
            "database_url": f"sqlite:///{tmp_path / 's.db'}",
            "storage_url": str(tmp_path / "files"),
            "executor": "inline",
            "app": app,
            "retry_backoff_seconds": 0.0,
            **overrides,
        }
        engine = Jobport(Settings(**values), registry=registry)  # type: ignore[arg-type]
        built.append(engine)
        return engine

    yield make
    for engine in built:
        engine.close()
