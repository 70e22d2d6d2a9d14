"""Who is looking at a page: the ``Signed`` dependency, CSRF checks and form reading.

With jobport's own sign-in the session cookie names the user
(:mod:`jobport.web.session`). When an embedding application signs its users in,
its principal dependency runs as a dependency of the signed-in pages' router
(:func:`caller_dependency`), and the cookie only carries the CSRF token, bound
to the caller's name.

No ``from __future__ import annotations``: FastAPI must see the dependency
aliases as objects.
"""

from dataclasses import replace
from typing import Annotated, cast

from fastapi import Depends, Request, WebSocket
from fastapi import params as fastapi_params
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from jobport.errors import ConfigurationError, JobportError
from jobport.http.auth import PrincipalDependency, hash_token
from jobport.principal import Principal
from jobport.web.context import Dashboard, Site, Viewer
from jobport.web.session import csrf_matches


class SignInRequired(Exception):
    """Raised by the viewer dependency; the route class turns it into a redirect."""


class CsrfRejected(JobportError):
    status_code = 403
    title = "Form expired"

    def __init__(self) -> None:
        super().__init__(
            "the form was not sent from this dashboard, or your session changed since it was "
            "shown; reload the page and submit it again"
        )


def caller_dependency(dependency: PrincipalDependency) -> fastapi_params.Depends:
    """A router dependency that runs the application's own principal ``dependency`` (its
    cookie, its session) and leaves the caller on the request for :func:`viewer`."""

    def record_caller(
        connection: HTTPConnection, caller: Annotated[Principal, Depends(dependency)]
    ) -> None:
        connection.state.jobport_caller = caller

    return fastapi_params.Depends(record_caller)


def viewer(request: Request, site: Site) -> Viewer:
    """The dependency of every signed-in page."""
    if site.principal is not None:
        return _host_viewer(request, site, cast(Principal, request.state.jobport_caller))
    session = site.read_session(request)
    principal = site.principal_of(session)
    if principal is None or session is None:
        raise SignInRequired()
    return Viewer(replace(principal, via="dashboard"), session)


def _host_viewer(request: Request, site: Dashboard, caller: Principal) -> Viewer:
    """The application's caller; a session of theirs (for the CSRF token), or a new one."""
    bound = hash_token(f"principal {caller.name}")
    session = site.read_session(request)
    if session is None or session.token_hash != bound:
        session = site.signer().new(bound)
        request.state.jobport_new_session = session  # set by DashboardRoute
    who = Viewer(replace(caller, via="dashboard"), session)  # for the audit trail
    request.state.jobport_viewer = who  # for an error page
    return who


#: The signed-in user of a page.
Signed = Annotated[Viewer, Depends(viewer)]


async def socket_caller(websocket: WebSocket, site: Site) -> Principal | None:
    """The caller of a WebSocket: the application's, or the session cookie's user."""
    if site.principal is not None:
        return cast(Principal, websocket.state.jobport_caller)
    try:
        return await run_in_threadpool(lambda: site.principal_of(site.read_session(websocket)))
    except ConfigurationError:
        return None


def require_csrf(who: Viewer, submitted: str | None) -> None:
    if not csrf_matches(who.session, submitted):
        raise CsrfRejected()


async def form_of(request: Request) -> dict[str, str]:
    """A posted form's text fields."""
    form = await request.form()
    return {k: v for k, v in form.multi_items() if isinstance(v, str)}
