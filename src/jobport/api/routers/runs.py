"""Runs: the history, one run, the rows it rejected, and stopping or continuing it.

A non-admin sees and acts on their own runs only; another user's run answers
404 with the very body a missing run gets (the service's rule), so run ids
cannot be probed.
"""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Literal, NamedTuple

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from jobport.api.conditional import entity_tag, tagged_body, tagged_json
from jobport.api.context import (
    MAX_OFFSET,
    ApiContext,
    Caller,
    Context,
    Service,
    accepted,
    base,
    called,
    caller_recorder,
    current_caller,
)
from jobport.api.cursors import cursor_after, position
from jobport.api.schemas import FailureOut, FailurePage, RunOut, RunPage
from jobport.errors import InputError, PermissionDenied, listed, shown
from jobport.http.auth import TokenPrincipal
from jobport.http.downloads import error_report_response
from jobport.http.problems import responses
from jobport.kinds import KINDS
from jobport.principal import Principal
from jobport.service import JobService, aware
from jobport.store import RunFilter, RunRecord
from jobport.store.records import RUN_STATUSES
from jobport.store.run_reads import Rows, RunReads, lean_reads

router = APIRouter()


@router.get(
    "/jobs",
    summary="Run history, newest first",
    description="Non-admins see their own runs; only admins may filter by `owner`.",
    responses=responses(401, 403, 422),
    response_model=RunPage,
)
def list_jobs(
    request: Request,
    caller: Caller,
    service: Service,
    kind: Annotated[str | None, Query(description=", ".join(KINDS.names()))] = None,
    type: Annotated[str | None, Query(description="A job type (`GET /job-types`).")] = None,
    status: Annotated[str | None, Query(description=", ".join(RUN_STATUSES))] = None,
    owner: str | None = None,
    since: Annotated[datetime | None, Query(description="Created at or after.")] = None,
    until: Annotated[datetime | None, Query(description="Created before.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    after: Annotated[
        str | None,
        Query(max_length=200, description="The `next` of the previous page; not with `offset`."),
    ] = None,
) -> Response:
    if owner is not None and not caller.can_see(owner):
        raise PermissionDenied("only admins can list other users' runs")
    _one_way_of_paging(request, after)
    _refuse_unknown_words(kind, status)
    filters = RunFilter(
        kind=kind,
        type=type,
        status=status,
        owner=owner,
        since=aware(since) if since else None,
        until=aware(until) if until else None,
        after=position(after) if after else None,
    )
    runs, total = service.history(caller, filters, limit=limit, offset=offset)
    if not total and type is not None:
        _refuse_unknown_type(service, caller, type)
    prefix = base(request)
    page = RunPage.model_construct(
        items=[RunOut.of(run, prefix) for run in runs],
        total=total,
        limit=limit,
        offset=offset,
        next=cursor_after(runs[-1]) if len(runs) == limit else None,
    )
    # Serialised once by the model's serialiser: the values are the store's, already typed.
    return Response(page.model_dump_json().encode(), media_type="application/json")


def _refuse_unknown_words(kind: str | None, status: str | None) -> None:
    """Refuse a kind or status no run can have, listing those it can (a typo would
    otherwise answer an empty page)."""
    if status is not None and status not in RUN_STATUSES:
        raise InputError(f"unknown status '{shown(status)}'; use one of: {', '.join(RUN_STATUSES)}")
    if kind is not None and kind not in KINDS.names():
        raise InputError(f"unknown kind '{shown(kind)}'; use one of: {', '.join(KINDS.names())}")


def _refuse_unknown_type(service: JobService, caller: Principal, name: str) -> None:
    """Refuse, once nothing matched, a type the app does not have and the caller has no
    run of (one removed from the app still filters the runs it left). Asked only of an
    empty page, so a history that found runs costs no lookup more."""
    known = [t.type for t in service.job_types()]
    if name in known or service.history(caller, RunFilter(type=name), limit=1)[1] > 0:
        return
    raise InputError(
        f"unknown job type '{shown(name)}'; use one of: {listed(sorted(known)) or 'none'}"
    )


def _one_way_of_paging(request: Request, after: str | None) -> None:
    """Refuse ``offset`` beside ``after``: a page starts after a cursor or at an offset."""
    if after is not None and "offset" in request.query_params:
        raise InputError(
            "'offset' and 'after' are two ways of paging: send the previous page's `next` "
            "as 'after' without 'offset', or page by 'offset' alone"
        )


@router.get(
    "/jobs/{run_id}",
    summary="One run",
    description=(
        "Carries an `ETag`; send it back in `If-None-Match` to get an empty 304 while the "
        "run is unchanged."
    ),
    responses={**responses(401, 404), 304: {"description": "Not modified"}},
    response_model=RunOut,
)
def get_job(run_id: str, request: Request) -> Response:
    context, caller = called(request)
    return _run_json(request, context, caller, run_id)


def _run_json(request: Request, context: ApiContext, caller: Principal, run_id: str) -> Response:
    """The run as ``caller`` may see it (else the missing run's 404), tagged for 304s."""
    return _tagged_run(request, context.service.run(caller, run_id))


def _tagged_run(request: Request, run: RunRecord) -> Response:
    out = RunOut.of(run, base(request))
    return tagged_json(request, out.model_dump_json().encode(), out.seq)


def fast_run_read(
    context: ApiContext, tokens: TokenPrincipal
) -> Callable[[Request], Awaitable[Response]]:
    """The run read as a plain endpoint, outside FastAPI's dependency solving, for jobport's
    tokens: ``create_router`` mounts it at ``GET /jobs/{run_id}``.

    Every progress bar polls this read. FastAPI's per-request work around it
    (solving the route's two dependencies and the caller's, parameter handling)
    was about a quarter of its CPU (in-process, 0.94 -> 0.71 ms a read without
    it, against 0.11 ms for ``/api/health``); this plain route does the same
    steps itself: the caller from the very :class:`TokenPrincipal` the other
    routes use (same cache, same throttle, same 401), then the same body and
    tag as :func:`_run_json`. Errors are the app's problem+json handlers' as
    for any route. Mounted ahead of :func:`get_job`, which stays for the API's
    schema and serves instead when an application brings its own principal
    dependency.

    On SQLite in WAL mode the run is read on the event loop itself, through
    the sqlite3 module (:mod:`jobport.store.run_reads`: ~0.03 ms, never
    waiting for a lock), not in the thread pool through SQLAlchemy: the pool's
    round trip, behind the interpreter's lock of every busy thread, was the
    read's latency tail. That read serves only a run the caller may see; any
    other answer (a missing run, someone else's, a start not recorded yet, a
    read that met a lock) comes from the service's read in the thread pool as
    before, so its rules alone decide every refusal.
    """

    record = caller_recorder(tokens)
    reads = lean_reads(context.engine.store.engine)
    shown = _ShownRuns()

    async def read_run(request: Request) -> Response:
        await record(request, await tokens(request))
        caller = await current_caller(request)  # as the Caller dependency gives it
        run_id = request.path_params["run_id"]
        rows = reads.rows(run_id) if reads is not None else None
        if reads is not None and rows is not None:
            run = shown.of(request, reads, rows)
            if caller.can_see(run.owner):
                return tagged_body(request, run.body, run.tag)
        return await run_in_threadpool(_run_json, request, context, caller, run_id)

    return read_run


class _Shown(NamedTuple):
    """A run's JSON as the lean read built it, from ``rows`` under ``prefix``."""

    rows: Rows
    prefix: str
    owner: str | None
    body: bytes
    tag: str


class _ShownRuns:
    """The last JSON built for each run polled, kept while its rows stay the same.

    Most polls find their run unchanged, and equal rows make the same body
    and tag (:meth:`RunReads.rows`): comparing the rows costs less than
    typing them, building the model and hashing its JSON (~0.08 ms of a
    ~0.25 ms read, in-process). The body depends on the rows and the API's
    prefix only; who may see it is checked on every read, against the owner.
    """

    #: Runs remembered before the memory is cleared (a few MB at most).
    ENTRIES = 1024

    def __init__(self) -> None:
        self.runs: dict[str, _Shown] = {}
        #: The API's prefix under each root path (``base`` walks every route to find it).
        self.prefixes: dict[str, str] = {}

    def of(self, request: Request, reads: RunReads, rows: Rows) -> _Shown:
        root = request.scope.get("root_path", "")
        prefix = self.prefixes.get(root)
        if prefix is None:
            prefix = self.prefixes[root] = base(request)
        run_id = rows[0][0]
        known = self.runs.get(run_id)
        if known is not None and known.rows == rows and known.prefix == prefix:
            return known
        run = reads.record(rows)
        body = RunOut.of(run, prefix).model_dump_json().encode()
        made = _Shown(rows, prefix, run.owner, body, entity_tag(body, run.seq))
        if len(self.runs) >= self.ENTRIES:
            self.runs.clear()
        self.runs[run_id] = made
        return made


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
    context: Context,
    format: Literal["json", "csv"] = "json",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response | FailurePage:
    service = context.service
    if format == "csv":
        return error_report_response(service, caller, run_id)
    items, total = service.failures(caller, run_id, limit=limit, offset=offset)
    return FailurePage(
        items=[FailureOut(**item) for item in items], total=total, limit=limit, offset=offset
    )


@router.post("/jobs/{run_id}/cancel", summary="Stop a run", responses=responses(401, 404, 409))
def cancel_job(run_id: str, request: Request, caller: Caller, service: Service) -> RunOut:
    return RunOut.of(service.cancel(caller, run_id), base(request))


@router.post(
    "/jobs/{run_id}/retry",
    status_code=202,
    summary="Run the failed chunks of a run again",
    responses=responses(401, 404, 409),
)
def retry_job(
    run_id: str, request: Request, response: Response, caller: Caller, service: Service
) -> RunOut:
    return accepted(request, response, service.retry(caller, run_id))


@router.post(
    "/jobs/{run_id}/resume",
    status_code=202,
    summary="Continue a stopped run from its unfinished chunks",
    responses=responses(401, 404, 409),
)
def resume_job(
    run_id: str, request: Request, response: Response, caller: Caller, service: Service
) -> RunOut:
    return accepted(request, response, service.resume(caller, run_id))


@router.post(
    "/jobs/{run_id}/import",
    status_code=202,
    summary="Import what a dry run checked",
    description=(
        "Starts the real import of a completed dry run (`dry_run=true` on "
        "`POST /imports/{type}`): the same type, options, read options, mapping and "
        "thresholds over the file already stored, planned as the dry run was, without "
        "sending it again. A dry run is imported once (409 after); 410 once its file is "
        "no longer stored."
    ),
    responses=responses(401, 403, 404, 409, 410, 422),
)
def import_dry_run(
    run_id: str, request: Request, response: Response, caller: Caller, service: Service
) -> RunOut:
    return accepted(request, response, service.start_from_dry_run(caller, run_id))
