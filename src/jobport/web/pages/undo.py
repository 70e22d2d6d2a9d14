"""Undoing a run from the dashboard, and the run page's Activity list.

The run page offers "Undo this import" on a finished run of an undoable type
(:func:`undo_offer`), or says why it cannot be undone; the button leads to a
confirmation page showing what :meth:`Undoing.preview` says (rows restored,
deleted, inserted again, later runs over the same rows) with a "restore
anyway" box, whose CSRF-checked post starts the undo run and goes to its page.
The rules (who may, which runs, how old) are :class:`~jobport.undoing.Undoing`'s.

:func:`activity` is the run's audit trail, newest first, for its page.
"""

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from jobport.audit import Action, AuditEntry
from jobport.errors import RunStateError
from jobport.store import RunRecord
from jobport.undoing import UNDOABLE_KINDS, Undoing
from jobport.web.context import Dashboard, Site, Viewer
from jobport.web.errors import DashboardRoute
from jobport.web.session import CSRF_FIELD, CSRF_HEADER
from jobport.web.starts import see_run
from jobport.web.viewer import Signed, form_of, require_csrf

#: How many audit entries the run page lists (the newest).
ACTIVITY_ROWS = 50

#: How each action reads in the Activity list.
ACTION_WORDS = {
    Action.STARTED: "started",
    Action.CANCELLED: "cancelled",
    Action.RETRIED: "retried failed chunks",
    Action.RESUMED: "resumed",
    Action.UNDID: "undid",
    Action.DOWNLOADED: "downloaded",
    Action.SHARED: "shared a link",
}

router = APIRouter(route_class=DashboardRoute)


@router.get("/runs/{run_id}/undo", name="dashboard_undo")
def undo_page(request: Request, run_id: str, site: Site, who: Signed) -> Response:
    """The confirmation: what the undo would do, or why the run cannot be undone (409)."""
    undoing = Undoing(site.service)
    run = site.service.run(who.principal, run_id)
    context: dict[str, Any] = {"run": run, "label": site.label_of(run.type)}
    try:
        preview = undoing.preview(who.principal, run.id)
    except RunStateError as refused:
        context |= {"preview": None, "refusal": str(refused)}
        return site.render(request, "undo.html", who, 409, nav="history", **context)
    context |= {"preview": preview, "refusal": None}
    return site.render(request, "undo.html", who, nav="history", **context)


@router.post("/runs/{run_id}/undo/start", name="dashboard_undo_start")
async def undo_start(request: Request, run_id: str, site: Site, who: Signed) -> Response:
    """Start the undo run (``force``: rows changed since are overwritten) and show it."""
    form = await form_of(request)
    require_csrf(who, form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER))
    force = form.get("force") == "true"
    undoing = Undoing(site.service)
    started = await run_in_threadpool(lambda: undoing.undo(who.principal, run_id, force=force))
    return see_run(request, started.id)


def undo_offer(site: Dashboard, who: Viewer, run: RunRecord) -> dict[str, Any]:
    """What the run page says of undoing the run: nothing for a run that keeps no undo
    log (an export, a dry run, one still active), else the button or the reason it is not.

    Asked once the run has finished only: the live section stops refreshing then, so the
    check is made once per page view, not every second.
    """
    if run.kind not in UNDOABLE_KINDS or run.dry_run or not run.finished:
        return {"undo_offer": None}
    try:
        preview = Undoing(site.service).preview(who.principal, run.id)
    except RunStateError as refused:
        return {"undo_offer": {"refusal": str(refused)}}
    summary = preview.summary
    return {
        "undo_offer": {
            "refusal": None,
            "text": "Undo this import" if run.kind == "import" else "Undo this undo (redo)",
            "changes": summary.restored + summary.deleted + summary.reinserted,
        }
    }


def activity(site: Dashboard, who: Viewer, run: RunRecord) -> dict[str, Any]:
    """The run's audit entries, newest first, at most :data:`ACTIVITY_ROWS`."""
    entries = Undoing(site.service).audit(who.principal, run_id=run.id, limit=ACTIVITY_ROWS)
    return {"activity": [shown(entry) for entry in entries]}


def shown(entry: AuditEntry) -> dict[str, Any]:
    """One audit entry as the Activity list reads it: when, who, from where, what."""
    detail = entry.detail
    what = ACTION_WORDS.get(entry.action, str(entry.action))
    extra = []
    if entry.action == Action.STARTED:
        what = f"started the {detail.get('kind') or 'run'}"
        if detail.get("dry_run"):
            extra.append(("from dry run", detail["dry_run"]))
        if detail.get("fixes"):
            extra.append(("fixing run", detail["fixes"]))
    elif entry.action == Action.UNDID:
        what = "undid it" + (", restoring changed rows anyway" if detail.get("force") else "")
        if detail.get("undo_run"):
            extra.append(("undo run", detail["undo_run"]))
    elif entry.action == Action.DOWNLOADED:
        what = f"downloaded the {detail.get('file') or 'file'}"
    return {
        "at": entry.at,
        "actor": entry.to_dict()["actor"],
        "via": entry.via,
        "what": what,
        "links": extra,
    }
