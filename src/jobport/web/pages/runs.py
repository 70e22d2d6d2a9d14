"""One run: its page, the live section that refreshes it, its rejected rows and error
report, the Cancel/Retry/Resume actions, a dry run's "Import it", and the WebSocket
that says when to refresh.

Every read goes through the service, so another user's run answers 404 like a
missing one (:meth:`JobService.run`).
"""

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, WebSocket
from starlette.concurrency import run_in_threadpool

from jobport.errors import RunNotFound
from jobport.http.downloads import error_report_response
from jobport.http.live import send_to_websocket
from jobport.lifecycle import COMPLETED_STATUSES, ChunkStatus, RunStatus
from jobport.principal import Principal
from jobport.store import RunRecord
from jobport.store.records import CHUNK_STATUSES
from jobport.web import runview
from jobport.web.context import Dashboard, Site, Viewer
from jobport.web.errors import DashboardRoute
from jobport.web.pages.downloads import download_path
from jobport.web.pages.undo import activity, undo_offer
from jobport.web.session import CSRF_FIELD, CSRF_HEADER, same_origin
from jobport.web.starts import see_run
from jobport.web.viewer import Signed, form_of, require_csrf, socket_caller

FAILURES_PAGE = 25

router = APIRouter(route_class=DashboardRoute)


@router.get("/runs/{run_id}", name="dashboard_run")
def run_page(request: Request, run_id: str, site: Site, who: Signed, failures: int = 1) -> Response:
    run = site.service.run(who.principal, run_id)
    context = run_context(request, site, who, run)
    context |= failures_context(request, site, who, run, max(1, failures))
    context |= activity(site, who, run)
    return site.render(request, "run.html", who, nav="history", **context)


@router.get("/runs/{run_id}/live", name="dashboard_run_live")
def run_live(request: Request, run_id: str, site: Site, who: Signed) -> Response:
    """The live section, and the rejected rows swapped in out of band from the same
    request, so the list never says "none so far" beside a bar counting rejections."""
    run = site.service.run(who.principal, run_id)
    context = run_context(request, site, who, run)
    if context["shows_rejected"]:
        context |= failures_context(request, site, who, run, 1) | {"oob_failures": True}
    return site.render(request, "_run_live.html", who, **context)


@router.get("/runs/{run_id}/failures", name="dashboard_run_failures")
def run_failures(request: Request, run_id: str, site: Site, who: Signed, page: int = 1) -> Response:
    run = site.service.run(who.principal, run_id)
    context = failures_context(request, site, who, run, max(1, page))
    return site.render(request, "_failures.html", who, **context)


@router.get("/runs/{run_id}/report.csv", name="dashboard_run_report")
def run_report(run_id: str, site: Site, who: Signed) -> Response:
    return error_report_response(site.service, who.principal, run_id)


@router.post("/runs/{run_id}/{action}", name="dashboard_run_action")
async def run_action(
    request: Request, run_id: str, action: str, site: Site, who: Signed
) -> Response:
    form = await form_of(request)
    require_csrf(who, form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER))
    service = site.service
    if action == "import":  # a dry run's "Import it": to the page of the run it started
        started = await run_in_threadpool(service.start_from_dry_run, who.principal, run_id)
        return see_run(request, started.id)
    act = {"cancel": service.cancel, "retry": service.retry, "resume": service.resume}.get(action)
    if act is None:
        raise RunNotFound(run_id)
    await run_in_threadpool(act, who.principal, run_id)
    return see_run(request, run_id)


@router.websocket("/runs/{run_id}/ws", name="dashboard_run_ws")
async def run_ws(
    websocket: WebSocket,
    run_id: str,
    site: Site,
    caller: Annotated[Principal | None, Depends(socket_caller)],
) -> None:
    """The run's live events for its page, authenticated by the session cookie.

    The API's WebSocket wants the bearer token, which the browser does not
    hold: the cookie stands in (or the application's own ``principal``
    dependency, which sees the application's cookie), and ``Origin`` must
    be this host (a cross-site page cannot open it with the user's cookie).
    """
    if not same_origin(websocket):
        await websocket.close(4403)
        return
    try:
        if caller is None:
            raise RunNotFound(run_id)
        run = await run_in_threadpool(site.service.run, caller, run_id)
    except RunNotFound:
        await websocket.close(4404)
        return
    if run.strategy != "websocket":
        await websocket.close(4409)
        return
    await websocket.accept()
    store = site.service.store
    await send_to_websocket(websocket, store, site.feed, run.id, idle_seconds=site.idle_seconds)


def run_context(request: Request, site: Dashboard, who: Viewer, run: RunRecord) -> dict[str, Any]:
    """What the run page and its live section show of the run and its chunks."""
    chunks = runview.as_shown(site.service.chunks(who.principal, run.id), run)
    counts = dict.fromkeys((*CHUNK_STATUSES, runview.STOPPING), 0)
    for chunk in chunks:
        counts[chunk["status"]] = counts.get(chunk["status"], 0) + 1
    stopped = run.status in (RunStatus.FAILED, RunStatus.CANCELLED)
    registry = site.service.registry
    return {
        "run": run,
        "sync_from": runview.sync_from(
            run, registry.get(run.type) if run.type in registry else None
        ),
        "awaiting_file": runview.awaiting_file(run),
        "file_problem": runview.file_problem(run),
        "summary": runview.report_summary(run),
        "shows_rejected": runview.shows_rejected(run),
        "label": site.label_of(run.type),
        "progress": runview.progress(run),
        "grid": runview.grid(chunks),
        "chunk_counts": {k: v for k, v in counts.items() if v},
        "settling": counts[runview.STOPPING] > 0,
        "failed_chunks": [c for c in chunks if c["errors"]] if who.principal.is_admin else [],
        "can_cancel": not run.finished,
        # Retry runs the failed chunks again; Resume also the cancelled ones: each
        # button is offered only when it would do something the other does not.
        "can_retry": stopped and counts[ChunkStatus.FAILED] > 0,
        "can_resume": stopped and counts[ChunkStatus.CANCELLED] > 0,
        **import_outcome(run),
        **undo_offer(site, who, run),
        "result": runview.result_link(site.service, run, download_path(request, run.id)),
        "live_url": request.url_for("dashboard_run_live", run_id=run.id).path,
        "ws_path": request.url_for("dashboard_run_ws", run_id=run.id).path,
        "failures_url": request.url_for("dashboard_run_failures", run_id=run.id).path,
    }


def import_outcome(run: RunRecord) -> dict[str, Any]:
    """An import's rows by what happened to them (a dry run's: would happen), the valid
    rows of a dry run, and whether it can be imported (completed, not imported yet)."""
    if run.kind != "import":
        return {"counts": None, "valid": None, "can_import": False, "imported_as": None}
    counts = None
    if run.created is not None:
        counts = {"created": run.created, "updated": run.updated or 0}
        counts["unchanged"] = run.unchanged or 0
    imported_as = (run.result or {}).get("imported_as") if run.dry_run else None
    return {
        "counts": counts,
        "valid": max(0, run.processed - run.failed),
        "can_import": run.dry_run and run.status in COMPLETED_STATUSES and not imported_as,
        "imported_as": imported_as,
    }


def failures_context(
    request: Request, site: Dashboard, who: Viewer, run: RunRecord, page_no: int
) -> dict[str, Any]:
    """One page of the run's rejected rows, each with the value its error is about."""
    items, total = site.service.failures(
        who.principal, run.id, limit=FAILURES_PAGE, offset=(page_no - 1) * FAILURES_PAGE
    )
    for item in items:
        raw = item.get("raw") or {}
        item["value"] = raw.get(item.get("column") or "", "") if item.get("column") else ""
    return {
        "run": run,
        "failures": items,
        "failures_total": total,
        "failures_page": page_no,
        "failures_pages": max(1, math.ceil(total / FAILURES_PAGE)),
        "failures_url": request.url_for("dashboard_run_failures", run_id=run.id).path,
        "report_url": request.url_for("dashboard_run_report", run_id=run.id).path,
    }
