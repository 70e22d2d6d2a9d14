"""Undoing a run (what it would do, then the undo run) and the audit trail.

``GET /jobs/{id}/undo`` answers what the undo would do (rows restored,
deleted, later runs over the same rows) or why it cannot (409);
``POST /jobs/{id}/undo`` starts it (202, ``Location`` at the undo run).
``GET /audit`` is the trail, for admins (403 otherwise); ``?run=`` gives one
run's to whoever may see it.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from jobport.api.context import Caller, Service, accepted
from jobport.api.schemas import RunOut
from jobport.http.problems import responses
from jobport.undoing import Undoing

router = APIRouter()


@router.get(
    "/jobs/{run_id}/undo",
    summary="What undoing a run would do",
    responses=responses(401, 404, 409),
)
def undo_preview(run_id: str, caller: Caller, service: Service) -> dict[str, Any]:
    return Undoing(service).preview(caller, run_id).to_dict()


@router.post(
    "/jobs/{run_id}/undo",
    status_code=202,
    summary="Undo an import: delete the rows it inserted, restore those it updated",
    description="Rows changed since the run are left as they are and reported as the undo "
    "run's failures, unless `force` is true.",
    responses=responses(401, 403, 404, 409),
)
def undo_job(
    run_id: str,
    request: Request,
    response: Response,
    caller: Caller,
    service: Service,
    force: bool = False,
) -> RunOut:
    return accepted(request, response, Undoing(service).undo(caller, run_id, force=force))


@router.get("/audit", summary="Who did what to which run", responses=responses(401, 403, 404))
def audit(
    caller: Caller,
    service: Service,
    run: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[dict[str, Any]]:
    entries = Undoing(service).audit(caller, run_id=run, limit=limit, offset=offset)
    return [entry.to_dict() for entry in entries]
