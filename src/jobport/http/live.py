"""Following one run: the snapshot, then its events in ``seq`` order, to the terminal one.

Both the WebSocket and the SSE route consume :func:`follow`. Its contract:

- the first message is the run's current state (``"snapshot": true``); for a
  finished run it is named after the terminal event (``JobCompleted`` or
  ``JobFailed``) and is also the last, so a client that reconnects after
  the end gets the final state and stops like any other;
- then each event of the run, with strictly increasing ``seq``, without
  duplicates and without gaps: the subscription is made *before* the
  snapshot is read, events at or below the snapshot's ``seq`` are dropped,
  and a gap (an event lost by pub/sub, a lagging subscriber, outbox rows
  committed out of id order on PostgreSQL) is filled from the store's
  recorded events;
- after ``idle_seconds`` without an event it checks the run once (one
  primary-key read), which also covers types whose events are not recorded
  (``broadcast=False``) when they run in another process; it yields None
  then, for the transport to send a keep-alive.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import Any

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from jobport.errors import JobportError
from jobport.events import JobEvent
from jobport.http.feeds import EventFeed
from jobport.lifecycle import JOB_PROGRESSED, final_event, is_final_event
from jobport.store import JobStore, RunRecord

SNAPSHOT_EVENT = "JobSnapshot"


def event_message(
    event: JobEvent, *, committed_at: datetime | None = None, snapshot: bool = False
) -> dict[str, Any]:
    message = event.to_dict()
    message["snapshot"] = snapshot
    message["committed_at"] = committed_at.isoformat() if committed_at else None
    return message


def run_event(run: RunRecord) -> JobEvent:
    """The run's current state in the shape of an event (named after it when finished)."""
    name = final_event(run.status) if run.finished else SNAPSHOT_EVENT
    return JobEvent(
        name=name,  # type: ignore[arg-type]
        run_id=run.id,
        type=run.type,
        kind=run.kind,
        status=run.status,
        total=run.total,
        processed=run.processed,
        failed=run.failed,
        seq=run.seq,
        rows_per_second=run.rows_per_second,
        eta_seconds=run.eta_seconds,
        error=run.error,
        created=run.created,
        updated=run.updated,
        unchanged=run.unchanged,
        dry_run=run.dry_run,
    )


def is_terminal(message: dict[str, Any]) -> bool:
    return is_final_event(message["event"])


async def follow(
    store: JobStore, feed: EventFeed, run_id: str, *, idle_seconds: float = 5.0
) -> AsyncGenerator[dict[str, Any] | None, None]:
    """Messages of one run from now to its end (None: nothing new for a while)."""
    with feed.subscribe(run_id) as subscription:
        await feed.wait_ready()
        run = await run_in_threadpool(store.get_run, run_id)
        snapshot = event_message(run_event(run), snapshot=True)
        yield snapshot
        if is_terminal(snapshot):
            return
        last = run.seq
        while True:
            item = await subscription.next(idle_seconds)
            if subscription.lagging or item is None:
                subscription.lagging = False
                while not subscription.queue.empty():
                    subscription.queue.get_nowait()
                caught_up = False
                async for message in _catch_up(store, run_id, last):
                    caught_up = True
                    last = message["seq"]
                    yield message
                    if is_terminal(message):
                        return
                if not caught_up and item is None:
                    yield None
                continue
            event = item.event
            if event.seq <= last:
                continue
            if event.seq > last + 1:
                for recorded in await run_in_threadpool(store.events_since, run_id, last):
                    if recorded.seq >= event.seq:
                        break
                    last = recorded.seq
                    yield event_message(recorded)
                    if recorded.terminal:
                        return
            last = event.seq
            yield event_message(event, committed_at=item.committed_at)
            if event.terminal:
                return


async def send_to_websocket(
    websocket: WebSocket,
    store: JobStore,
    live: EventFeed,
    run_id: str,
    *,
    idle_seconds: float,
) -> None:
    """Stream a run's messages to an accepted WebSocket until the run ends or the peer leaves.

    Shared by the API's socket and the dashboard's: they differ only in how
    the caller is authenticated before the handshake. The socket closes with
    1000 after the terminal message, or with 4000 + status for an error met
    on the way (the run deleted meanwhile, say).
    """
    async with anyio.create_task_group() as group:

        async def until_disconnect() -> None:
            with contextlib.suppress(WebSocketDisconnect):
                while (await websocket.receive())["type"] != "websocket.disconnect":
                    pass
            group.cancel_scope.cancel()

        group.start_soon(until_disconnect)
        messages = follow(store, live, run_id, idle_seconds=idle_seconds)
        try:
            async with contextlib.aclosing(messages):
                async for message in messages:
                    if message is not None:
                        await websocket.send_json(message)
        except JobportError as exc:
            await websocket.close(4000 + exc.status_code, exc.message[:120])
        else:
            await websocket.close(1000)
        group.cancel_scope.cancel()


async def _catch_up(store: JobStore, run_id: str, last: int) -> AsyncIterator[dict[str, Any]]:
    """What happened since ``last``: the recorded events, or else the run's current state."""
    recorded = await run_in_threadpool(store.events_since, run_id, last)
    for event in recorded:
        yield event_message(event)
    if recorded:
        return
    run = await run_in_threadpool(store.get_run, run_id)
    if run.seq > last:
        event = run_event(run)
        if event.name == SNAPSHOT_EVENT:
            event = JobEvent(**{**event.__dict__, "name": JOB_PROGRESSED})
        yield event_message(event)
