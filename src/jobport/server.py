"""The standalone FastAPI application, and the factory ``jobport serve`` hands to uvicorn."""

from __future__ import annotations

import contextlib
import gc
import inspect
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.routing import Route

from jobport import metrics
from jobport.api.docs import install_docs
from jobport.api.routes import create_router
from jobport.engine import Jobport
from jobport.errors import ConfigurationError
from jobport.http.auth import PrincipalDependency, bearer_token, token_principal
from jobport.http.feeds import EventFeed
from jobport.http.headers import SecurityHeaders
from jobport.http.problems import install_problem_handlers
from jobport.http.throttle import FailureThrottle
from jobport.principal import Principal
from jobport.service import JobService
from jobport.settings import Settings

log = logging.getLogger(__name__)

DESCRIPTION = """\
Start imports and exports, follow their progress live, read their history and
failures, download their results.

Authenticate with `Authorization: Bearer <token>` (create a user and its token
with `jobport users create NAME`). Errors are RFC 9457 problem details
(`application/problem+json`).

Live progress: `GET /api/jobs/{id}/events` (server-sent events) and the
WebSocket `/api/jobs/{id}/ws` (same messages; OpenAPI cannot describe it).
"""


def create_app(
    engine: Jobport,
    *,
    principal: PrincipalDependency | None = None,
    feed: EventFeed | None = None,
    sweep_seconds: float | None = None,
    close_engine: bool = False,
    idle_seconds: float = 5.0,
    dashboard: bool = True,
) -> FastAPI:
    """A FastAPI app serving the jobport API under ``/api`` (and the dashboard at ``/``).

    ``sweep_seconds`` starts the engine's supervisor while the app runs, if it
    is not running already (one per process, see :mod:`jobport.recovery`): a
    long-lived server must re-deliver chunks whose worker lease ran out; tests
    leave it off. ``close_engine`` closes the engine when the app stops.
    ``dashboard`` mounts the web dashboard (:mod:`jobport.web`), which signs
    users in with jobport's own tokens and shares the API's live feed.

    Every response carries security headers (:mod:`jobport.http.headers`);
    ``/docs`` and ``/openapi.json`` are served as ``JOBPORT_API_DOCS`` says
    (:mod:`jobport.api.docs`).
    """
    from jobport import __version__

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        ours = bool(sweep_seconds) and not engine.supervisor.sweeping
        if ours:
            engine.start_sweeper(sweep_seconds)
        try:
            yield
        finally:
            if ours:
                await run_in_threadpool(engine.stop_sweeper)
            if close_engine:
                await run_in_threadpool(engine.close)

    app = FastAPI(
        title="jobport",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_middleware(SecurityHeaders)
    install_problem_handlers(app)
    callers = principal or token_principal(
        engine.store, throttle=FailureThrottle.from_settings(engine.settings)
    )
    router = create_router(engine, principal=callers, feed=feed, idle_seconds=idle_seconds)
    app.include_router(router)
    hoist_run_read(app, router)
    #: The router (its ``engine`` and live ``feed``), for tests and extensions.
    app.state.jobport = router
    if engine.settings.metrics:
        install_metrics(app, engine)
    docs_callers = callers if principal or not dashboard else _token_or_session(engine, callers)
    install_docs(app, engine.settings.api_docs, docs_callers)  # before the dashboard's 404 page
    if dashboard:
        from jobport.web import dashboard_router

        dashboard_pages = dashboard_router(
            engine, feed=router.feed, idle_seconds=idle_seconds, not_found_page=True
        )
        app.include_router(dashboard_pages)
    return app


def hoist_run_read(app: FastAPI, router: APIRouter) -> None:
    """Put the router's plain run read (``GET /api/jobs/{id}``, when the router has one)
    first among the app's own routes.

    FastAPI reaches a route of an included router by walking the router tree,
    and recomputes the tree's version on each step: once the run came from
    the lean read, that walk (with the API prefix's lookup, which walks the
    tree too, now done once) was nearly half the read's CPU (in-process,
    0.45 -> 0.26 ms a read without both). The same route object, matched
    first at the top, answers the same requests with the same handlers (the
    problem+json ones are the app's), and skips the walk; every other request
    only pays one more path match.
    """
    first = router.routes[0] if router.routes else None
    if type(first) is Route and first.path.endswith("/jobs/{run_id}"):
        app.router.routes.insert(0, first)


def install_metrics(app: FastAPI, engine: Jobport) -> None:
    """``GET /metrics`` in Prometheus' text format, open: a scraper has no session, and the
    counts say nothing of any run's content (``JOBPORT_METRICS=off`` leaves it out)."""
    metrics.enable()

    def scrape() -> Response:
        body, media_type = metrics.exposition(engine.store)
        return Response(body, media_type=media_type)

    app.add_api_route("/metrics", scrape, methods=["GET"], include_in_schema=False)


def _token_or_session(engine: Jobport, tokens: PrincipalDependency) -> PrincipalDependency:
    """A bearer token's caller, or else the dashboard's signed-in user.

    For the docs when only signed-in callers may read them: a browser opening
    ``/docs`` sends no header, but a dashboard user has a session cookie.
    """
    from jobport.web.session import SessionSigner, cookie_principal, installation_key

    service = JobService(engine)

    def session_caller(connection: HTTPConnection) -> Principal | None:
        try:
            signer = SessionSigner(installation_key(engine.settings))
        except ConfigurationError:  # no secret: no dashboard sessions either
            return None
        return cookie_principal(service, signer, connection)

    async def caller(connection: HTTPConnection) -> Principal:
        if bearer_token(connection) is None:
            signed_in = await run_in_threadpool(session_caller, connection)
            if signed_in is not None:
                return signed_in
        result = tokens(connection)
        return await result if inspect.isawaitable(result) else result

    return caller


def app_from_env() -> FastAPI:
    """The app of ``jobport serve``: settings from ``JOBPORT_*``, one engine per process.

    Each server process adopts runs left behind by a dead process on this
    host, and runs the one supervisor (its sweeper every ``JOBPORT_SWEEP_SECONDS``).
    """
    engine = Jobport(Settings(), recover=True, supervise=True)
    app = create_app(engine, close_engine=True)
    settle_heap()
    return app


def settle_heap() -> None:
    """Collect the start-up's garbage, then exempt what is left from the cycle collector.

    A server process holds some 150,000 objects once set up (FastAPI, pydantic,
    SQLAlchemy, the app's types), all alive for good; each full collection
    scanned them all again, stopping the event loop for every request in
    flight: 190-460 ms on a busy 2-core machine, seen once or twice in 10 s
    of wrk on the run read, idle or under a 1M-row import: spikes far past
    the polled reads' p99. Frozen (``gc.freeze``), they are never scanned: the same full
    collection took 5 ms. Cycles made later are collected as before.
    """
    gc.collect()
    gc.freeze()
