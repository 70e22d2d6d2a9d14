"""Fixtures of the API tests: an engine on the test app, the ASGI test client, users."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from jobport import Jobport
from jobport.api import create_user
from jobport.executors import Executor
from jobport.server import create_app

APP = "tests.api.live_app"


class Gate:
    """Holds chunk submissions until released.

    A test opens its WebSocket or SSE stream on a queued run, *then* lets the
    chunks go: every event of the run is then produced while the client is
    listening, with no sleep and no race.
    """

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.held: list[tuple[str, list[int]]] = []
        self._lock = threading.Lock()

    def submit(self, run_id: str, chunks: Sequence[int]) -> None:
        with self._lock:
            self.held.append((run_id, list(chunks)))

    def release(self) -> None:
        with self._lock:
            held, self.held = self.held, []
        for run_id, chunks in held:
            self.inner.submit(run_id, chunks)

    def close(self) -> None:
        self.inner.close()


@dataclass
class Api:
    engine: Jobport
    client: TestClient
    tokens: dict[str, str]
    gate: Gate | None = None
    files: list[Path] = field(default_factory=list)

    def auth(self, user: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def upload(
        self,
        type_: str,
        content: bytes,
        *,
        user: str = "alice",
        filename: str = "items.csv",
        **fields: str,
    ) -> Any:
        return self.client.post(
            f"/api/imports/{type_}",
            headers=self.auth(user),
            files={"file": (filename, content, "text/csv")},
            data=fields,
        )

    def run_json(self, run_id: str, user: str = "admin") -> dict[str, Any]:
        response = self.client.get(f"/api/jobs/{run_id}", headers=self.auth(user))
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


MakeApi = Callable[..., Api]


def items_csv(rows: int, *, bad_every: int = 0) -> bytes:
    lines = ["id,name,qty"]
    for n in range(1, rows + 1):
        name = "" if bad_every and n % bad_every == 0 else f"item {n}"
        lines.append(f"{n},{name},{n % 7}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def make_api(make_jobport: Callable[..., Jobport]) -> Iterator[MakeApi]:
    """``make_api(gated=False, idle_seconds=5.0, app=APP, executor="inline", **settings)``."""
    clients: list[TestClient] = []

    def make(
        *, gated: bool = False, idle_seconds: float = 5.0, app: str = APP, **settings: Any
    ) -> Api:
        engine = make_jobport(app=app, **settings)
        gate = None
        if gated:
            gate = Gate(engine.executor)
            engine.dispatcher.executor = gate
        client = TestClient(create_app(engine, idle_seconds=idle_seconds))
        client.__enter__()
        clients.append(client)
        tokens = {}
        for name, admin, roles in (
            ("alice", False, ()),
            ("bob", False, ()),
            ("admin", True, ()),
            ("stocker", False, ("stock",)),
        ):
            _, tokens[name] = create_user(engine.store, name, is_admin=admin, roles=roles)
        return Api(engine, client, tokens, gate)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def api(make_api: MakeApi) -> Api:
    """An inline-executor API: a run is finished when its start request returns."""
    return make_api()
