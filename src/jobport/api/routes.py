"""The HTTP API as one router to mount: :func:`create_router` over one engine.

The routes themselves live in :mod:`jobport.api.routers`, one module per
resource; this module gathers them under a prefix and gives each route the
two dependencies that hand it the router's state and its caller
(:mod:`jobport.api.context`). Every route but the health checks and the
signed-link download needs a principal; what a principal may see and start
is the service's rule (:mod:`jobport.service`).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from jobport.api.context import ApiContext, caller_recorder
from jobport.api.routers import ROUTERS
from jobport.api.routers.runs import fast_run_read
from jobport.engine import Jobport
from jobport.http.auth import PrincipalDependency, TokenPrincipal, token_principal
from jobport.http.feeds import EventFeed, feed_for
from jobport.http.throttle import FailureThrottle
from jobport.service import JobService


class JobportRouter(APIRouter):
    """The API's router; ``feed`` is the live-event feed it serves from."""

    engine: Jobport
    feed: EventFeed
    context: ApiContext


def create_router(
    engine: Jobport,
    *,
    principal: PrincipalDependency | None = None,
    feed: EventFeed | None = None,
    prefix: str = "/api",
    idle_seconds: float = 5.0,
) -> JobportRouter:
    """The API routes over ``engine``, ready for ``app.include_router``.

    ``principal`` is a FastAPI dependency returning the caller's
    :class:`Principal` (default: jobport's bearer tokens). ``feed`` brings
    run events from other processes (default: the store's outbox, or Redis
    when ``JOBPORT_REDIS_URL`` is set). The router's lifespan stops the feed.
    Install :func:`jobport.http.problems.install_problem_handlers` on the app
    (with ``prefix``, to leave the application's own routes' errors as they
    are) so errors are problem+json.
    """
    live = feed or feed_for(engine.store, engine.settings.redis_url)
    engine.bus.subscribe(live.bus_listener)
    context = ApiContext(
        engine=engine, service=JobService(engine), feed=live, idle_seconds=idle_seconds
    )
    router = JobportRouter(
        prefix=prefix,
        tags=["jobport"],
        lifespan=context.lifespan,
        dependencies=[Depends(context)],
    )
    router.engine = engine
    router.feed = live
    router.context = context
    callers = principal or token_principal(
        engine.store, throttle=FailureThrottle.from_settings(engine.settings)
    )
    if isinstance(callers, TokenPrincipal):  # the polled run read, ahead of its APIRoute
        path = f"{prefix}/jobs/{{run_id}}"
        read = fast_run_read(context, callers)
        router.add_route(path, read, methods=["GET"], include_in_schema=False)
    signed_in = [Depends(caller_recorder(callers))]
    for routes, needs_caller in ROUTERS:
        router.include_router(routes, dependencies=signed_in if needs_caller else None)
    return router
