"""Signing in with an API token, and out, on the dashboard's own sign-in.

When an embedding application signs its users in (``principal=``), the sign-in
page only sends the browser on. Failed sign-ins are throttled per client
address, as wrong bearer tokens are on the API.
"""

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from jobport.errors import ConfigurationError
from jobport.http.auth import hash_token
from jobport.http.throttle import client_key
from jobport.web.context import Dashboard, Site
from jobport.web.errors import DashboardRoute
from jobport.web.session import CSRF_FIELD, Session, clear_cookie, csrf_matches, set_cookie
from jobport.web.viewer import Signed, form_of, require_csrf

SESSION_ENDED = (
    "Your session has ended. Sign in again to continue where you were; a form you were "
    "sending was not sent and has to be filled in again."
)

public = APIRouter(route_class=DashboardRoute)
router = APIRouter(route_class=DashboardRoute)


@public.get("/signin", name="dashboard_signin")
def signin_form(request: Request, site: Site, next: str = "", expired: bool = False) -> Response:
    if site.principal is not None:  # the application signs its users in
        return RedirectResponse(local(next) or home_path(request), 303)
    try:
        signer = site.signer()
    except ConfigurationError as exc:
        return site.render(request, "signin.html", None, 503, setup_error=exc.message, next=next)
    session = site.read_session(request)
    if site.principal_of(session) is not None:
        return RedirectResponse(local(next) or home_path(request), 303)
    if session is None:
        session = signer.new()
    notice = SESSION_ENDED if expired else None
    response = site.render(
        request, "signin.html", None, csrf_token=session.csrf, next=local(next), notice=notice
    )
    set_cookie(response, session, signer.dumps(session), secure=site.is_secure(request))
    return response


@public.post("/signin", name="dashboard_signin_post")
async def signin(request: Request, site: Site) -> Response:
    if site.principal is not None:
        return RedirectResponse(home_path(request), 303)
    form = await form_of(request)
    signer = await run_in_threadpool(site.signer)
    session = site.read_session(request)
    target = local(form.get("next", ""))
    if session is None or not csrf_matches(session, form.get(CSRF_FIELD)):
        session = signer.new()
        error = "The sign-in form expired; please enter your token again."
        response = _form_again(request, site, session, target, 403, error)
    else:
        refused = await _refused(request, site, session, target, form.get("token", "").strip())
        if refused is not None:
            return refused
        session = signer.new(hash_token(form["token"].strip()))  # a fresh CSRF token
        response = RedirectResponse(target or home_path(request), 303)
    set_cookie(response, session, signer.dumps(session), secure=site.is_secure(request))
    return response


async def _refused(
    request: Request, site: Dashboard, session: Session, target: str, token: str
) -> Response | None:
    """The sign-in form again when the client must wait or the token is no user's."""
    client = client_key(request)
    wait = site.sign_in_failures.retry_after(client)
    if wait is not None:
        error = f"Too many failed sign-ins from your address; try again in {wait} s."
        response = _form_again(request, site, session, target, 429, error)
        response.headers["Retry-After"] = str(wait)
        return response
    user = await run_in_threadpool(site.service.token_principal, hash_token(token))
    if not token or user is None:
        site.sign_in_failures.failed(client)
        error = (
            "That token matches no user. Check it, or create a user with the command "
            "“jobport users create NAME”."
        )
        return _form_again(request, site, session, target, 401, error)
    return None


def _form_again(
    request: Request, site: Dashboard, session: Session, target: str, status: int, error: str
) -> Response:
    return site.render(
        request, "signin.html", None, status, csrf_token=session.csrf, next=target, error=error
    )


@router.post("/signout", name="dashboard_signout")
async def signout(request: Request, site: Site, who: Signed) -> Response:
    require_csrf(who, (await form_of(request)).get(CSRF_FIELD))
    await run_in_threadpool(site.service.end_session, who.session.id, who.session.expires_at)
    response = RedirectResponse(request.url_for("dashboard_signin").path, 303)
    clear_cookie(response, secure=site.is_secure(request))
    return response


def home_path(request: Request) -> str:
    return request.url_for("dashboard_home").path


def local(target: str | None) -> str:
    """``target`` if it is a path on this site (no open redirect), else ""."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return ""
    return target
