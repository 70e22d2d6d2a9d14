"""Live progress over WebSocket and SSE: snapshot, every event in order, the terminal one.

The streaming tests hold the run's chunks back (``Gate``) until the client has
its snapshot, so every event is produced while the client listens. With the
local executor the chunks commit in worker processes and their events reach
the API process through the store's outbox, as in production.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect
from tests.api.conftest import Api, MakeApi, items_csv
from tests.api.live_app import CHUNK_SIZE

from jobport.api import EventFeed, FeedEvent, RedisFeed
from jobport.http.live import follow
from jobport.server import create_app

ROWS = 5 * CHUNK_SIZE  # five chunks: five events after the snapshot


def _ws_messages(ws: Any) -> Iterator[dict[str, Any]]:
    """Messages until the server closes the socket (it does after the terminal event)."""
    while True:
        try:
            message = ws.receive()
        except WebSocketDisconnect as closed:
            code = closed.code
            break
        if message["type"] == "websocket.close":
            code = message["code"]
            break
        yield json.loads(message["text"])
    assert code == 1000


def _sse_messages(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The ``data:`` payloads of an event stream, checking each ``id:`` matches its ``seq``."""
    event_id = None
    for line in lines:
        if line.startswith("id: "):
            event_id = int(line[4:])
        elif line.startswith("data: "):
            message: dict[str, Any] = json.loads(line[6:])
            assert message["seq"] == event_id
            yield message


def _check_sequence(messages: list[dict[str, Any]], *, chunks: int, total: int) -> None:
    assert messages[0]["snapshot"] is True
    assert messages[0]["event"] == "JobSnapshot"
    assert messages[0]["status"] == "queued"
    seqs = [m["seq"] for m in messages]
    assert seqs == list(range(chunks + 1)), seqs  # strictly increasing, no gap, no repeat
    names = [m["event"] for m in messages[1:]]
    assert names == ["JobProgressed"] * (chunks - 1) + ["JobCompleted"]
    processed = [m["processed"] for m in messages]
    assert processed == sorted(processed)
    final = messages[-1]
    assert (final["status"], final["processed"], final["total"]) == ("completed", total, total)
    for message in messages[1:]:
        assert message["snapshot"] is False
        assert set(message) >= {"run_id", "type", "status", "total", "processed", "failed", "seq"}


# -- following a run to its end ---------------------------------------------------------------


@pytest.mark.timeout(120)
def test_a_websocket_client_follows_an_import_run_by_worker_processes(make_api: MakeApi) -> None:
    api = make_api(gated=True, executor="local", workers=2)
    run = api.upload("items", items_csv(ROWS)).json()
    assert run["status"] == "queued"
    assert api.gate is not None
    with api.client.websocket_connect(f"/api/jobs/{run['id']}/ws", headers=api.auth()) as ws:
        messages = [ws.receive_json()]
        api.gate.release()
        messages += _ws_messages(ws)
    _check_sequence(messages, chunks=5, total=ROWS)
    # Those events crossed processes through the outbox, which records their commit time.
    assert all(m["committed_at"] for m in messages[1:])


@pytest.mark.timeout(120)
def test_an_sse_client_follows_an_import_run_by_worker_processes(make_api: MakeApi) -> None:
    api = make_api(gated=True, executor="local", workers=2)
    run = api.upload("items", items_csv(ROWS)).json()
    assert api.gate is not None
    url = f"/api/jobs/{run['id']}/events"
    with api.client.stream("GET", url, headers=api.auth()) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        stream = _sse_messages(response.iter_lines())
        messages = [next(stream)]
        api.gate.release()
        messages += stream  # the server ends the stream after the terminal event
    _check_sequence(messages, chunks=5, total=ROWS)
    assert all(m["committed_at"] for m in messages[1:])


def test_a_client_that_reconnects_after_the_end_gets_the_terminal_state(api: Api) -> None:
    run = api.upload("items", items_csv(ROWS, bad_every=100)).json()
    assert run["status"] == "completed_with_errors"
    with api.client.websocket_connect(f"/api/jobs/{run['id']}/ws", headers=api.auth()) as ws:
        messages = list(_ws_messages(ws))
    with api.client.stream("GET", f"/api/jobs/{run['id']}/events", headers=api.auth()) as sse:
        sse_messages = list(_sse_messages(sse.iter_lines()))
    assert messages == sse_messages
    (final,) = messages
    assert final["event"] == "JobCompleted"
    assert final["snapshot"] is True
    assert (final["status"], final["seq"]) == ("completed_with_errors", run["seq"])
    assert (final["processed"], final["failed"]) == (ROWS, ROWS // 100)


def test_a_failed_run_streams_as_failed(api: Api) -> None:
    run = api.upload("items", b"id,qty\n1,2\n").json()
    with api.client.websocket_connect(f"/api/jobs/{run['id']}/ws", headers=api.auth()) as ws:
        (final,) = list(_ws_messages(ws))
    assert (final["event"], final["status"]) == ("JobFailed", "failed")
    assert "name" in final["error"]


def test_cancelling_a_run_ends_its_stream_with_the_cancellation(make_api: MakeApi) -> None:
    api = make_api(gated=True)
    run = api.upload("items", items_csv(ROWS)).json()
    with api.client.websocket_connect(f"/api/jobs/{run['id']}/ws", headers=api.auth()) as ws:
        first = ws.receive_json()
        cancelled = api.client.post(f"/api/jobs/{run['id']}/cancel", headers=api.auth())
        assert cancelled.status_code == 200
        rest = list(_ws_messages(ws))
    assert first["seq"] == 0
    assert [(m["event"], m["status"], m["seq"]) for m in rest] == [("JobFailed", "cancelled", 1)]


def test_events_of_a_private_type_reach_clients_of_the_same_process(make_api: MakeApi) -> None:
    """``broadcast=False``: nothing is recorded for other processes; this one still streams."""
    api = make_api(gated=True)
    run = api.upload("items-private", items_csv(ROWS)).json()
    with api.client.websocket_connect(f"/api/jobs/{run['id']}/ws", headers=api.auth()) as ws:
        messages = [ws.receive_json()]
        assert api.gate is not None
        api.gate.release()  # the inline executor runs the chunks here, publishing in-process
        messages += _ws_messages(ws)
    _check_sequence(messages, chunks=5, total=ROWS)
    assert api.engine.store.events_since(run["id"], 0) == []


def test_an_idle_sse_stream_sends_keep_alives_until_its_run_ends(make_api: MakeApi) -> None:
    api = make_api(gated=True, idle_seconds=0.05)
    run = api.upload("items", items_csv(ROWS)).json()
    with api.client.stream("GET", f"/api/jobs/{run['id']}/events", headers=api.auth()) as sse:
        lines = sse.iter_lines()
        assert next(line for line in lines if line.startswith("data: "))
        assert next(line for line in lines if line.startswith(":")) == ": keep-alive"
        api.client.post(f"/api/jobs/{run['id']}/cancel", headers=api.auth())
        (final,) = list(_sse_messages(lines))
    assert (final["event"], final["status"], final["seq"]) == ("JobFailed", "cancelled", 1)


def test_a_client_leaving_early_leaves_no_subscription_behind(make_api: MakeApi) -> None:
    api = make_api(gated=True)
    run = api.upload("items", items_csv(ROWS)).json()
    feed = api.client.app.state.jobport.feed  # type: ignore[attr-defined]
    with api.client.websocket_connect(f"/api/jobs/{run['id']}/ws", headers=api.auth()) as ws:
        assert ws.receive_json()["snapshot"] is True
        assert feed.subscriber_count == 1
    assert feed.subscriber_count == 0
    with api.client.stream("GET", f"/api/jobs/{run['id']}/events", headers=api.auth()) as sse:
        assert next(line for line in sse.iter_lines() if line.startswith("data: "))
    assert feed.subscriber_count == 0


@pytest.mark.parametrize("type_", ["items-polling", "items-quiet"])
def test_types_without_live_events_answer_409_pointing_at_polling(api: Api, type_: str) -> None:
    run = api.upload(type_, items_csv(5)).json()
    response = api.client.get(f"/api/jobs/{run['id']}/events", headers=api.auth())
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert f"poll GET /api/jobs/{run['id']}" in response.json()["detail"]
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        api.client.websocket_connect(f"/api/jobs/{run['id']}/ws", headers=api.auth()),
    ):
        pass
    assert denied.value.status_code == 409
    assert "poll GET" in denied.value.json()["detail"]


# -- the reader's guarantees, whatever the feed delivers --------------------------------------


class ScriptedFeed(EventFeed):
    """A feed that delivers only what the test hands it."""

    async def _run(self) -> None:
        self._set_ready()
        await asyncio.Event().wait()


def test_gaps_are_filled_from_the_store_and_repeats_dropped(make_api: MakeApi) -> None:
    api = make_api(gated=True)
    run_id = api.upload("items", items_csv(ROWS)).json()["id"]
    store = api.engine.store
    feed = ScriptedFeed()

    async def scenario() -> list[dict[str, Any]]:
        messages = follow(store, feed, run_id, idle_seconds=600)
        received = [await anext(messages)]
        assert api.gate is not None
        await asyncio.to_thread(api.gate.release)  # the whole run commits; the feed says nothing
        recorded = store.events_since(run_id, 0)
        assert [e.seq for e in recorded] == [1, 2, 3, 4, 5]
        feed.deliver(FeedEvent(recorded[1]))  # seq 2: seq 1 was lost
        feed.deliver(FeedEvent(recorded[1]))  # a repeat
        feed.deliver(FeedEvent(recorded[0]))  # a late one
        feed.deliver(FeedEvent(recorded[4]))  # seq 5: 3 and 4 were lost
        received += [message async for message in messages if message is not None]
        return received

    messages = asyncio.run(scenario())
    _check_sequence(messages, chunks=5, total=ROWS)


def test_a_silent_feed_is_caught_up_from_the_store_when_idle(make_api: MakeApi) -> None:
    api = make_api(gated=True)
    run_id = api.upload("items", items_csv(ROWS)).json()["id"]
    feed = ScriptedFeed()

    async def scenario() -> list[dict[str, Any]]:
        messages = follow(api.engine.store, feed, run_id, idle_seconds=0.05)
        received = [await anext(messages)]
        assert api.gate is not None
        await asyncio.to_thread(api.gate.release)
        received += [message async for message in messages if message is not None]
        return received

    _check_sequence(asyncio.run(scenario()), chunks=5, total=ROWS)


# -- Redis pub/sub ----------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.timeout(120)
def test_events_reach_a_websocket_client_through_redis(make_api: MakeApi, redis_url: str) -> None:
    """With ``JOBPORT_REDIS_URL`` set, workers publish to Redis and the API listens there."""
    api = make_api(gated=True, executor="local", workers=2, redis_url=redis_url)
    app = create_app(api.engine, idle_seconds=600)
    with TestClient(app) as client:
        feed = app.state.jobport.feed
        assert isinstance(feed, RedisFeed)
        run = client.post(
            "/api/imports/items",
            headers=api.auth(),
            files={"file": ("items.csv", items_csv(ROWS), "text/csv")},
        ).json()
        with client.websocket_connect(f"/api/jobs/{run['id']}/ws", headers=api.auth()) as ws:
            messages = [ws.receive_json()]
            assert api.gate is not None
            api.gate.release()
            messages += _ws_messages(ws)
    _check_sequence(messages, chunks=5, total=ROWS)
    # Two workers publish after their commits, so Redis may carry seq 2 before seq 1: the
    # reader then fills seq 1 from the store (no committed_at) and drops the late copy. The
    # last event can only have come through Redis (nothing was idle long enough to check the
    # store, and nothing higher arrived to reveal a gap), stamped by a worker's publisher.
    assert messages[-1]["committed_at"]
