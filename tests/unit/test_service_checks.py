"""The service check behind ``postgres_url``, ``redis_url`` and ``rabbitmq_url``."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


Check = Callable[[str, str], str]


@pytest.mark.parametrize("ci", ["true", "TRUE", "1"])
def test_missing_service_fails_in_ci(
    require_service: Check, closed_port: int, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(
        pytest.fail.Exception, match=f"Redis is not reachable at 127.0.0.1:{closed_port}"
    ):
        require_service("Redis", f"redis://127.0.0.1:{closed_port}/0")


@pytest.mark.parametrize("ci", [None, "false", ""])
def test_missing_service_skips_outside_ci(
    require_service: Check, closed_port: int, monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL is not reachable"):
        require_service("PostgreSQL", f"postgresql+psycopg://u@127.0.0.1:{closed_port}/db")


def test_reachable_service_returns_its_url(
    require_service: Check, listening_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    url = f"amqp://guest:guest@127.0.0.1:{listening_port}//"
    assert require_service("RabbitMQ", url) == url
