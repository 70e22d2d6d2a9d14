"""Starting a sync: the type's source pulled page by page, after its stored cursor."""

from fastapi import APIRouter, Request, Response

from jobport.api.context import Caller, Service, accepted
from jobport.api.routers.refusals import names, refused_kind
from jobport.api.schemas import RunOut, SyncRequest
from jobport.http.problems import responses
from jobport.service import WrongKind

router = APIRouter()


@router.post(
    "/syncs",
    status_code=202,
    summary="Start a sync",
    description=(
        "Pulls the type's source page by page, continuing after the page the type "
        "synced last (its stored cursor); `full: true` starts from the beginning. "
        "Types that delete rows missing from their source always start from the beginning."
    ),
    responses=responses(401, 403, 404, 409, 422),
)
def start_sync(
    body: SyncRequest, request: Request, response: Response, caller: Caller, service: Service
) -> RunOut:
    try:
        run = service.start_sync(caller, body.type, options=body.options, full=body.full)
    except WrongKind as refused:
        takes = f"sync types: {names(service.job_types('sync'))}"
        raise refused_kind(request, refused, body.type, "a sync", takes) from None
    return accepted(request, response, run)
