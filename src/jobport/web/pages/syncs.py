"""The sync page: start a sync after its stored cursor, or from the beginning."""

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from jobport.errors import InputError
from jobport.registry import JobType
from jobport.web import forms
from jobport.web.context import Dashboard, Site, Viewer
from jobport.web.errors import DashboardRoute
from jobport.web.runview import always_full
from jobport.web.session import CSRF_FIELD
from jobport.web.starts import chosen_type, options_form, see_run
from jobport.web.viewer import Signed, form_of, require_csrf

router = APIRouter(route_class=DashboardRoute)


@router.get("/sync", name="dashboard_sync")
def sync_page(request: Request, site: Site, who: Signed, type: str | None = None) -> Response:
    job_type = chosen_type(site.service, who.principal, type, "sync")
    return site.render(request, "sync.html", who, **sync_context(site, who, job_type))


@router.get("/sync/fields", name="dashboard_sync_fields")
def sync_fields(request: Request, site: Site, who: Signed, type: str | None = None) -> Response:
    job_type = chosen_type(site.service, who.principal, type, "sync")
    return site.render(request, "_sync_fields.html", who, **sync_context(site, who, job_type))


def sync_context(
    site: Dashboard,
    who: Viewer,
    job_type: JobType | None,
    *,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "nav": "sync",
        "job_type": job_type,
        "choices": site.service.startable_types(who.principal, "sync"),
        "always_full": job_type is not None and always_full(job_type),
        **options_form(job_type, values or {}, errors),
    }


@router.post("/sync/start", name="dashboard_sync_start")
async def sync_start(request: Request, site: Site, who: Signed) -> Response:
    form = await form_of(request)
    require_csrf(who, form.get(CSRF_FIELD))
    job_type = await run_in_threadpool(
        chosen_type, site.service, who.principal, form.get("type"), "sync"
    )
    if job_type is None:
        raise InputError("there is no sync type you may start")
    options = forms.read_options(job_type.options_json_schema(), form)
    errors = forms.validate(job_type.options, options)
    if errors:
        context = sync_context(site, who, job_type, values=form, errors=errors)
        return site.render(request, "sync.html", who, 422, **context)
    # What `jobport sync --full` asks for: the plan ignores the stored cursor.
    full = bool(form.get("full"))
    run = await run_in_threadpool(
        site.service.start_sync, who.principal, job_type.type, options=options, full=full
    )
    return see_run(request, run.id)
