"""Schedules: what starts on its own (syncs, exports, reports, folder imports), and when.

Whoever may start a type may schedule it; its runs are started as them. A
non-admin sees and changes their own schedules; another user's answers 404
like a missing one. A schedule is named by its name or its id.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from jobport.api.context import Caller, Service
from jobport.http.problems import responses
from jobport.schedules.book import MAX_NAME, parse_missed
from jobport.schedules.model import NewSchedule, Schedule
from jobport.service import JobService

router = APIRouter()

NameOrId = Annotated[str, Path(max_length=MAX_NAME, description="The schedule's name or id.")]


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(max_length=100, description="A sync, export, report or import type.")
    when: str = Field(
        max_length=200,
        description="A cron expression (`0 * * * *`) or an interval (`every 15m`, `every 2h`).",
    )
    name: str | None = Field(default=None, max_length=MAX_NAME, description="Default: the type.")
    timezone: str = Field(default="UTC", max_length=64, description="The cron expression's zone.")
    options: dict[str, Any] = Field(default_factory=dict)
    full: bool = Field(default=False, description="A sync from the beginning each time.")
    source: str | None = Field(
        default=None,
        max_length=1000,
        description="An import's files (admins only): a folder or a glob, local or fsspec "
        "(`s3://bucket/incoming/*.csv`). Each file is imported once, then moved to `done/`.",
    )
    missed: Literal["catch_up", "skip"] = Field(
        default="catch_up",
        description="After downtime: one run for the slots missed, or none (`skip`).",
    )
    enabled: bool = True


class LastFiring(BaseModel):
    slot_at: str
    outcome: str = Field(description="started, queued, skipped, failed or claimed.")
    detail: str | None
    run_id: str | None
    status: str | None = Field(description="The run's status, while the run is kept.")


class ScheduleOut(BaseModel):
    id: str
    name: str
    type: str
    when: str
    timezone: str
    options: dict[str, Any]
    read: dict[str, Any]
    source: str | None
    owner: str | None
    enabled: bool
    missed: str
    next_run_at: str | None = Field(description="The next slot (UTC); null while paused.")
    created_at: str
    last: LastFiring | None


class ScheduleList(BaseModel):
    items: list[ScheduleOut]


def _out(service: JobService, schedule: Schedule) -> ScheduleOut:
    data = schedule.to_dict()
    runs = service.schedules.last_runs([schedule])
    if data["last"] is not None:
        run = runs.get(data["last"]["run_id"] or "")
        data["last"]["status"] = str(run.status) if run is not None else None
    return ScheduleOut.model_validate(data)


@router.get(
    "/schedules",
    summary="Schedules, by name",
    description="Admins see every schedule; anyone else their own.",
    responses=responses(401),
    response_model=ScheduleList,
)
def list_schedules(caller: Caller, service: Service) -> ScheduleList:
    found = service.schedules.visible(caller)
    return ScheduleList(items=[_out(service, schedule) for schedule in found])


@router.post(
    "/schedules",
    status_code=201,
    summary="Add a schedule",
    description=(
        "The type's runs start at each slot, as the caller, with these options; the "
        "first at the next slot from now. Only one run starts per slot, however many "
        "servers and workers run. Importing files from a folder is for admins."
    ),
    responses=responses(401, 403, 404, 422),
    response_model=ScheduleOut,
)
def add_schedule(body: ScheduleIn, caller: Caller, service: Service) -> ScheduleOut:
    new = NewSchedule(
        type=body.type,
        spec=body.when,
        name=body.name,
        timezone=body.timezone,
        options=body.options,
        read={"full": True} if body.full else {},
        source=body.source,
        missed=parse_missed(body.missed),
        enabled=body.enabled,
    )
    return _out(service, service.schedules.add(caller, new))


@router.get(
    "/schedules/{name}",
    summary="One schedule",
    responses=responses(401, 404),
    response_model=ScheduleOut,
)
def get_schedule(name: NameOrId, caller: Caller, service: Service) -> ScheduleOut:
    return _out(service, service.schedules.get(caller, name))


@router.post(
    "/schedules/{name}/pause",
    summary="Pause a schedule",
    responses=responses(401, 404),
    response_model=ScheduleOut,
)
def pause_schedule(name: NameOrId, caller: Caller, service: Service) -> ScheduleOut:
    return _out(service, service.schedules.pause(caller, name))


@router.post(
    "/schedules/{name}/resume",
    summary="Resume a schedule",
    description="It fires again from its next slot; the slots it was paused for are not run.",
    responses=responses(401, 404),
    response_model=ScheduleOut,
)
def resume_schedule(name: NameOrId, caller: Caller, service: Service) -> ScheduleOut:
    return _out(service, service.schedules.resume(caller, name))


@router.delete(
    "/schedules/{name}",
    status_code=204,
    summary="Remove a schedule",
    description="The runs it started stay.",
    responses=responses(401, 404),
)
def remove_schedule(name: NameOrId, caller: Caller, service: Service) -> Response:
    service.schedules.remove(caller, name)
    return Response(status_code=204)
