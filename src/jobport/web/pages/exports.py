"""The export page: start an export or a report (a run whose result is a file)."""

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from jobport.errors import InputError
from jobport.registry import JobType
from jobport.web import forms
from jobport.web.context import Dashboard, Site, Viewer
from jobport.web.errors import DashboardRoute
from jobport.web.session import CSRF_FIELD
from jobport.web.starts import chosen_type, options_form, see_run
from jobport.web.viewer import Signed, form_of, require_csrf

router = APIRouter(route_class=DashboardRoute)


@router.get("/export", name="dashboard_export")
def export_page(request: Request, site: Site, who: Signed, type: str | None = None) -> Response:
    job_type = chosen_type(site.service, who.principal, type, "export", "report")
    return site.render(request, "export.html", who, **export_context(site, who, job_type))


@router.get("/export/fields", name="dashboard_export_fields")
def export_fields(request: Request, site: Site, who: Signed, type: str | None = None) -> Response:
    job_type = chosen_type(site.service, who.principal, type, "export", "report")
    return site.render(request, "_export_fields.html", who, **export_context(site, who, job_type))


def export_context(
    site: Dashboard,
    who: Viewer,
    job_type: JobType | None,
    *,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    startable = site.service.startable_types
    return {
        "nav": "export",
        "job_type": job_type,
        "groups": [
            ("Exports", startable(who.principal, "export")),
            ("Reports", startable(who.principal, "report")),
        ],
        **options_form(job_type, values or {}, errors),
    }


@router.post("/export/start", name="dashboard_export_start")
async def export_start(request: Request, site: Site, who: Signed) -> Response:
    form = await form_of(request)
    require_csrf(who, form.get(CSRF_FIELD))
    job_type = await run_in_threadpool(
        chosen_type, site.service, who.principal, form.get("type"), "export", "report"
    )
    if job_type is None:
        raise InputError("there is no export or report type you may start")
    options = forms.read_options(job_type.options_json_schema(), form)
    errors = forms.validate(job_type.options, options)
    fmt = form.get("format") or None
    try:
        forms.require_format(fmt, job_type.formats)
    except InputError as exc:
        errors.setdefault("", exc.message)
    if errors:
        context = export_context(site, who, job_type, values=form, errors=errors)
        return site.render(request, "export.html", who, 422, **context)
    run = await run_in_threadpool(
        site.service.start_export, who.principal, job_type.type, options=options, format=fmt
    )
    return see_run(request, run.id)
