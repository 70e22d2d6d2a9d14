"""Liveness and readiness: the only routes that need no caller but the shared links."""

from fastapi import APIRouter

from jobport.api.context import Service
from jobport.api.schemas import Health
from jobport.errors import JobportError
from jobport.http.problems import responses

router = APIRouter()


class Unavailable(JobportError):
    status_code = 503
    title = "Service unavailable"


@router.get("/health", name="jobport_health", summary="Liveness: the process answers")
async def health() -> Health:
    return Health(status="ok")


@router.get("/health/ready", summary="Readiness: the database answers", responses=responses(503))
def ready(service: Service) -> Health:
    try:
        service.ping()
    except Exception as exc:
        raise Unavailable(f"the state database does not answer: {type(exc).__name__}") from exc
    return Health(status="ok", database="ok")
