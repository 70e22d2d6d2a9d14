"""The routes of the HTTP API, built around one engine by :func:`create_router`.

Every route but the health checks needs a principal. A non-admin sees,
streams, downloads and acts on their own runs only; another user's run
answers 404 with the very body a missing run gets, so run ids cannot be
probed. Storage and database calls are blocking, so routes that make them
are plain functions (run in the thread pool) or hand them to it.

No ``from __future__ import annotations`` here: FastAPI must see the
per-router ``Caller`` dependency alias as an object, not as a string.
"""

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response, WebSocket
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from jobport.api.schemas import (
    ExportOut,
    ExportPage,
    ExportRequest,
    FailureOut,
    FailurePage,
    Health,
    JobTypeOut,
    RunOut,
    RunPage,
    SyncRequest,
)
from jobport.dispatch import StartRequest
from jobport.engine import Jobport
from jobport.errors import InputError, JobportError, PermissionDenied, RunNotFound
from jobport.http.auth import PrincipalDependency, token_principal
from jobport.http.downloads import (
    error_report_response,
    result_file_response,
)
from jobport.http.feeds import EventFeed, feed_for
from jobport.http.live import follow, send_to_websocket
from jobport.http.problems import responses
from jobport.http.throttle import FailureThrottle
from jobport.http.uploads import FILE_FIELD, receive_upload
from jobport.principal import Principal
from jobport.registry import JobType
from jobport.service import FILE_KINDS, JobService, aware
from jobport.signing import LinkSigner
from jobport.store import RunFilter, RunRecord
from jobport.store.records import RUN_STATUSES

#: Deeper than any real history; keeps offsets inside the databases' integer range.
MAX_OFFSET = 1 << 31
#: Longest life of a shared download link: a week.
MAX_LINK_SECONDS = 7 * 24 * 3600


class NotStreamable(JobportError):
    """The run's type does not publish live progress (strategy polling or none)."""

    status_code = 409
    title = "Live progress not available"


class Unavailable(JobportError):
    status_code = 503
    title = "Service unavailable"


class JobportRouter(APIRouter):
    """The API's router; ``feed`` is the live-event feed it serves from."""

    engine: Jobport
    feed: EventFeed


def create_router(
    engine: Jobport,
    *,
    principal: PrincipalDependency | None = None,
    feed: EventFeed | None = None,
    prefix: str = "/api",
    idle_seconds: float = 5.0,
) -> JobportRouter:
    """The API routes over ``engine``, ready for ``app.include_router``.

    ``principal`` is a FastAPI dependency returning the caller's
    :class:`Principal` (default: jobport's bearer tokens). ``feed`` brings
    run events from other processes (default: the store's outbox, or Redis
    when ``JOBPORT_REDIS_URL`` is set). The router's lifespan stops the feed.
    Install :func:`jobport.http.problems.install_problem_handlers` on the app
    (with ``prefix``, to leave the application's own routes' errors as they
    are) so errors are problem+json.
    """
    live = feed or feed_for(engine.store, engine.settings.redis_url)
    engine.bus.subscribe(live.bus_listener)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            engine.bus.unsubscribe(live.bus_listener)
            await live.aclose()

    router = JobportRouter(prefix=prefix, tags=["jobport"], lifespan=lifespan)
    router.engine = engine
    router.feed = live
    store = engine.store
    service = JobService(engine)
    throttle = FailureThrottle.from_settings(engine.settings)
    Caller = Annotated[Principal, Depends(principal or token_principal(store, throttle=throttle))]
    auth = responses(401)

    # -- helpers ----------------------------------------------------------------------------

    def base(request: Request | WebSocket) -> str:
        """The API's own path prefix as mounted (links stay right under any mount)."""
        return request.url_for("jobport_health").path.removesuffix("/health")

    def visible_run(run_id: str, caller: Principal) -> RunRecord:
        run = store.find_run(run_id)
        if run is None or not caller.can_see(run.owner):
            raise RunNotFound(run_id)
        return run

    def streamable_run(run_id: str, caller: Principal, path: str) -> RunRecord:
        run = visible_run(run_id, caller)
        if run.strategy != "websocket":
            follow_up = "only its final state" if run.strategy == "none" else "no live events"
            raise NotStreamable(
                f"run {run.id} of type '{run.type}' publishes {follow_up} "
                f"(strategy '{run.strategy}'); poll GET {path} for its progress"
            )
        return run

    def may_start(job_type: JobType, caller: Principal) -> bool:
        # The rule of Dispatcher.check, applied before a body is read; the
        # dispatcher checks again, authoritatively, when the run starts.
        return not job_type.roles or caller.is_admin or bool(job_type.roles & caller.roles)

    def require_start(job_type: JobType, caller: Principal) -> None:
        if not may_start(job_type, caller):
            raise PermissionDenied(
                f"job type '{job_type.type}' needs one of the roles: "
                f"{', '.join(sorted(job_type.roles))}"
            )

    def start_request(caller: Principal, **values: Any) -> StartRequest:
        return StartRequest(
            owner=caller.name, roles=caller.roles, is_admin=caller.is_admin, **values
        )

    def start_path(request: Request, job_type: JobType) -> str:
        """The route that starts ``job_type``: a refusal by another kind's route points to it."""
        if job_type.kind == "import":
            return f"{base(request)}/imports/{job_type.type}"
        return base(request) + ("/syncs" if job_type.kind == "sync" else "/exports")

    def accepted(request: Request, response: Response, run: RunRecord) -> RunOut:
        out = RunOut.of(run, base(request))
        response.headers["Location"] = out.links.self
        return out

    # -- health -----------------------------------------------------------------------------

    @router.get("/health", name="jobport_health", summary="Liveness: the process answers")
    def health() -> Health:
        return Health(status="ok")

    @router.get(
        "/health/ready",
        summary="Readiness: the database answers",
        responses=responses(503),
    )
    def ready() -> Health:
        try:
            store.ping()
        except Exception as exc:
            raise Unavailable(f"the state database does not answer: {type(exc).__name__}") from exc
        return Health(status="ok", database="ok")

    # -- job types --------------------------------------------------------------------------

    described: dict[str, JobTypeOut] = {}

    def describe(job_type: JobType, caller: Principal) -> JobTypeOut:
        # The registry does not change while the process runs: build each type's
        # JSON Schemas once (milliseconds each), then only say whether the caller may start it.
        if job_type.type not in described:
            described[job_type.type] = JobTypeOut.of(job_type, can_start=False)
        return described[job_type.type].model_copy(
            update={"can_start": may_start(job_type, caller)}
        )

    @router.get("/job-types", summary="Every job type, with what a form needs", responses=auth)
    def job_types(caller: Caller) -> list[JobTypeOut]:
        return [describe(t, caller) for t in engine.registry]

    @router.get("/job-types/{type}", summary="One job type", responses=responses(401, 404))
    def job_type(type: str, caller: Caller) -> JobTypeOut:
        return describe(engine.registry.get(type), caller)

    # -- starting runs ----------------------------------------------------------------------

    @router.post(
        "/imports/{type}",
        status_code=202,
        summary="Upload a file and start an import",
        description=(
            f"A multipart/form-data body with the file in the field `{FILE_FIELD}` and, "
            "optionally, `options` (a JSON object), `format`, `encoding`, `delimiter` and "
            "`retry_of`. The file is streamed to storage; one over the size limit is refused "
            "with 413 while it is being sent. A file that cannot be read becomes a failed run "
            "(202, status `failed`, the reason in `error`)."
        ),
        responses=responses(401, 403, 404, 413, 415, 422),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": [FILE_FIELD],
                            "properties": {
                                FILE_FIELD: {"type": "string", "format": "binary"},
                                "options": {"type": "string", "description": "JSON object"},
                                "format": {"type": "string"},
                                "encoding": {"type": "string"},
                                "delimiter": {"type": "string"},
                                "retry_of": {"type": "string"},
                            },
                        }
                    }
                },
            }
        },
    )
    async def start_import(
        type: str, request: Request, response: Response, caller: Caller
    ) -> RunOut:
        job_type = engine.registry.get(type)
        if job_type.kind != "import":
            raise InputError(
                f"'{type}' is {_a(job_type.kind)} type, not an import; "
                f"start it with POST {start_path(request, job_type)}"
            )
        require_start(job_type, caller)
        max_bytes = _max_upload_bytes(engine, job_type)

        def store_upload(stream: Any, filename: str | None) -> str:
            return _store_upload(engine, stream, filename, job_type)

        upload = await receive_upload(
            request, store=store_upload, delete=engine.files.delete, max_bytes=max_bytes
        )
        assert upload.key is not None
        try:
            fields = upload.fields
            retry_of = fields.get("retry_of") or None
            if retry_of is not None:
                await run_in_threadpool(visible_run, retry_of, caller)
            read = {k: fields[k] for k in ("encoding", "delimiter") if fields.get(k)}
            start = start_request(
                caller,
                type=type,
                options=_json_object(fields.get("options"), "options"),
                # None: the dispatcher goes by the file name's extension.
                format=fields.get("format") or None,
                read=read,
                retry_of=retry_of,
                source_name=upload.filename,
            )
            run = await run_in_threadpool(engine.dispatcher.start, start, source_key=upload.key)
        except BaseException:
            engine.files.delete(upload.key)
            raise
        return accepted(request, response, run)

    @router.post(
        "/exports",
        status_code=202,
        summary="Start an export",
        responses=responses(401, 403, 404, 422),
    )
    def start_export(
        body: ExportRequest, request: Request, response: Response, caller: Caller
    ) -> RunOut:
        job_type = engine.registry.get(body.type)
        if job_type.kind not in FILE_KINDS:
            exports = ", ".join(t.type for t in engine.registry.of_kind(*FILE_KINDS)) or "none"
            raise InputError(
                f"'{body.type}' is {_a(job_type.kind)} type, not an export or report; "
                f"types that make a file: {exports}; "
                f"start '{body.type}' with POST {start_path(request, job_type)}"
            )
        run = engine.start(
            start_request(caller, type=body.type, options=body.options, format=body.format)
        )
        return accepted(request, response, run)

    @router.post(
        "/syncs",
        status_code=202,
        summary="Start a sync",
        description=(
            "Pulls the type's source page by page, continuing after the page the type "
            "synced last (its stored cursor); `full: true` starts from the beginning. "
            "Types that delete rows missing from their source always start from the beginning."
        ),
        responses=responses(401, 403, 404, 422),
    )
    def start_sync(
        body: SyncRequest, request: Request, response: Response, caller: Caller
    ) -> RunOut:
        job_type = engine.registry.get(body.type)
        if job_type.kind != "sync":
            syncs = ", ".join(t.type for t in engine.registry.of_kind("sync")) or "none"
            raise InputError(
                f"'{body.type}' is {_a(job_type.kind)} type, not a sync; sync types: {syncs}; "
                f"start '{body.type}' with POST {start_path(request, job_type)}"
            )
        read = {"full": True} if body.full else {}
        run = engine.start(start_request(caller, type=body.type, options=body.options, read=read))
        return accepted(request, response, run)

    # -- runs -------------------------------------------------------------------------------

    @router.get(
        "/jobs",
        summary="Run history, newest first",
        description="Non-admins see their own runs; only admins may filter by `owner`.",
        responses=responses(401, 403, 422),
    )
    def list_jobs(
        request: Request,
        caller: Caller,
        kind: str | None = None,
        type: str | None = None,
        status: Annotated[str | None, Query(description=", ".join(RUN_STATUSES))] = None,
        owner: str | None = None,
        since: Annotated[datetime | None, Query(description="Created at or after.")] = None,
        until: Annotated[datetime | None, Query(description="Created before.")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> RunPage:
        if owner is not None and not caller.is_admin and owner != caller.name:
            raise PermissionDenied("only admins can list other users' runs")
        if status is not None and status not in RUN_STATUSES:
            raise InputError(f"unknown status '{status}'; use one of: {', '.join(RUN_STATUSES)}")
        filters = RunFilter(
            kind=kind,
            type=type,
            status=status,
            owner=owner if caller.is_admin else caller.name,
            since=aware(since) if since else None,
            until=aware(until) if until else None,
        )
        runs, total = store.list_runs(filters, limit=limit, offset=offset)
        prefix = base(request)
        return RunPage(
            items=[RunOut.of(run, prefix) for run in runs], total=total, limit=limit, offset=offset
        )

    @router.get("/jobs/{run_id}", summary="One run", responses=responses(401, 404))
    def get_job(run_id: str, request: Request, caller: Caller) -> RunOut:
        return RunOut.of(visible_run(run_id, caller), base(request))

    @router.get(
        "/jobs/{run_id}/failures",
        summary="The rows a run rejected",
        description=(
            "JSON pages by default; `?format=csv` downloads the error report (the original "
            "columns plus `line` and `error`), streamed, ready to fix and import again."
        ),
        responses={
            **responses(401, 404),
            200: {"content": {"application/json": {}, "text/csv": {}}},
        },
        response_model=FailurePage,
    )
    def get_failures(
        run_id: str,
        caller: Caller,
        format: Literal["json", "csv"] = "json",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> Response | FailurePage:
        run = visible_run(run_id, caller)
        if format == "csv":
            return error_report_response(engine, run)
        items, total = store.list_failures(run.id, limit=limit, offset=offset)
        return FailurePage(
            items=[FailureOut(**item) for item in items], total=total, limit=limit, offset=offset
        )

    @router.post("/jobs/{run_id}/cancel", summary="Stop a run", responses=responses(401, 404, 409))
    def cancel_job(run_id: str, request: Request, caller: Caller) -> RunOut:
        visible_run(run_id, caller)
        return RunOut.of(engine.cancel(run_id), base(request))

    @router.post(
        "/jobs/{run_id}/retry",
        status_code=202,
        summary="Run the failed chunks of a run again",
        responses=responses(401, 404, 409),
    )
    def retry_job(run_id: str, request: Request, response: Response, caller: Caller) -> RunOut:
        visible_run(run_id, caller)
        return accepted(request, response, engine.retry(run_id))

    @router.post(
        "/jobs/{run_id}/resume",
        status_code=202,
        summary="Continue a stopped run from its unfinished chunks",
        responses=responses(401, 404, 409),
    )
    def resume_job(run_id: str, request: Request, response: Response, caller: Caller) -> RunOut:
        visible_run(run_id, caller)
        return accepted(request, response, engine.resume(run_id))

    # -- live progress ----------------------------------------------------------------------

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
    async def job_events(run_id: str, request: Request, caller: Caller) -> StreamingResponse:
        path = f"{base(request)}/jobs/{run_id}"
        run = await run_in_threadpool(streamable_run, run_id, caller, path)

        async def stream() -> AsyncIterator[bytes]:
            yield b"retry: 2000\n\n"
            messages = follow(store, live, run.id, idle_seconds=idle_seconds)
            async with contextlib.aclosing(messages):
                async for message in messages:
                    if message is None:
                        yield b": keep-alive\n\n"
                    else:
                        data = json.dumps(message, separators=(",", ":"))
                        yield f"id: {message['seq']}\ndata: {data}\n\n".encode()

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @router.websocket("/jobs/{run_id}/ws", name="jobport_job_ws")
    async def job_ws(websocket: WebSocket, run_id: str, caller: Caller) -> None:
        """Live progress over a WebSocket: the same messages as the SSE route, as JSON text.

        Refusals (401, 404, 409) happen before the handshake completes, as
        problem+json HTTP responses.
        """
        path = f"{base(websocket)}/jobs/{run_id}"
        run = await run_in_threadpool(streamable_run, run_id, caller, path)
        await websocket.accept()
        await send_to_websocket(websocket, store, live, run.id, idle_seconds=idle_seconds)

    # -- exports ----------------------------------------------------------------------------

    @router.get(
        "/exports",
        summary="The caller's finished exports, newest first",
        responses=auth,
    )
    def list_exports(
        request: Request,
        caller: Caller,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> ExportPage:
        runs, total = store.runs_with_results(
            kind=FILE_KINDS, owner=caller.name, limit=limit, offset=offset
        )
        prefix = base(request)
        return ExportPage(
            items=[ExportOut.of(service.result_file(run), prefix) for run in runs],
            total=total,
            limit=limit,
            offset=offset,
        )

    @router.get(
        "/exports/{run_id}/download",
        summary="Download an export's file",
        response_class=StreamingResponse,
        responses={
            **responses(401, 404, 409, 410),
            200: {"content": {"application/octet-stream": {}}, "description": "The file."},
        },
    )
    def download_export(run_id: str, caller: Caller) -> StreamingResponse:
        return file_response(visible_run(run_id, caller))

    @router.post(
        "/exports/{run_id}/link",
        summary="A signed, expiring download link to share",
        description="Anyone holding the link may download the file until it expires, "
        "without a token; an expired or altered link answers 403.",
        responses=responses(401, 404, 422),
    )
    def share_export(
        run_id: str,
        request: Request,
        caller: Caller,
        ttl: Annotated[int, Query(ge=1, le=MAX_LINK_SECONDS)] = 3600,
    ) -> dict[str, str]:
        run = visible_run(run_id, caller)
        link = LinkSigner.from_settings(engine.settings).sign(run.id, ttl)
        return {
            "url": f"{base(request)}/exports/{run.id}/shared?{link.query()}",
            "expires_at": link.expires_at.isoformat(),
        }

    @router.get(
        "/exports/{run_id}/shared",
        summary="Download an export's file through a signed link (no token)",
        response_class=StreamingResponse,
        responses={
            **responses(403, 404, 409, 410),
            200: {"content": {"application/octet-stream": {}}, "description": "The file."},
        },
    )
    def download_shared(run_id: str, expires: str = "", signature: str = "") -> StreamingResponse:
        LinkSigner.from_settings(engine.settings).verify(run_id, expires, signature)
        run = store.find_run(run_id)
        if run is None:
            raise RunNotFound(run_id)
        return file_response(run)

    def file_response(run: RunRecord) -> StreamingResponse:
        """The run's result file as an attachment, or why there is none."""
        return result_file_response(engine, service.downloadable(run))

    return router


# -- helpers ----------------------------------------------------------------------------------


def _max_upload_bytes(engine: Jobport, job_type: JobType) -> int:
    return engine.dispatcher.limits_for(job_type).max_file_bytes or engine.settings.max_upload_bytes


def _store_upload(engine: Jobport, stream: Any, filename: str | None, job_type: JobType) -> str:
    return engine.dispatcher.store_upload(stream, filename, job_type=job_type)


def _a(kind: str) -> str:
    """Refusals name a type's kind in a sentence: "an import" but "a sync", "a report"."""
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def _json_object(text: str | None, name: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InputError(f"'{name}' must be a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise InputError(f"'{name}' must be a JSON object, not {type(value).__name__}")
    return value
