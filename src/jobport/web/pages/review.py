"""The review grid: an import's rejected rows, fixed in place and imported as a linked run.

The page lists the rows a finished import rejected, in pages of
:data:`REVIEW_PAGE` read on the server, each failing cell marked with its
message. A cell edited in the grid is sent (htmx) when the user leaves it; the
server validates the whole row with the type's row model and answers with the
row re-rendered: green once it passes. A row can be dropped; bulk fixes change
a column of every row the filters select, after a preview of how many rows
they touch; "Import the fixes" starts the linked run and opens its page.
Everything also works as plain forms (a row's Save button, the bulk form's
buttons), and every form carries the session's CSRF token.

The rules are :class:`~jobport.fixes.FixService`'s: another user's run answers
404, edits are the user's own.
"""

import math
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from jobport.errors import JobportError
from jobport.fixes import (
    OPERATIONS,
    ROW_STATES,
    BulkFix,
    FixService,
    ReviewRow,
    RowFilter,
)
from jobport.fixes.bulk import MAX_PATTERN
from jobport.web.context import Dashboard, Site, Viewer
from jobport.web.errors import DashboardRoute
from jobport.web.session import CSRF_FIELD, CSRF_HEADER
from jobport.web.viewer import Signed, form_of, require_csrf

REVIEW_PAGE = 50
#: Row states as the filter offers them.
STATE_LABELS = {
    "all": "All rows",
    "open": "Still failing",
    "fixed": "Fixed, not imported yet",
    "dropped": "Dropped",
    "imported": "Imported by a fix run",
}
#: The fields of the bulk form that make a :class:`BulkFix` (``regex`` is a checkbox).
BULK_FIELDS = ("column", "op", "find", "replace", "value", "date_format")
#: The prefix of a cell's form field: ``cell.<column>``.
CELL = "cell."

router = APIRouter(route_class=DashboardRoute)


def fixes(site: Dashboard) -> FixService:
    return FixService(site.service)


@router.get("/runs/{run_id}/review", name="dashboard_review")
def review_page(
    request: Request,
    run_id: str,
    site: Site,
    who: Signed,
    column: str = "",
    contains: str = "",
    state: str = "all",
    order: str = "line",
    page: int = 1,
    applied: int | None = None,
    discarded: int | None = None,
) -> Response:
    view = view_of({"column": column, "contains": contains, "state": state, "order": order})
    notices = []
    if applied is not None:
        notices.append(f"The bulk fix changed {applied:,} row{'s' if applied != 1 else ''}.")
    if discarded is not None:
        notices.append(
            f"Your edits of {discarded:,} row{'s' if discarded != 1 else ''} were discarded."
        )
    return render_page(request, site, who, run_id, view, max(1, page), notices=notices)


@router.get("/runs/{run_id}/review/summary", name="dashboard_review_summary")
def review_summary(request: Request, run_id: str, site: Site, who: Signed) -> Response:
    """The run page's part on its rejected rows: the link to the grid, what was fixed."""
    summary = fixes(site).summary(who.principal, run_id)
    return site.render(request, "_review_summary.html", who, summary=summary)


@router.post("/runs/{run_id}/review/rows/{failure_id}", name="dashboard_review_row")
async def review_row(
    request: Request, run_id: str, failure_id: int, site: Site, who: Signed
) -> Response:
    """Save a row's cells (or drop / restore it); htmx gets the row back, a form the grid."""
    form = await form_of(request)
    require_csrf(who, form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER))
    cells = {k[len(CELL) :]: v for k, v in form.items() if k.startswith(CELL)}
    dropped = {"drop": True, "restore": False}.get(form.get("action", "save"))
    service = fixes(site)
    if not is_htmx(request):
        await run_in_threadpool(
            service.edit, who.principal, run_id, failure_id, cells=cells, dropped=dropped
        )
        return RedirectResponse(_back(request, run_id, form.get("back", "")), status_code=303)
    try:
        row = await run_in_threadpool(
            service.edit, who.principal, run_id, failure_id, cells=cells, dropped=dropped
        )
        run, counts = await run_in_threadpool(service.counts, who.principal, run_id)
    except JobportError as exc:
        return _status_fragment(request, site, who, exc.message)
    back = form.get("back", "")
    return site.render(
        request,
        "_review_row.html",
        who,
        saved=row,
        run=run,
        page={"counts": counts},
        oob_counts=True,
        status_message=saved_message(row),
        **_urls(request, run_id, back if back.startswith("?") else ""),
    )


@router.post("/runs/{run_id}/review/bulk", name="dashboard_review_bulk")
async def review_bulk(request: Request, run_id: str, site: Site, who: Signed) -> Response:
    """Preview (count) or apply a bulk fix to the rows of the view the form carries."""
    form = await form_of(request)
    require_csrf(who, form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER))
    view = view_of({k.removeprefix("view_"): v for k, v in form.items() if k.startswith("view_")})
    values: dict[str, object] = {k: form.get(k, "") for k in BULK_FIELDS}
    values["regex"] = form.get("regex") == "true"
    preview = form.get("action") != "apply"
    htmx = is_htmx(request)
    shown_with = {"form": form, **_urls(request, run_id, "")}
    try:
        fix = BulkFix.checked(values)
        found = await run_in_threadpool(
            fixes(site).bulk, who.principal, run_id, fix, filter_of(view), preview=preview
        )
    except JobportError as exc:
        if htmx:
            return site.render(request, "_review_bulk.html", who, bulk_error=exc.message)
        return await run_in_threadpool(
            render_page,
            request,
            site,
            who,
            run_id,
            view,
            1,
            bulk_error=exc.message,
            form=form,
            status_code=exc.status_code,
        )
    if preview and htmx:
        return site.render(request, "_review_bulk.html", who, bulk=found, **shown_with)
    if preview:
        return await run_in_threadpool(
            render_page, request, site, who, run_id, view, 1, bulk=found, form=form
        )
    target = _view_url(request, run_id, view, applied=found.changed)
    if htmx:
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


@router.post("/runs/{run_id}/review/discard", name="dashboard_review_discard")
async def review_discard(request: Request, run_id: str, site: Site, who: Signed) -> Response:
    """Forget the user's edits of the run (the imported ones stay as they were)."""
    form = await form_of(request)
    require_csrf(who, form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER))
    count = await run_in_threadpool(fixes(site).discard, who.principal, run_id)
    return RedirectResponse(_view_url(request, run_id, {}, discarded=count), status_code=303)


@router.post("/runs/{run_id}/review/import", name="dashboard_review_import")
async def review_import(request: Request, run_id: str, site: Site, who: Signed) -> Response:
    """Start the run that imports the user's fixed rows, and open its page."""
    form = await form_of(request)
    require_csrf(who, form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER))
    started = await run_in_threadpool(fixes(site).start_fix_run, who.principal, run_id)
    return RedirectResponse(request.url_for("dashboard_run", run_id=started.id).path, 303)


# -- rendering --------------------------------------------------------------------------------


def render_page(
    request: Request,
    site: Dashboard,
    who: Viewer,
    run_id: str,
    view: dict[str, str],
    page_no: int,
    *,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    """The grid's page for one view and page number (``extra``: notices, a bulk result)."""
    offset = (page_no - 1) * REVIEW_PAGE
    found = fixes(site).page(
        who.principal, run_id, filter_of(view), limit=REVIEW_PAGE, offset=offset
    )
    run = found.shape.run
    kept = view_query(view)
    failing = [c.column for r in found.rows for c in r.cells if c.message]
    return site.render(
        request,
        "review.html",
        who,
        nav="history",
        status_code=status_code,
        run=run,
        label=site.label_of(run.type),
        page=found,
        view=view,
        view_query=kept,
        page_no=page_no,
        pages=max(1, math.ceil(found.total / REVIEW_PAGE)),
        page_link=lambda n: "?" + urlencode({**kept, "page": n}),
        states=STATE_LABELS,
        operations=OPERATIONS,
        max_pattern=MAX_PATTERN,
        bulk_column=view["column"] or (failing[0] if failing else ""),
        **{"form": {}, "bulk": None, "bulk_error": None, "notices": [], **extra},
        **_urls(request, run.id, "?" + urlencode({**kept, "page": page_no})),
    )


def saved_message(row: ReviewRow) -> str:
    """What the status line says once a row is saved (read out by screen readers)."""
    line = row.original_line if row.original_line is not None else "—"
    if row.state == "dropped":
        return f"Line {line} dropped."
    if row.state == "fixed":
        return f"Line {line} fixed."
    problems = "; ".join(
        f"{e['column']}: {e['message']}" if e["column"] else e["message"] for e in row.errors
    )
    return f"Line {line} still fails: {problems}"


def _status_fragment(request: Request, site: Dashboard, who: Viewer, message: str) -> Response:
    """A refusal for the grid's status line, in place of the row an htmx save asked for."""
    response = site.render(
        request, "_review_status.html", who, message=message, error=True, oob=False
    )
    response.headers["HX-Retarget"] = "#review-status"
    response.headers["HX-Reswap"] = "outerHTML"
    return response


def _urls(request: Request, run_id: str, here: str) -> dict[str, Any]:
    """The addresses the grid's templates post to; ``here`` is the view's own query."""

    # One route lookup for every row of the page (a lookup per cell cost 100 ms a page).
    rows = request.url_for("dashboard_review_row", run_id=run_id, failure_id=0).path[:-1]

    def row_url(failure_id: int) -> str:
        return f"{rows}{failure_id}"

    return {
        "here": here,
        "row_url": row_url,
        "bulk_url": request.url_for("dashboard_review_bulk", run_id=run_id).path,
        "import_url": request.url_for("dashboard_review_import", run_id=run_id).path,
        "discard_url": request.url_for("dashboard_review_discard", run_id=run_id).path,
        "review_url": request.url_for("dashboard_review", run_id=run_id).path,
        "run_url": request.url_for("dashboard_run", run_id=run_id).path,
    }


def view_of(values: dict[str, str]) -> dict[str, str]:
    """The view a query or a form asks for, cleaned: unknown states and orders dropped."""
    state = values.get("state") or "all"
    order = values.get("order") or "line"
    return {
        "column": (values.get("column") or "")[:1_000],
        "contains": (values.get("contains") or "")[:MAX_PATTERN],
        "state": state if state in ROW_STATES else "all",
        "order": order if order in ("line", "-line") else "line",
    }


def view_query(view: dict[str, str]) -> dict[str, str]:
    """A view's query parameters, without the defaults."""
    defaults = {"state": "all", "order": "line"}
    return {k: v for k, v in view.items() if v and defaults.get(k) != v}


def filter_of(view: dict[str, str]) -> RowFilter:
    state = view.get("state", "all")
    return RowFilter(
        column=view.get("column") or None,
        contains=view.get("contains") or None,
        state=state if state in ROW_STATES else "all",
        descending=view.get("order") == "-line",
    )


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _view_url(request: Request, run_id: str, view: dict[str, str], **notice: int) -> str:
    query = urlencode({**view_query(view), **notice})
    return request.url_for("dashboard_review", run_id=run_id).path + (f"?{query}" if query else "")


def _back(request: Request, run_id: str, back: str) -> str:
    """Where a plain form returns: the grid's page it came from (a query of ours only)."""
    base = request.url_for("dashboard_review", run_id=run_id).path
    return base + back if back.startswith("?") and not any(c in back for c in "\r\n") else base


__all__ = ["REVIEW_PAGE", "router"]
