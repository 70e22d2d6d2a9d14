"""An import type's template: a file with its columns and an example row, to fill in."""

from typing import Any

from fastapi import APIRouter, Response

from jobport.api.context import Caller, Context
from jobport.http.downloads import attachment_headers
from jobport.http.problems import responses
from jobport.kinds.template import TEMPLATE_FORMATS

router = APIRouter()

_FILE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
        },
        "description": "The template: the header (required columns marked in XLSX) and an "
        "example row.",
    }
}


@router.get(
    "/job-types/{type}/template",
    summary="Download an import type's template (CSV or XLSX)",
    description=(
        f"`format`: {' or '.join(TEMPLATE_FORMATS)} (default csv), one the type takes. The "
        "columns come in the row model's order with an example row; the XLSX marks required "
        "columns and describes each on an About sheet. A type that is not an import, or that "
        "the caller may not start, answers 404."
    ),
    response_class=Response,
    responses={**responses(401, 404, 422), **_FILE},
)
def template(type: str, context: Context, caller: Caller, format: str = "csv") -> Response:
    found = context.service.template(caller, type, format)
    return Response(
        found.content, media_type=found.media_type, headers=attachment_headers(found.filename)
    )
