"""The schedules page: what starts on its own, when it runs next, how its last run went.

Schedules are added with ``jobport schedules add`` or ``POST /api/schedules``;
here they are listed (a user's own, every one for an admin) and paused,
resumed or removed.
"""

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from jobport.schedules.timing import Timing
from jobport.web.context import Site
from jobport.web.errors import DashboardRoute
from jobport.web.session import CSRF_FIELD
from jobport.web.viewer import Signed, form_of, require_csrf

router = APIRouter(route_class=DashboardRoute)


@router.get("/schedules", name="dashboard_schedules")
def schedules_page(request: Request, site: Site, who: Signed) -> Response:
    book = site.service.schedules
    found = book.visible(who.principal)
    runs = book.last_runs(found)
    items = [(s, runs.get(s.last.run_id or "") if s.last else None, Timing.of(s)) for s in found]
    return site.render(
        request, "schedules.html", who, nav="schedules", items=items, labels=site.labels()
    )


@router.post("/schedules/{name}/{action}", name="dashboard_schedule_action")
async def schedule_action(
    request: Request, name: str, action: str, site: Site, who: Signed
) -> Response:
    form = await form_of(request)
    require_csrf(who, form.get(CSRF_FIELD))
    book = site.service.schedules
    act = {"pause": book.pause, "resume": book.resume, "remove": book.remove}.get(action)
    if act is None:
        act = book.get  # an unknown action changes nothing: back to the list
    await run_in_threadpool(act, who.principal, name)
    return RedirectResponse(request.url_for("dashboard_schedules").path, 303)
