"""Result files: downloading an export's file, and signed links that share it.

``router`` needs a caller; ``shared`` is public, because whoever holds a
signed link may download the file without a token until the link expires.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from jobport.api.context import Caller, Context, base
from jobport.http.downloads import result_file_response
from jobport.http.problems import responses

#: Longest life of a shared download link: a week.
MAX_LINK_SECONDS = 7 * 24 * 3600

router = APIRouter()
shared = APIRouter()

_FILE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {}}, "description": "The file."}
}


@router.get(
    "/exports/{run_id}/download",
    summary="Download an export's file",
    response_class=StreamingResponse,
    responses={**responses(401, 404, 409, 410), **_FILE},
)
def download_export(run_id: str, caller: Caller, context: Context) -> StreamingResponse:
    return result_file_response(context.service, context.service.result_of(caller, run_id))


@router.post(
    "/exports/{run_id}/link",
    summary="A signed, expiring download link to share",
    description="Anyone holding the link may download the file until it expires, "
    "without a token; an expired or altered link answers 403. Refused as the download "
    "would be while the run has no file: 409 while it runs, 410 once the file expired, "
    "422 for a run of a kind that leaves none.",
    responses=responses(401, 404, 409, 410, 422),
)
def share_export(
    run_id: str,
    request: Request,
    caller: Caller,
    context: Context,
    ttl: Annotated[int, Query(ge=1, le=MAX_LINK_SECONDS)] = 3600,
) -> dict[str, str]:
    link = context.service.share_link(caller, run_id, ttl)
    return {
        "url": f"{base(request)}/exports/{link.run_id}/shared?{link.query()}",
        "expires_at": link.expires_at.isoformat(),
    }


@shared.get(
    "/exports/{run_id}/shared",
    summary="Download an export's file through a signed link (no token)",
    response_class=StreamingResponse,
    responses={**responses(403, 404, 409, 410), **_FILE},
)
def download_shared(
    run_id: str, context: Context, expires: str = "", signature: str = ""
) -> StreamingResponse:
    found = context.service.shared_result(run_id, expires, signature)
    return result_file_response(context.service, found)
