"""Starting an import: a multipart upload streamed into storage, then planned and queued.

The caller's right to start the type is checked before the body is read, so
a refused upload costs nothing; the service checks again, authoritatively,
when it starts the run, and removes the stored upload if it refuses.
"""

import functools
import json
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from jobport.api.context import Caller, Service, accepted
from jobport.api.routers.refusals import refused_kind
from jobport.api.schemas import RunOut
from jobport.errors import InputError
from jobport.http.problems import responses
from jobport.http.uploads import FILE_FIELD, Upload, receive_upload
from jobport.service import ImportStart, WrongKind

router = APIRouter()

_FORM = {
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
}


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
    openapi_extra=_FORM,
)
async def start_import(
    type: str, request: Request, response: Response, caller: Caller, service: Service
) -> RunOut:
    try:
        job_type = service.startable(caller, type, "import")
    except WrongKind as refused:
        raise refused_kind(request, refused, type, "an import") from None
    upload = await receive_upload(
        request,
        store=functools.partial(service.store_upload, job_type),
        delete=service.discard_upload,
        max_bytes=service.upload_limit(job_type),
    )
    assert upload.key is not None
    try:
        start = import_start(type, upload, upload.key)
    except BaseException:
        service.discard_upload(upload.key)
        raise
    run = await run_in_threadpool(service.start_import, caller, start)
    return accepted(request, response, run)


def import_start(type: str, upload: Upload, key: str) -> ImportStart:
    """What the form says about the import of the stored upload ``key``."""
    fields = upload.fields
    return ImportStart(
        type=type,
        source_key=key,
        source_name=upload.filename,
        options=json_object(fields.get("options"), "options"),
        # None: the dispatcher goes by the file name's extension.
        format=fields.get("format") or None,
        read={k: fields[k] for k in ("encoding", "delimiter") if fields.get(k)},
        retry_of=fields.get("retry_of") or None,
    )


def json_object(text: str | None, name: str) -> dict[str, Any]:
    """A form field holding a JSON object, or a refusal that says what it holds instead."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InputError(f"'{name}' must be a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise InputError(f"'{name}' must be a JSON object, not {type(value).__name__}")
    return value
