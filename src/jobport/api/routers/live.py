"""Live progress of one run, as server-sent events and over a WebSocket.

Both send the run's current state first, then its events in order, until the
terminal one. Only types whose strategy is ``websocket`` publish live
progress; for the others both routes answer 409 and say what to poll.
"""

import contextlib
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from jobport.api.context import ApiContext, Caller, Context, base
from jobport.errors import JobportError
from jobport.http.live import follow, send_to_websocket
from jobport.http.problems import responses
from jobport.principal import Principal
from jobport.store import RunRecord

router = APIRouter()


class NotStreamable(JobportError):
    """The run's type does not publish live progress (strategy polling or none)."""

    status_code = 409
    title = "Live progress not available"


def streamable_run(context: ApiContext, run_id: str, caller: Principal, path: str) -> RunRecord:
    """The caller's run, if its type publishes live progress; else what to poll instead."""
    run = context.service.run(caller, run_id)
    if run.strategy != "websocket":
        follow_up = "only its final state" if run.strategy == "none" else "no live events"
        raise NotStreamable(
            f"run {run.id} of type '{run.type}' publishes {follow_up} "
            f"(strategy '{run.strategy}'); poll GET {path} for its progress"
        )
    return run


@router.get(
    "/jobs/{run_id}/events",
    summary="Live progress as server-sent events",
    description=(
        "First the run's current state (`snapshot: true`), then one `data:` line of JSON per "
        "event (`event`, counters, `status`, strictly increasing `seq`, `committed_at`), "
        "until the terminal `JobCompleted` or `JobFailed`. Browsers may pass the token as "
        "`?access_token=`. Types whose strategy is not `websocket` answer 409."
    ),
    response_class=StreamingResponse,
    responses={
        **responses(401, 404, 409),
        200: {"content": {"text/event-stream": {}}, "description": "The event stream."},
    },
)
async def job_events(
    run_id: str, request: Request, caller: Caller, context: Context
) -> StreamingResponse:
    path = f"{base(request)}/jobs/{run_id}"
    run = await run_in_threadpool(streamable_run, context, run_id, caller, path)
    return StreamingResponse(
        event_stream(context, run.id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def event_stream(context: ApiContext, run_id: str) -> AsyncIterator[bytes]:
    """The run's messages as server-sent events, with keep-alives while it is quiet."""
    yield b"retry: 2000\n\n"
    messages = follow(
        context.service.store, context.feed, run_id, idle_seconds=context.idle_seconds
    )
    async with contextlib.aclosing(messages):
        async for message in messages:
            if message is None:
                yield b": keep-alive\n\n"
            else:
                data = json.dumps(message, separators=(",", ":"))
                yield f"id: {message['seq']}\ndata: {data}\n\n".encode()


@router.websocket("/jobs/{run_id}/ws", name="jobport_job_ws")
async def job_ws(websocket: WebSocket, run_id: str, caller: Caller, context: Context) -> None:
    """Live progress over a WebSocket: the same messages as the SSE route, as JSON text.

    Refusals (401, 404, 409) happen before the handshake completes, as
    problem+json HTTP responses.
    """
    path = f"{base(websocket)}/jobs/{run_id}"
    run = await run_in_threadpool(streamable_run, context, run_id, caller, path)
    await websocket.accept()
    await send_to_websocket(
        websocket, context.service.store, context.feed, run.id, idle_seconds=context.idle_seconds
    )
