"""Two API processes stream the same run's progress, whichever process runs its chunks.

Both are ``jobport serve`` subprocesses on one PostgreSQL state database and
one Redis: the run is started on the first, its chunks run in the first's
worker pool, and a client of the second follows it live. The run waits at a
gate row until both clients are connected, so neither stream can be a replay
of a finished run.
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from tests.api.test_cli_server import _free_port, _jobport, _wait_for_line
from tests.api.test_cli_server import start as start  # the fixture
from tests.reliability.app import ITEM_CHUNK
from tests.reliability.conftest import wait_until, write_items

from jobport import Jobport, Settings
from jobport.api import create_user
from jobport.events_redis import EVENTS_CHANNEL

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ROWS = 5 * ITEM_CHUNK


class Follower(threading.Thread):
    """Follows a run's server-sent events to their end, saying when it is connected."""

    def __init__(self, base_url: str, run_id: str, token: str) -> None:
        super().__init__(daemon=True)
        self.url = f"{base_url}/api/jobs/{run_id}/events"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.connected = threading.Event()
        self.messages: list[dict[str, Any]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with (
                httpx.Client(timeout=60) as client,
                client.stream("GET", self.url, headers=self.headers) as response,
            ):
                assert response.status_code == 200, response.read()
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        self.messages.append(json.loads(line[6:]))
                        self.connected.set()
        except BaseException as exc:
            self.error = exc
            self.connected.set()


@pytest.mark.timeout(180)
def test_two_api_processes_stream_the_same_run(
    postgres_schema_url: str,
    redis_url: str,
    tmp_path: Path,
    start: list[subprocess.Popen[str]],
) -> None:
    flags = tmp_path / "flags"
    flags.mkdir()
    env = {
        "JOBPORT_DATABASE_URL": postgres_schema_url,
        "JOBPORT_STORAGE_URL": str(tmp_path / "files"),
        "JOBPORT_APP": "tests.reliability.app",
        "JOBPORT_REDIS_URL": redis_url,
        "JOBPORT_EXECUTOR": "local",
        "JOBPORT_WORKERS": "1",
        "RELIABILITY_FLAGS": str(flags),
    }
    with Jobport(Settings(database_url=postgres_schema_url, executor="inline")) as engine:
        _, token = create_user(engine.store, "erin")
    urls = []
    for _ in range(2):  # one after the other: each creates the target tables it misses
        port = _free_port()
        server = _jobport(["serve", "--port", str(port), "--log-level", "info"], env)
        start.append(server)
        assert server.stderr is not None
        _wait_for_line(server.stderr, "Application startup complete")
        urls.append(f"http://127.0.0.1:{port}")

    write_items(tmp_path / "items.csv", ROWS, names={1: "GATE"})
    with (
        httpx.Client(base_url=urls[0], timeout=60) as client,
        open(tmp_path / "items.csv", "rb") as f,
    ):
        started = client.post(
            "/api/imports/items-live",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": ("items.csv", f, "text/csv")},
        )
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    wait_until(lambda: (flags / "gate-reached").exists(), timeout=60, what="the gate row")

    followers = [Follower(url, run_id, token) for url in urls]
    for follower in followers:
        follower.start()
    for follower in followers:
        assert follower.connected.wait(60), "a stream never sent its first event"
    # Each API process listens for every run's events on Redis, where workers publish.
    with redis.Redis.from_url(redis_url) as client:
        [(_, listeners)] = client.pubsub_numsub(EVENTS_CHANNEL)
    assert listeners >= 2
    (flags / "gate-open").touch()
    for follower in followers:
        follower.join(timeout=120)
        assert not follower.is_alive()
        assert follower.error is None, follower.error

    chunks = ROWS // ITEM_CHUNK
    for follower in followers:
        first, *live = follower.messages
        assert first["snapshot"] is True
        assert first["processed"] == 0  # connected before any chunk committed
        assert [m["seq"] for m in live] == list(range(1, chunks + 1))
        assert [m["event"] for m in live] == ["JobProgressed"] * (chunks - 1) + ["JobCompleted"]
        assert (live[-1]["status"], live[-1]["processed"]) == ("completed", ROWS)
    first_process, second_process = (f.messages[1:] for f in followers)
    assert [m["processed"] for m in first_process] == [m["processed"] for m in second_process]
