"""How a dashboard page answers when it cannot show itself: in HTML, for a person.

:class:`DashboardRoute` is the route class of every page: a page that needs a
signed-in user sends the browser to the sign-in (back to the page, or for a form
post to the page holding the form), an application's refusal goes to its own
sign-in, any :class:`JobportError` becomes an error page with its status, and
every response carries the dashboard's security headers.
"""

import contextlib
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from jobport.errors import ConfigurationError, JobportError
from jobport.http.auth import Unauthorized
from jobport.web.context import Dashboard, Viewer, current_or_none
from jobport.web.session import COOKIE_NAME, set_cookie
from jobport.web.viewer import SignInRequired

#: The page holding the form of each form post: where a sign-in returns to (a form's
#: address answers POST only) and where a GET of that address is sent.
FORM_PAGES = {
    "dashboard_import_preview": "dashboard_import",
    "dashboard_import_start": "dashboard_import",
    "dashboard_import_discard": "dashboard_import",
    "dashboard_export_start": "dashboard_export",
    "dashboard_sync_start": "dashboard_sync",
    "dashboard_run_action": "dashboard_run",
    "dashboard_signout": "dashboard_home",
}
#: Path parameters a form page takes from its form's address.
PAGE_PARAMS = {"dashboard_run": ("run_id",)}

#: Served with every dashboard response: scripts, styles and connections from this
#: origin only (htmx is vendored; no inline script or style anywhere), no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; "
        "object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class NotFound(JobportError):
    status_code = 404
    title = "Not found"


class DashboardRoute(APIRoute):
    """Pages answer in HTML: a sign-in redirect, an error page, security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except (SignInRequired, JobportError) as exc:
                site = current_or_none(request)
                if site is None:
                    raise
                response = await _answer(request, site, exc)
            site = current_or_none(request)
            new_session = getattr(request.state, "jobport_new_session", None)
            if new_session is not None and site is not None:
                value = await run_in_threadpool(site.signer().dumps, new_session)
                set_cookie(response, new_session, value, secure=site.is_secure(request))
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return route


async def _answer(request: Request, site: Dashboard, exc: Exception) -> Response:
    """The page that says why the page asked for cannot be shown."""
    if isinstance(exc, SignInRequired):
        return sign_in_redirect(request, site)
    to_sign_in = site.sign_in_url is not None and request.method in ("GET", "HEAD")
    if isinstance(exc, Unauthorized) and to_sign_in:
        return sign_in_redirect(request, site, site.sign_in_url)
    assert isinstance(exc, JobportError)
    return await run_in_threadpool(error_page, request, site, exc)


def error_page(request: Request, site: Dashboard, exc: JobportError) -> Response:
    """An error as a page with the menu (signed in) or without it."""
    who: Viewer | None = getattr(request.state, "jobport_viewer", None)
    with contextlib.suppress(Exception):
        session = site.read_session(request)
        principal = site.principal_of(session)
        if principal is not None and session is not None:
            who = Viewer(principal, session)
    return site.render(
        request,
        "error.html",
        who,
        status_code=exc.status_code,
        title=exc.title,
        message=exc.message,
    )


def sign_in_redirect(request: Request, site: Dashboard, sign_in: str | None = None) -> Response:
    """To the sign-in page (jobport's or the application's), coming back here after."""
    target = return_page(request)
    page = sign_in or request.url_for("dashboard_signin").path
    separator = "&" if "?" in page else "?"
    query = {"next": target}
    if sign_in is None and session_ended(request, site):
        query["expired"] = "1"
    location = page + separator + urlencode(query)
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def return_page(request: Request) -> str:
    """Where to come back after signing in: this page, or for a form post the page
    holding the form (its address answers POST only; the form's values are lost)."""
    if request.method in ("GET", "HEAD"):
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return form_page(request, request.scope.get("route"))


def form_page(request: Request, route: Any) -> str:
    """The path of the page holding the form that ``route`` receives."""
    page = FORM_PAGES.get(getattr(route, "name", ""), "dashboard_home")
    params = {k: v for k, v in request.path_params.items() if k in PAGE_PARAMS.get(page, ())}
    return request.url_for(page, **params).path


def session_ended(request: Request, site: Dashboard) -> bool:
    """Whether the browser sent a session that is signed in no more (expired, signed
    out elsewhere, its token replaced), as opposed to never having signed in."""
    if not request.cookies.get(COOKIE_NAME):
        return False
    try:
        session = site.read_session(request)
    except ConfigurationError:
        return False
    return session is None or session.signed_in
