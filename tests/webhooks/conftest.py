"""Fixtures of the webhook tests: a local receiver, a clock the tests move, an engine.

The receiver is a tiny threaded HTTP server on 127.0.0.1 (a free port): it
checks each message's signature with the Standard Webhooks library, as a real
receiver would, and answers as the test tells it: a status code, a hang past
the sender's timeout, a large body or a redirect. Deliveries run in the
test's thread (:meth:`Deliverer.run_once`) with the clock moved by hand, so
hours of retries take no time.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from tests.api.conftest import Api, MakeApi
from tests.api.conftest import make_api as make_api  # the API tests' fixture, for the faces
from tests.conftest import MakeJobport

from jobport import Jobport
from jobport.principal import Principal
from jobport.store.webhooks import WebhookStore
from jobport.webhooks.deliverer import Deliverer
from jobport.webhooks.service import WebhookService

#: How long a hanging answer waits at most (the sender gives up long before).
HANG_SECONDS = 5.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    #: The message, when its signature checked out with the subscription's secret.
    message: dict[str, Any] | None
    error: str | None

    @property
    def seq(self) -> int:
        assert self.message is not None, self.error
        return int(self.message["data"]["seq"])


@dataclass
class Receiver:
    """Answers each request with the next planned answer (then ``default``)."""

    url: str
    secrets: dict[str, str] = field(default_factory=dict)
    plan: deque[Any] = field(default_factory=deque)
    default: Any = 204
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hook(self, name: str) -> str:
        """The URL of one receiving endpoint."""
        return f"{self.url}/{name}"

    def answer(self, *answers: Any) -> None:
        self.plan.extend(answers)

    def seqs(self, path: str | None = None) -> list[int]:
        return [r.seq for r in self.messages(path)]

    def messages(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.received if path is None or r.path == path]

    def take(self, path: str, headers: dict[str, str], body: bytes) -> Any:
        secret = self.secrets.get(path)
        message, error = None, None
        try:
            if secret is None:
                raise WebhookVerificationError(f"no secret for {path}")
            message = Webhook(secret).verify(body, headers)
        except WebhookVerificationError as exc:
            error = str(exc)
        with self.lock:
            self.received.append(Received(path, headers, body, message, error))
            return self.plan.popleft() if self.plan else self.default


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            answer = receiver.take(self.path, dict(self.headers.items()), body)
            if answer == "hang":
                receiver.release.wait(HANG_SECONDS)
                return
            if isinstance(answer, tuple):  # (status, body bytes, extra headers)
                status, content, extra = answer
            else:
                status, content, extra = int(answer), b"", {}
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    host, port = server.server_address[:2]
    found = Receiver(f"http://{host}:{port}")
    server.RequestHandlerClass = _handler(found)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, args=(0.02,), name="receiver", daemon=True
    )
    thread.start()
    yield found
    found.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


class Clock:
    """The deliveries' clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Hooks:
    """An engine on the people test app, the webhooks service and a deliverer on one clock."""

    engine: Jobport
    service: WebhookService
    deliverer: Deliverer
    clock: Clock
    receiver: Receiver
    folder: Path

    def subscribe(self, who: Principal, name: str, **choices: Any) -> str:
        """Add a subscription posting to the receiver's ``/name``; returns its id."""
        record = self.service.add(who, self.receiver.hook(name), **choices)
        self.receiver.secrets[f"/{name}"] = record.secret
        return record.id

    def import_people(self, rows: int = 7, owner: str | None = "alice", name: str = "p") -> str:
        """An import of ``rows`` people (chunks of 3): one event per chunk; returns its id."""
        path = self.folder / f"{name}-{rows}.csv"
        lines = ["code,name,age", *(f"{name}{n},Person {n},{20 + n}" for n in range(rows))]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        run = self.engine.import_file("people", path, owner=owner)
        assert run.status == "completed", run
        return run.id

    def deliver(self) -> int:
        return self.deliverer.run_once()


MakeHooks = Callable[..., Hooks]


@pytest.fixture
def make_hooks(
    make_jobport: MakeJobport, receiver: Receiver, tmp_path: Path
) -> Iterator[Callable[..., Hooks]]:
    made: list[Deliverer] = []

    def make(**settings: Any) -> Hooks:
        values = {"webhooks_allow_private": True, "webhooks_timeout_seconds": 2.0, **settings}
        engine = make_jobport(app="tests.apps.people", **values)
        clock = Clock()
        store = WebhookStore(engine.store.engine)
        service = WebhookService(
            store=store,
            runs=engine.store,
            registry=engine.registry,
            settings=engine.settings,
            clock=clock,
        )
        deliverer = Deliverer(store, engine.settings, clock=clock)
        made.append(deliverer)
        return Hooks(engine, service, deliverer, clock, receiver, tmp_path)

    yield make
    for deliverer in made:
        deliverer.stop()


@pytest.fixture
def hooks(make_hooks: MakeHooks) -> Hooks:
    return make_hooks()


def body_of(received: Received) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(received.body)
    return loaded


ALICE = Principal("alice")
BOB = Principal("bob")
ADMIN = Principal("admin", is_admin=True)
OPERATOR = Principal.operator()


# -- the faces -------------------------------------------------------------------------------


@pytest.fixture
def api(make_api: MakeApi) -> Api:
    return make_api(webhooks_allow_private=True)


def add(api: Api, receiver: Receiver, user: str, name: str, **body: Any) -> dict[str, Any]:
    response = api.client.post(
        "/api/webhooks", headers=api.auth(user), json={"url": receiver.hook(name), **body}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    receiver.secrets[f"/{name}"] = created["secret"]
    return created


def deliver(api: Api) -> int:
    deliverer = Deliverer(WebhookStore(api.engine.store.engine), api.engine.settings)
    try:
        return deliverer.run_once()
    finally:
        deliverer.stop()


def problem(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail: str = response.json()["detail"]
    return detail
