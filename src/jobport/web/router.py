"""The dashboard's one entry point: :func:`dashboard_router` over an engine.

Server-rendered pages (Jinja2) with htmx for the parts that refresh on their
own; every page also works as plain links and forms. The pages live one module
each in :mod:`jobport.web.pages` with module-level handlers; this module builds
the per-router state they share (:class:`jobport.web.context.Dashboard`) and
hands it to them as the router's dependency. The rules are the service's: a
user sees and acts on their own runs, an admin on every run, and another
user's run answers 404 like a missing one. Sign-in, the session cookie and
CSRF are explained in :mod:`jobport.web.session`.

Storage and database calls block, so page routes are plain functions (run
in the thread pool); the upload and the WebSocket are async.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, FastAPI

from jobport.engine import Jobport
from jobport.http.auth import PrincipalDependency
from jobport.http.feeds import EventFeed, feed_for
from jobport.service import JobService
from jobport.web.context import Dashboard
from jobport.web.pages import (
    downloads,
    exports,
    history,
    home,
    imports,
    missing,
    review,
    runs,
    schedules,
    signin,
    static,
    syncs,
    undo,
    webhooks,
)
from jobport.web.session import SessionSigner
from jobport.web.viewer import caller_dependency

#: The routers of the pages a signed-in user sees.
PAGES = (
    home,
    imports,
    exports,
    syncs,
    history,
    runs,
    review,
    undo,
    schedules,
    downloads,
    webhooks,
    signin,
)


def dashboard_router(
    engine: Jobport,
    *,
    feed: EventFeed | None = None,
    secure_cookies: bool | None = None,
    signer: SessionSigner | None = None,
    idle_seconds: float = 5.0,
    principal: PrincipalDependency | None = None,
    sign_in_url: str | None = None,
    not_found_page: bool = False,
) -> APIRouter:
    """The dashboard's pages over ``engine``, ready for ``app.include_router`` at ``/``.

    ``feed`` is the live-event feed to stream runs from: pass the API
    router's (``create_app`` does) so one process keeps one feed; without it
    the dashboard makes and stops its own. ``secure_cookies`` forces the
    cookie's ``Secure`` flag on or off (default: on when the request came over
    https; set it behind a TLS-terminating proxy). ``signer`` replaces the
    installation secret (tests).

    ``principal`` is an embedding application's own FastAPI dependency
    returning the caller's :class:`Principal`, as for
    :func:`jobport.api.create_router`: the application signs its users in
    (its cookie, its session), so the dashboard shows no sign-in of its own
    and its cookie only carries the CSRF token, bound to the principal's name
    (a cookie planted by another site names someone else and is replaced).
    When that dependency refuses a page (``Unauthorized``), the dashboard
    sends the browser to the application's ``sign_in_url`` with ``next`` set
    to the page, as it does to its own sign-in; without one it shows a 401
    page.

    ``not_found_page`` answers every other path under the router (but an
    ``api/`` one) with the dashboard's HTML 404 page, and a GET of a form's
    address with a redirect to the form. It is off by default: included at
    ``/`` of an application, it would hide the application's routes added
    after it. The standalone app turns it on.
    """
    own_feed = feed is None
    live = feed or feed_for(engine.store, engine.settings.redis_url)
    site = Dashboard(
        JobService(engine),
        live,
        principal=principal,
        sign_in_url=sign_in_url,
        secure_cookies=secure_cookies,
        signer=signer,
        idle_seconds=idle_seconds,
    )
    lifespan = None
    if own_feed:
        engine.bus.subscribe(live.bus_listener)
        lifespan = functools.partial(_feed_lifespan, engine, live)
    router = APIRouter(include_in_schema=False, lifespan=lifespan, dependencies=[Depends(site)])
    router.include_router(static.public)
    router.include_router(signin.public)
    # The application's caller is asked for on the signed-in pages only: the sign-in page
    # and the styles must answer a visitor it refuses.
    callers = [caller_dependency(principal)] if principal is not None else []
    pages = APIRouter(dependencies=callers)
    for page in PAGES:
        pages.include_router(page.router)
    router.include_router(pages)
    if not_found_page:
        router.include_router(missing.public)  # last: it answers every other path
    return router


@contextlib.asynccontextmanager
async def _feed_lifespan(engine: Jobport, live: EventFeed, _app: FastAPI) -> AsyncIterator[None]:
    """Stop the dashboard's own live feed when the application stops."""
    try:
        yield
    finally:
        engine.bus.unsubscribe(live.bus_listener)
        await live.aclose()


__all__ = ["dashboard_router"]
