"""What the import, export and sync pages share: the type a form shows, its options, and
where the browser goes once a run started.

Who may start what is the service's rule (:meth:`JobService.startable`); this
module only picks the type a form shows when none was asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse

from jobport.errors import UnknownJobType
from jobport.principal import Principal
from jobport.registry import JobType, Kind
from jobport.service import JobService
from jobport.web import forms


def chosen_type(
    service: JobService, who: Principal, name: str | None, *kinds: Kind
) -> JobType | None:
    """The type a start form shows: ``name`` if ``who`` may start it (a type they may not
    is refused, one of another kind unknown), else the first they may; None if none."""
    if name:
        if name in service.registry and service.registry.get(name).kind in kinds:
            return service.startable(who, name, *kinds)
        raise UnknownJobType(name, [t.type for t in service.startable_types(who, *kinds)])
    choices = service.startable_types(who, *kinds)
    return choices[0] if choices else None


def options_form(
    job_type: JobType | None, values: Mapping[str, str], errors: Mapping[str, str] | None
) -> dict[str, Any]:
    """The options part of a start form: its fields (from the type's schema), what was
    sent, and the error that concerns the whole form."""
    fields = forms.form_fields(job_type.options_json_schema(), values, errors) if job_type else []
    return {"fields": fields, "values": values, "form_error": (errors or {}).get("")}


def see_run(request: Request, run_id: str) -> RedirectResponse:
    """To the page of a run just started or acted on (POST/redirect/GET)."""
    return RedirectResponse(request.url_for("dashboard_run", run_id=run_id).path, 303)
