"""The import page: choose a type and a file, match its columns to the type's fields,
see its first rows checked, then check the whole file or start the import.

After the upload comes the mapping step (:mod:`jobport.web.mapping`), unless every
column was placed by its own name or a mapping a person gave or saved. The step
and the preview are GET pages of a staged upload (POST/redirect/GET), so Back from
the run page shows them again; the mapping chosen travels in their address
(``map:<header>=field``) and reaches the run in its read options' ``mapping``.
The staged upload travels between the pages and the start as a signed reference
only its owner can start as its type (:meth:`SessionSigner.stage`). "Check the
whole file" starts the same run as a dry run (nothing written); its page offers
to import it from the stored upload (see :mod:`jobport.web.pages.runs`).
"""

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from jobport.errors import InputError, JobportError
from jobport.formats.base import LIST_READ_OPTIONS, plain_read_list
from jobport.http.downloads import attachment_headers
from jobport.http.uploads import Upload, receive_upload
from jobport.kinds.preview import Preview
from jobport.registry import JobType
from jobport.service import ImportStart, UploadColumns
from jobport.web import forms
from jobport.web.context import Dashboard, Site, Viewer
from jobport.web.errors import DashboardRoute
from jobport.web.mapping import (
    as_fields,
    build_step,
    chosen_mapping,
    explicit,
    is_certain,
    problems,
    without_mapping,
)
from jobport.web.session import CSRF_FIELD
from jobport.web.starts import chosen_type, options_form, see_run
from jobport.web.viewer import Signed, form_of, require_csrf

#: Rows a dry run validates before an import is started.
PREVIEW_ROWS = 20
#: Fields of the form that say how to read the file (and how its values are written).
READ_FIELDS = ("encoding", "delimiter", "sheet", "header_row", "decimal", "thousands")

router = APIRouter(route_class=DashboardRoute)


@router.get("/import", name="dashboard_import")
def import_page(
    request: Request, site: Site, who: Signed, type: str | None = None, retry_of: str | None = None
) -> Response:
    job_type = chosen_type(site.service, who.principal, type, "import")
    if retry_of:
        original = site.service.run(who.principal, retry_of)
        job_type = chosen_type(site.service, who.principal, original.type, "import")
    context = import_context(site, who, job_type, retry_of=retry_of)
    return site.render(request, "import.html", who, **context)


@router.get("/import/template", name="dashboard_import_template")
def import_template(site: Site, who: Signed, type: str = "", format: str = "csv") -> Response:
    """The type's template to fill in (see :meth:`JobService.template`)."""
    found = site.service.template(who.principal, type, format)
    headers = attachment_headers(found.filename)
    return Response(found.content, media_type=found.media_type, headers=headers)


@router.get("/import/fields", name="dashboard_import_fields")
def import_fields(request: Request, site: Site, who: Signed, type: str | None = None) -> Response:
    job_type = chosen_type(site.service, who.principal, type, "import")
    return site.render(request, "_import_fields.html", who, **import_context(site, who, job_type))


def import_context(
    site: Dashboard,
    who: Viewer,
    job_type: JobType | None,
    *,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    retry_of: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    values = values or {}
    return {
        "nav": "import",
        "job_type": job_type,
        "choices": site.service.startable_types(who.principal, "import"),
        **options_form(job_type, values, errors),
        "retry_of": retry_of or values.get("retry_of", ""),
        "preview_rows": PREVIEW_ROWS,
        **extra,
    }


@router.post("/import/preview", name="dashboard_import_preview")
async def import_preview(request: Request, site: Site, who: Signed) -> Response:
    """Check an upload and its first rows, then send the browser to the preview's own
    address (POST/redirect/GET), so Back from the run page shows the preview again
    instead of the browser's "resubmit the form?" page.

    A problem with the file (empty, too large, unreadable) or with the options is
    said in the form, which keeps what was sent; the upload is then deleted.
    """
    service = site.service
    try:
        upload = await receive_upload(
            request,
            store=lambda stream, name: service.store_upload(None, stream, name),
            delete=service.discard_upload,
            max_bytes=service.settings.max_upload_bytes,
        )
    except JobportError as exc:  # too large, or no file in the form
        job_type = await run_in_threadpool(chosen_type, service, who.principal, None, "import")
        context = import_context(site, who, job_type, errors={"": exc.message})
        return site.render(request, "import.html", who, exc.status_code, **context)
    assert upload.key is not None
    key = upload.key
    keep = False
    try:
        response = await _staged(request, site, who, upload)
        keep = isinstance(response, RedirectResponse)
        return response
    finally:
        if not keep:
            await run_in_threadpool(service.discard_upload, key)


async def _staged(request: Request, site: Dashboard, who: Viewer, upload: Upload) -> Response:
    """The form again with what is wrong, or a redirect to the preview of the staged upload."""
    fields = upload.fields
    require_csrf(who, fields.get(CSRF_FIELD))
    job_type = await run_in_threadpool(
        chosen_type, site.service, who.principal, fields.get("type"), "import"
    )
    if job_type is None:
        raise InputError("there is no import type you may start")
    placed: UploadColumns | None = None
    try:
        errors, placed = await run_in_threadpool(check_upload, site, who, job_type, upload)
    except JobportError as exc:
        errors, status = {"": exc.message}, exc.status_code
    else:
        status = 422
    if errors or placed is None:
        context = import_context(site, who, job_type, values=fields, errors=errors)
        return site.render(request, "import.html", who, status, **context)
    signer, owner = site.signer(), who.principal.name
    previous = signer.unstage(fields.get("staged"), job_type.type, owner)
    if previous is not None and previous[0] != upload.key:  # a new preview replaces it
        await run_in_threadpool(site.service.discard_upload, previous[0])
    staged = signer.stage(upload.key or "", job_type.type, owner, upload.filename or "upload")
    kept = {k: v for k, v in without_mapping(fields).items() if k not in (CSRF_FIELD, "staged")}
    if is_certain(placed.placed):  # nothing to ask: straight to the preview
        kept |= as_fields(explicit(placed.placed))
        page = request.url_for("dashboard_import_preview_page").path
    else:
        page = request.url_for("dashboard_import_mapping").path
    query = urlencode({**kept, "type": job_type.type, "staged": staged})
    return RedirectResponse(f"{page}?{query}", 303)


def check_upload(
    site: Dashboard, who: Viewer, job_type: JobType, upload: Upload
) -> tuple[dict[str, str], UploadColumns | None]:
    """The options' errors (by option), or the file's columns placed once it passed its
    checks; raises :class:`InputError` for the file itself (too large, empty,
    unreadable, a bad header)."""
    limit = site.service.upload_limit(job_type)
    if upload.size > limit:
        raise InputError(
            f"the file holds {upload.size:,} bytes, over the limit of {limit:,} bytes "
            f"of '{job_type.type}'"
        )
    if not upload.size:
        raise InputError("the file is empty; choose a file with a header and rows")
    fields: dict[str, str] = upload.fields
    if fields.get("retry_of"):
        site.service.run(who.principal, fields["retry_of"])
    options = forms.read_options(job_type.options_json_schema(), fields)
    errors = forms.validate(job_type.options, options)
    if errors:
        return errors, None
    fmt = fields.get("format") or job_type.format_for(upload.filename or "")
    forms.require_format(fmt, job_type.formats)
    return {}, _placed(site, who, job_type, upload.key or "", fields, upload.filename or "")


def _placed(
    site: Dashboard,
    who: Viewer,
    job_type: JobType,
    key: str,
    fields: Mapping[str, str],
    filename: str,
) -> UploadColumns:
    """The columns of a stored upload placed by the proposal (the choices in ``fields``
    are laid over it by :func:`build_step`, so the step still says how sure it was)."""
    return site.service.upload_mapping(
        who.principal,
        job_type.type,
        key,
        source_name=filename,
        options=forms.read_options(job_type.options_json_schema(), fields),
        format=fields.get("format") or job_type.format_for(filename),
        read=read_options(without_mapping(fields)),
    )


def _preview(
    site: Dashboard,
    who: Viewer,
    job_type: JobType,
    key: str,
    fields: Mapping[str, str],
    filename: str,
) -> Preview:
    """The dry run of a stored upload, as the form's fields ask for it."""
    return site.service.preview(
        who.principal,
        job_type.type,
        key,
        source_name=filename,
        options=forms.read_options(job_type.options_json_schema(), fields),
        format=fields.get("format") or job_type.format_for(filename),
        read=read_options(fields),
        rows=PREVIEW_ROWS,
    )


def read_options(fields: Mapping[str, str]) -> dict[str, Any]:
    """How to read the file, as the form says (only what was filled in), with the
    mapping the step chose."""
    read: dict[str, Any] = {k: fields[k] for k in READ_FIELDS if fields.get(k)}
    for name in LIST_READ_OPTIONS:
        listed_values = plain_read_list(name, fields.get(name) or "")
        if listed_values:
            read[name] = listed_values
    mapping = chosen_mapping(fields)
    if mapping:
        read["mapping"] = mapping
    return read


@router.get("/import/mapping", name="dashboard_import_mapping")
def import_mapping_page(request: Request, site: Site, who: Signed) -> Response:
    """The mapping step of a staged upload: a field to choose for each of its columns."""
    fields = dict(request.query_params)
    job_type, found = _staged_upload(site, who, fields)
    if isinstance(found, dict):
        context = import_context(site, who, job_type, values=fields, errors=found)
        return site.render(request, "import.html", who, **context)
    return _mapping_step(request, site, who, job_type, fields, found)


def _staged_upload(
    site: Dashboard, who: Viewer, fields: Mapping[str, str]
) -> tuple[JobType, tuple[str, str, int] | dict[str, str]]:
    """The type and the staged upload (key, file name, size) a page's address names,
    or the form's error when the upload is gone (discarded, expired, forged)."""
    job_type = chosen_type(site.service, who.principal, fields.get("type"), "import")
    if job_type is None:
        raise InputError("there is no import type you may start")
    staged = site.signer().unstage(fields.get("staged"), job_type.type, who.principal.name)
    size = site.service.upload_size(staged[0]) if staged is not None else None
    if staged is None or size is None:
        return job_type, {"": "the previewed file is no longer known; upload it again"}
    return job_type, (staged[0], staged[1], size)


def _mapping_step(
    request: Request,
    site: Dashboard,
    who: Viewer,
    job_type: JobType,
    fields: Mapping[str, str],
    upload: tuple[str, str, int],
    *,
    errors: list[str] | None = None,
    status: int = 200,
) -> Response:
    """The step's page: the proposal with the choices in ``fields`` over it, and what is
    wrong with them; the form with the error when the file cannot be read."""
    key, filename, size = upload
    try:
        placed = _placed(site, who, job_type, key, fields, filename)
    except JobportError as exc:
        context = import_context(site, who, job_type, values=fields, errors={"": exc.message})
        return site.render(request, "import.html", who, exc.status_code, **context)
    context = import_context(
        site,
        who,
        job_type,
        values=without_mapping(fields),
        mapping_step=build_step(placed.placed, chosen_mapping(fields), placed.examples),
        mapping_errors=errors or [],
        staged=fields["staged"],
        filename=filename,
        file_size=size,
    )
    return site.render(request, "import.html", who, status, **context)


@router.get("/import/preview", name="dashboard_import_preview_page")
def import_preview_page(request: Request, site: Site, who: Signed) -> Response:
    """The dry run of a staged upload: the first rows checked, nothing written yet.

    A mapping with a field chosen twice or a required field left out goes back to
    the step with what is wrong, as does one the preview refuses (a missing key).
    """
    fields = dict(request.query_params)
    job_type, found = _staged_upload(site, who, fields)
    if isinstance(found, dict):
        context = import_context(site, who, job_type, values=fields, errors=found)
        return site.render(request, "import.html", who, **context)
    key, filename, size = found
    chosen = chosen_mapping(fields)
    if chosen:
        required = [c["name"] for c in job_type.columns() if c["required"]]
        wrong = problems(chosen, required)
        if wrong:
            return _mapping_step(
                request, site, who, job_type, fields, found, errors=wrong, status=422
            )
    try:
        preview = _preview(site, who, job_type, key, fields, filename)
    except JobportError as exc:
        return _mapping_step(
            request,
            site,
            who,
            job_type,
            fields,
            found,
            errors=[exc.message],
            status=exc.status_code,
        )
    context = import_context(
        site,
        who,
        job_type,
        values=fields,
        preview=preview,
        preview_summary=preview_summary(preview),
        staged=fields["staged"],
        filename=filename,
        file_size=size,
        start_options=json.dumps(forms.read_options(job_type.options_json_schema(), fields)),
        start_format=fields.get("format") or job_type.format_for(filename),
        start_read=json.dumps(read_options(fields)),
        mapping_chosen=chosen,
        mapping_query=urlencode(fields),
    )
    return site.render(request, "import.html", who, **context)


def preview_summary(preview: Preview) -> dict[str, int]:
    invalid = sum(1 for row in preview.rows if row.errors)
    return {"rows": len(preview.rows), "invalid": invalid, "valid": len(preview.rows) - invalid}


@router.post("/import/start", name="dashboard_import_start")
async def import_start(request: Request, site: Site, who: Signed) -> Response:
    form = await form_of(request)
    require_csrf(who, form.get(CSRF_FIELD))
    service = site.service
    job_type = await run_in_threadpool(
        chosen_type, service, who.principal, form.get("type"), "import"
    )
    assert job_type is not None
    staged = site.signer().unstage(form.get("staged"), job_type.type, who.principal.name)
    if staged is None:
        raise InputError("the previewed file is no longer known; upload it again")
    key, filename = staged
    start = ImportStart(
        type=job_type.type,
        source_key=key,
        source_name=filename,
        options=json_object(form.get("options")),
        format=form.get("format") or None,
        read=json_object(form.get("read")),  # checked as the read options of any start
        controls={"dry_run": True} if form.get("check") else {},
        retry_of=form.get("retry_of") or None,
    )
    run = await run_in_threadpool(service.start_import, who.principal, start)
    return see_run(request, run.id)


@router.post("/import/discard", name="dashboard_import_discard")
async def import_discard(request: Request, site: Site, who: Signed) -> Response:
    form = await form_of(request)
    require_csrf(who, form.get(CSRF_FIELD))
    type_ = form.get("type", "")
    staged = site.signer().unstage(form.get("staged"), type_, who.principal.name)
    if staged is not None:
        await run_in_threadpool(site.service.discard_upload, staged[0])
    target = request.url_for("dashboard_import").path
    return RedirectResponse(f"{target}?{urlencode({'type': type_})}", 303)


def json_object(text: str | None) -> dict[str, Any]:
    """A JSON object the preview put in a hidden field (options, how to read the file)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise InputError("the form's options are not valid JSON; upload the file again") from None
    if not isinstance(value, dict):
        raise InputError("the form's options must be a JSON object")
    return value
