"""What every API route works with, handed over as FastAPI dependencies.

One process may mount several API routers (each over its own engine, with
its own way of knowing the caller), so the routes cannot reach a global: the
router built by :func:`jobport.api.create_router` runs two route-level
dependencies before each of its routes. The first puts the router's
:class:`ApiContext` (engine, service, live feed) on the request's state; the
second, on every route but the public ones, authenticates the caller with
the router's principal dependency and puts the :class:`Principal` there too.
Handlers then declare ``context: Context``, ``service: Service`` or
``caller: Caller`` and are plain module-level functions.

No ``from __future__ import annotations`` here: FastAPI must see the
``Depends`` inside the ``Annotated`` aliases as objects, not as strings.
"""

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, FastAPI, Request, Response, WebSocket
from starlette.requests import HTTPConnection

from jobport.api.schemas import JobTypeOut, RunOut
from jobport.http.auth import PrincipalDependency
from jobport.http.feeds import EventFeed
from jobport.principal import Principal
from jobport.service import JobService
from jobport.store import RunRecord

if TYPE_CHECKING:
    from jobport.engine import Jobport

#: Deeper than any real history; keeps offsets inside the databases' integer range.
MAX_OFFSET = 1 << 31
#: Where the route-level dependencies leave the context and the caller on the request's state.
_CONTEXT_KEY = "jobport_api"
_CALLER_KEY = "jobport_api_caller"


@dataclass(eq=False)  # hashed by identity: FastAPI caches dependencies by their callable
class ApiContext:
    """The state one API router shares between its routes.

    Called as a dependency, it puts itself on the request's state, where
    :func:`api_context` finds it.
    """

    engine: "Jobport"
    service: JobService
    feed: EventFeed
    #: Seconds between keep-alive messages of a live stream that has nothing to say.
    idle_seconds: float
    #: Each type's description, built once (its JSON Schemas take milliseconds).
    described: dict[str, JobTypeOut] = field(default_factory=dict)

    async def __call__(self, connection: HTTPConnection) -> None:
        setattr(connection.state, _CONTEXT_KEY, self)

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        """The router's lifespan: stop taking the engine's events and close the feed."""
        try:
            yield
        finally:
            self.engine.bus.unsubscribe(self.feed.bus_listener)
            await self.feed.aclose()


async def api_context(connection: HTTPConnection) -> ApiContext:
    context: ApiContext = getattr(connection.state, _CONTEXT_KEY)
    return context


Context = Annotated[ApiContext, Depends(api_context)]


async def job_service(context: Context) -> JobService:
    return context.service


Service = Annotated[JobService, Depends(job_service)]


async def current_caller(connection: HTTPConnection) -> Principal:
    caller: Principal = getattr(connection.state, _CALLER_KEY)
    return caller if caller.via == "api" else replace(caller, via="api")


#: The authenticated caller of a route (the router's principal dependency decided who).
Caller = Annotated[Principal, Depends(current_caller)]


def caller_recorder(principal: PrincipalDependency) -> Callable[..., Awaitable[None]]:
    """The route-level dependency that authenticates with ``principal`` and keeps the result.

    ``principal`` is the application's own dependency (it may have
    sub-dependencies of its own), so it has to appear in a signature for
    FastAPI to solve it: this binds it into one.
    """

    async def record_caller(
        connection: HTTPConnection, caller: Annotated[Principal, Depends(principal)]
    ) -> None:
        setattr(connection.state, _CALLER_KEY, caller)

    return record_caller


def called(connection: HTTPConnection) -> tuple[ApiContext, Principal]:
    """The router's context and the caller, as the route-level dependencies left them.

    What ``context: Context`` and ``caller: Caller`` give, without solving two more
    dependencies per request: for the routes polled the most.
    """
    return getattr(connection.state, _CONTEXT_KEY), getattr(connection.state, _CALLER_KEY)


def base(connection: Request | WebSocket) -> str:
    """The API's own path prefix as mounted (links stay right under any mount)."""
    return connection.url_for("jobport_health").path.removesuffix("/health")


def accepted(request: Request, response: Response, run: RunRecord) -> RunOut:
    """A started run, with ``Location`` pointing at it."""
    out = RunOut.of(run, base(request))
    response.headers["Location"] = out.links.self
    return out
