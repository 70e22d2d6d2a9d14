"""The job types: what each is and whether the caller may start it (what a form needs)."""

from fastapi import APIRouter

from jobport.api.context import Caller, Context
from jobport.api.schemas import JobTypeOut
from jobport.http.problems import responses
from jobport.principal import Principal
from jobport.registry import JobType

router = APIRouter()


def describe(context: Context, job_type: JobType, caller: Principal) -> JobTypeOut:
    """A type's description: its JSON Schemas built once per router (the registry does not
    change while the process runs), then only whether this caller may start it."""
    described = context.described.get(job_type.type)
    if described is None:
        described = context.described[job_type.type] = JobTypeOut.of(job_type, can_start=False)
    return described.model_copy(update={"can_start": job_type.may_start(caller)})


@router.get(
    "/job-types", summary="Every job type, with what a form needs", responses=responses(401)
)
def job_types(context: Context, caller: Caller) -> list[JobTypeOut]:
    return [describe(context, t, caller) for t in context.service.job_types()]


@router.get("/job-types/{type}", summary="One job type", responses=responses(401, 404))
def job_type(type: str, context: Context, caller: Caller) -> JobTypeOut:
    return describe(context, context.service.job_type(type), caller)
