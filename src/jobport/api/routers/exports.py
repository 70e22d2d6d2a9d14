"""Exports and reports: starting one, and the caller's finished ones with their files."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from jobport.api.context import MAX_OFFSET, Caller, Service, accepted, base
from jobport.api.routers.refusals import names, refused_kind
from jobport.api.schemas import ExportOut, ExportPage, ExportRequest, RunOut
from jobport.http.problems import responses
from jobport.service import FILE_KINDS, WrongKind

router = APIRouter()


@router.post(
    "/exports",
    status_code=202,
    summary="Start an export",
    responses=responses(401, 403, 404, 409, 422),
)
def start_export(
    body: ExportRequest, request: Request, response: Response, caller: Caller, service: Service
) -> RunOut:
    try:
        run = service.start_export(caller, body.type, options=body.options, format=body.format)
    except WrongKind as refused:
        takes = f"types that make a file: {names(service.job_types(*FILE_KINDS))}"
        raise refused_kind(request, refused, body.type, "an export or report", takes) from None
    return accepted(request, response, run)


@router.get(
    "/exports",
    summary="The caller's finished exports, newest first",
    responses=responses(401),
)
def list_exports(
    request: Request,
    caller: Caller,
    service: Service,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ExportPage:
    runs, total = service.exports(caller, limit=limit, offset=offset)
    prefix = base(request)
    return ExportPage(
        items=[ExportOut.of(service.result_file(run), prefix) for run in runs],
        total=total,
        limit=limit,
        offset=offset,
    )
