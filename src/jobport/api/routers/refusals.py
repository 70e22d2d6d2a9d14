"""A type sent to another kind's start route: the refusal names the route that takes it.

The service refuses the kind (:class:`~jobport.service.WrongKind`); only the
API knows its routes, so it words the refusal here, the same way on each
start route: what the type is, which types the route takes, and where to
start this one instead.
"""

from fastapi import Request

from jobport.api.context import base
from jobport.errors import InputError
from jobport.registry import JobType
from jobport.service import WrongKind, with_article


def start_path(request: Request, job_type: JobType) -> str:
    """The route that starts ``job_type``."""
    if job_type.kind == "import":
        return f"{base(request)}/imports/{job_type.type}"
    return base(request) + ("/syncs" if job_type.kind == "sync" else "/exports")


def refused_kind(
    request: Request, refused: WrongKind, name: str, wanted: str, takes: str | None = None
) -> InputError:
    """The refusal of type ``name`` by a route for ``wanted``, which ``takes`` the types listed."""
    job_type = refused.job_type
    head = f"'{name}' is {with_article(job_type.kind)} type, not {wanted}; "
    if takes is None:
        return InputError(f"{head}start it with POST {start_path(request, job_type)}")
    return InputError(f"{head}{takes}; start '{name}' with POST {start_path(request, job_type)}")


def names(job_types: list[JobType]) -> str:
    return ", ".join(t.type for t in job_types) or "none"
