"""Starting an import: a multipart upload streamed into storage, then planned and queued.

The caller's right to start the type is checked before the body is read, so
a refused upload costs nothing; the service checks again, authoritatively,
when it starts the run, and removes the stored upload if it refuses.
"""

import difflib
import functools
import json
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from jobport.api.context import Caller, Service, accepted
from jobport.api.routers.refusals import refused_kind
from jobport.api.schemas import RunOut
from jobport.errors import InputError, listed, shown
from jobport.formats.base import plain_read_list
from jobport.http.problems import responses
from jobport.http.uploads import FILE_FIELD, Upload, receive_upload
from jobport.service import ImportStart, WrongKind

router = APIRouter()


def _text(description: str) -> dict[str, str]:
    return {"type": "string", "description": description}


#: The upload form's fields besides the file, as the OpenAPI document shows them.
_FIELDS: dict[str, dict[str, Any]] = {
    "options": _text("JSON object of the type's options"),
    "format": {"type": "string"},
    "encoding": _text("The file's encoding, a Python codec name (default: detected)"),
    "delimiter": {"type": "string"},
    "sheet": _text("XLSX sheet name or 1-based position"),
    "header_row": {"type": "integer", "minimum": 1},
    "mapping": _text('JSON object: file header -> field name ("" ignores the column)'),
    "strict_columns": {"type": "boolean"},
    "decimal": {"type": "string", "enum": [".", ","]},
    "thousands": {"type": "string", "enum": [",", ".", " ", "'", "_"]},
    "date_formats": _text(
        'JSON array of strftime formats, tried in order (["%d/%m/%Y"]), or one format'
    ),
    "true_words": _text('JSON array of words read as true (["oui","ja"]), or "oui,ja"'),
    "false_words": _text('JSON array of words read as false (["non","nein"]), or "non,nein"'),
    "dry_run": {"type": "boolean", "description": "Validate the whole file; write nothing"},
    "max_failures": {"type": "integer", "minimum": 0},
    "max_failure_ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
    "retry_of": {"type": "string"},
}

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
                        **_FIELDS,
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
        "optionally, `options` (a JSON object), `format`, the read options (`encoding`, "
        "`delimiter`, `sheet`, `header_row`, `mapping`, `strict_columns`, `decimal`, "
        "`thousands`, `date_formats`, `true_words`, `false_words`), the run controls "
        "(`dry_run`, `max_failures`, `max_failure_ratio`) and `retry_of`. The file is "
        "streamed to storage; one over the size limit is refused with 413 while it is "
        "being sent. A file that cannot be read becomes a failed run "
        "(202, status `failed`, the reason in `error`)."
    ),
    responses=responses(401, 403, 404, 409, 413, 415, 422),
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
    refuse_unknown_fields(fields)
    return ImportStart(
        type=type,
        source_key=key,
        source_name=upload.filename,
        options=json_object(fields.get("options"), "options"),
        # None: the dispatcher goes by the file name's extension.
        format=fields.get("format") or None,
        read=read_fields(fields),
        controls={k: fields[k] for k in CONTROL_FIELDS if fields.get(k)},
        retry_of=fields.get("retry_of") or None,
    )


#: Form fields that say how to read the file: as typed, and as JSON.
READ_FIELDS = (
    "encoding",
    "delimiter",
    "sheet",
    "header_row",
    "strict_columns",
    "decimal",
    "thousands",
)
#: JSON form fields: True for an object, False for an array.
READ_JSON_FIELDS = {
    "mapping": True,
    "date_formats": False,
    "true_words": False,
    "false_words": False,
}
#: An example of each JSON form field's value, for the refusal of a malformed one.
JSON_EXAMPLES = {
    "options": '{"option": "value"}',
    "mapping": '{"Header": "field"}',
    "date_formats": '["%d/%m/%Y"]',
    "true_words": '["oui", "ja"]',
    "false_words": '["non", "nein"]',
}
#: Form fields of the run controls (a dry run, error thresholds).
CONTROL_FIELDS = ("dry_run", "max_failures", "max_failure_ratio")


def refuse_unknown_fields(fields: Mapping[str, str]) -> None:
    """Refuse a field the form does not have: a misspelt ``dry-run=true`` ignored would
    import the file for real, a misspelt ``mapping`` would import it unmapped."""
    unknown = [name for name in fields if name not in _FIELDS]
    if not unknown:
        return
    hint = difflib.get_close_matches(unknown[0], list(_FIELDS), n=1, cutoff=0.6)
    also = f" (did you mean '{hint[0]}' for '{shown(unknown[0])}'?)" if hint else ""
    raise InputError(
        f"unknown form field(s): {listed(unknown)}{also}; the form takes "
        f"'{FILE_FIELD}' and {listed(_FIELDS, most=len(_FIELDS))}"
    )


def read_fields(fields: Mapping[str, str]) -> dict[str, Any]:
    """The read options the form filled in; validated by the dispatcher like any face's."""
    read: dict[str, Any] = {k: fields[k] for k in READ_FIELDS if fields.get(k)}
    for name, is_object in READ_JSON_FIELDS.items():
        text = fields.get(name)
        if not text:
            continue
        if is_object or text.lstrip().startswith("["):
            read[name] = json_value(text, name, is_object)
        else:
            read[name] = plain_read_list(name, text)
    return read


def json_object(text: str | None, name: str) -> dict[str, Any]:
    """A form field holding a JSON object, or a refusal that says what it holds instead."""
    if not text:
        return {}
    value: dict[str, Any] = json_value(text, name, is_object=True)
    return value


def json_value(text: str, name: str, is_object: bool) -> Any:
    """A form field holding a JSON object (or array), or a refusal saying what it holds."""
    shape, what = (dict, "a JSON object") if is_object else (list, "a JSON array")
    try:
        value = json.loads(text)
    except ValueError as exc:
        example = f" such as {JSON_EXAMPLES[name]}" if name in JSON_EXAMPLES else ""
        raise InputError(f"'{name}' must be {what}{example}: {exc}") from None
    if not isinstance(value, shape):
        raise InputError(f"'{name}' must be {what}, not {type(value).__name__}")
    return value
