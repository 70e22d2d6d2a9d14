"""The dashboard's routes, built around one engine by :func:`dashboard_router`.

Server-rendered pages (Jinja2) with htmx for the parts that refresh on their
own; every page also works as plain links and forms. The rules are the
API's: a user sees and acts on their own runs, an admin on every run, and
another user's run answers 404 like a missing one. Sign-in, the session
cookie and CSRF are explained in :mod:`jobport.web.session`.

Storage and database calls block, so page routes are plain functions (run
in the thread pool); the upload and the WebSocket are async.

No ``from __future__ import annotations``: FastAPI must see the ``Viewer``
dependency alias as an object.
"""

import contextlib
import json
import logging
import math
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Request, Response, WebSocket
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import HTTPConnection
from starlette.routing import Match

from jobport.dispatch import StartRequest, format_from_name
from jobport.engine import Jobport
from jobport.errors import (
    ConfigurationError,
    InputError,
    JobportError,
    PermissionDenied,
    RunNotFound,
    UnknownJobType,
)
from jobport.http.auth import PrincipalDependency, Unauthorized, hash_token
from jobport.http.downloads import error_report_response, result_file_response
from jobport.http.feeds import EventFeed, feed_for
from jobport.http.live import send_to_websocket
from jobport.http.throttle import FailureThrottle, client_key
from jobport.http.uploads import receive_upload
from jobport.kinds import PlanRequest
from jobport.kinds.imports import Preview, preview_import
from jobport.kinds.syncs import Syncer
from jobport.principal import Principal
from jobport.registry import KINDS, JobType
from jobport.service import JobService
from jobport.store import RunFilter, RunRecord
from jobport.store.jobstore import RunStats
from jobport.store.records import CHUNK_STATUSES, RUN_STATUSES
from jobport.web import charts, filters, forms
from jobport.web.session import (
    COOKIE_NAME,
    CSRF_FIELD,
    CSRF_HEADER,
    Session,
    SessionSigner,
    clear_cookie,
    csrf_matches,
    end_session,
    installation_key,
    same_origin,
    session_user,
    set_cookie,
)

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
#: Rows a dry run validates before an import is started.
PREVIEW_ROWS = 20
HISTORY_PAGE = 25
FAILURES_PAGE = 25
#: Most cells the chunk grid draws; beyond that one cell stands for several chunks.
GRID_CELLS = 600
STAT_PERIODS = (7, 14, 30)
#: How long a run page waits for a completed export's file to be recorded.
FILE_WAIT_SECONDS = 120
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
SESSION_ENDED = (
    "Your session has ended. Sign in again to continue where you were; a form you were "
    "sending was not sent and has to be filled in again."
)

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


def options_form(
    job_type: JobType | None, values: Mapping[str, str], errors: Mapping[str, str] | None
) -> dict[str, Any]:
    """The options part of a start form: its fields (from the type's schema), what was
    sent, and the error that concerns the whole form."""
    fields = forms.form_fields(job_type.options_json_schema(), values, errors) if job_type else []
    return {"fields": fields, "values": values, "form_error": (errors or {}).get("")}


class SignInRequired(Exception):
    """Raised by the viewer dependency; the route class turns it into a redirect."""


class NotFound(JobportError):
    status_code = 404
    title = "Not found"


class CsrfRejected(JobportError):
    status_code = 403
    title = "Form expired"

    def __init__(self) -> None:
        super().__init__(
            "the form was not sent from this dashboard, or your session changed since it was "
            "shown; reload the page and submit it again"
        )


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of a request and their session (for the CSRF token)."""

    principal: Principal
    session: Session


@dataclass(frozen=True)
class ExportLink:
    """What the run and downloads pages show of a result file."""

    filename: str
    size: int | None
    rows: int | None
    expires_at: datetime | None
    expired: bool
    url: str


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
    if own_feed:
        engine.bus.subscribe(live.bus_listener)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if own_feed:
                engine.bus.unsubscribe(live.bus_listener)
                await live.aclose()

    store = engine.store
    registry = engine.registry
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    filters.install(templates.env)
    templates.env.globals.update(
        path_for=_path_for,
        CSRF_FIELD=CSRF_FIELD,
        CSRF_HEADER=CSRF_HEADER,
        series_class=charts.series_class,
        usable_formats=forms.usable_formats,
        missing_extras=forms.missing_extras,
        own_sign_in=principal is None,
    )
    signers: list[SessionSigner] = [signer] if signer is not None else []
    sign_in_failures = FailureThrottle.from_settings(engine.settings)

    # -- sessions ---------------------------------------------------------------------------

    def the_signer() -> SessionSigner:
        if not signers:
            signers.append(SessionSigner(installation_key(engine.settings)))
        return signers[0]

    def is_secure(connection: HTTPConnection) -> bool:
        if secure_cookies is not None:
            return secure_cookies
        return connection.url.scheme in ("https", "wss")

    def read_session(connection: HTTPConnection) -> Session | None:
        return the_signer().loads(connection.cookies.get(COOKIE_NAME))

    def principal_of(session: Session | None) -> Principal | None:
        user = session_user(store, session)
        if user is None:
            return None
        return Principal(user.name, user.is_admin, frozenset(user.roles))

    def viewer(request: Request) -> Viewer:
        """The dependency of every signed-in page."""
        session = read_session(request)
        principal = principal_of(session)
        if principal is None or session is None:
            raise SignInRequired()
        return Viewer(principal, session)

    def host_viewer_of(dependency: PrincipalDependency) -> Callable[..., Viewer]:
        def host_viewer(
            request: Request, caller: Annotated[Principal, Depends(dependency)]
        ) -> Viewer:
            """The application's caller; a session of theirs (for the CSRF token), or a new one."""
            bound = hash_token(f"principal {caller.name}")
            session = read_session(request)
            if session is None or session.token_hash != bound:
                session = the_signer().new(bound)
                request.state.jobport_new_session = session  # set by DashboardRoute
            who = Viewer(caller, session)
            request.state.jobport_viewer = who  # for an error page
            return who

        return host_viewer

    Signed = Annotated[Viewer, Depends(viewer if principal is None else host_viewer_of(principal))]

    def require_csrf(who: Viewer, submitted: str | None) -> None:
        if not csrf_matches(who.session, submitted):
            raise CsrfRejected()

    async def form_of(request: Request) -> dict[str, str]:
        form = await request.form()
        return {k: v for k, v in form.multi_items() if isinstance(v, str)}

    # -- rendering --------------------------------------------------------------------------

    def render(
        request: Request,
        template: str,
        who: Viewer | None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        context.setdefault("nav", "")
        response = templates.TemplateResponse(
            request,
            template,
            {
                "viewer": who.principal if who else None,
                "csrf": who.session.csrf if who else "",
                "time_zone": "UTC",
                # Most apps have no sync type: their menu has no Sync page that is always empty.
                "has_syncs": bool(registry.of_kind("sync")),
                **context,
            },
            status_code=status_code,
        )
        return response

    def sign_in_redirect(request: Request, sign_in: str | None = None) -> Response:
        target = return_page(request)
        page = sign_in or request.url_for("dashboard_signin").path
        separator = "&" if "?" in page else "?"
        query = {"next": target}
        if sign_in is None and session_ended(request):
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
        page = FORM_PAGES.get(getattr(route, "name", ""), "dashboard_home")
        params = {k: v for k, v in request.path_params.items() if k in PAGE_PARAMS.get(page, ())}
        return request.url_for(page, **params).path

    def session_ended(request: Request) -> bool:
        """Whether the browser sent a session that is signed in no more (expired, signed
        out elsewhere, its token replaced), as opposed to never having signed in."""
        if not request.cookies.get(COOKIE_NAME):
            return False
        try:
            session = read_session(request)
        except ConfigurationError:
            return False
        return session is None or session.signed_in

    def error_page(request: Request, exc: JobportError) -> Response:
        who: Viewer | None = getattr(request.state, "jobport_viewer", None)
        with contextlib.suppress(Exception):
            session = read_session(request)
            principal = principal_of(session)
            if principal is not None and session is not None:
                who = Viewer(principal, session)
        return render(
            request,
            "error.html",
            who,
            status_code=exc.status_code,
            title=exc.title,
            message=exc.message,
        )

    class DashboardRoute(APIRoute):
        """Pages answer in HTML: a sign-in redirect, an error page, security headers."""

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def route(request: Request) -> Response:
                try:
                    response = await handler(request)
                except SignInRequired:
                    response = sign_in_redirect(request)
                except Unauthorized as exc:
                    if sign_in_url is not None and request.method in ("GET", "HEAD"):
                        response = sign_in_redirect(request, sign_in_url)
                    else:
                        response = await run_in_threadpool(error_page, request, exc)
                except JobportError as exc:
                    response = await run_in_threadpool(error_page, request, exc)
                new_session = getattr(request.state, "jobport_new_session", None)
                if new_session is not None:
                    value = await run_in_threadpool(the_signer().dumps, new_session)
                    set_cookie(response, new_session, value, secure=is_secure(request))
                for name, value in SECURITY_HEADERS.items():
                    response.headers.setdefault(name, value)
                response.headers.setdefault("Cache-Control", "no-store")
                return response

            return route

    router = APIRouter(route_class=DashboardRoute, include_in_schema=False, lifespan=lifespan)

    # -- helpers ----------------------------------------------------------------------------

    def visible_run(run_id: str, who: Viewer) -> RunRecord:
        run = store.find_run(run_id)
        if run is None or not who.principal.can_see(run.owner):
            raise RunNotFound(run_id)
        return run

    def may_start(job_type: JobType, who: Viewer) -> bool:
        principal = who.principal
        return not job_type.roles or principal.is_admin or bool(job_type.roles & principal.roles)

    def startable(who: Viewer, *kinds: str) -> list[JobType]:
        return [t for t in registry if t.kind in kinds and may_start(t, who)]

    def chosen_type(who: Viewer, name: str | None, *kinds: str) -> JobType | None:
        choices = startable(who, *kinds)
        for job_type in choices:
            if job_type.type == name:
                return job_type
        if name:
            if name in registry and registry.get(name).kind in kinds:
                raise PermissionDenied(
                    f"job type '{name}' needs one of the roles: "
                    f"{', '.join(sorted(registry.get(name).roles))}"
                )
            raise UnknownJobType(name, [t.type for t in choices])
        return choices[0] if choices else None

    def start_request(who: Viewer, **values: Any) -> StartRequest:
        principal = who.principal
        return StartRequest(
            owner=principal.name, roles=principal.roles, is_admin=principal.is_admin, **values
        )

    def label_of(type_: str) -> str:
        return registry.get(type_).label if type_ in registry else type_

    def result_link(request: Request, run: RunRecord) -> ExportLink | None:
        if not run.result_key:
            return None
        info = JobService(engine).result_file(run)
        return ExportLink(
            filename=info.filename,
            size=info.size,
            rows=info.rows,
            expires_at=info.expires_at,
            expired=info.expired,
            url=request.url_for("dashboard_download", run_id=run.id).path,
        )

    def home_path(request: Request) -> str:
        return request.url_for("dashboard_home").path

    def see_run(request: Request, run_id: str) -> RedirectResponse:
        return RedirectResponse(request.url_for("dashboard_run", run_id=run_id).path, 303)

    # -- static files -----------------------------------------------------------------------

    static_files = {p.name for p in STATIC.iterdir() if p.is_file()}

    @router.get("/static/{name}", name="dashboard_static")
    def static(name: str) -> Response:
        """The vendored files (a fixed list: no path from the request reaches the disk)."""
        if name not in static_files:
            raise NotFound(f"no static file '{name}'")
        media = {
            ".js": "text/javascript; charset=utf-8",
            ".css": "text/css; charset=utf-8",
            ".svg": "image/svg+xml",
        }.get(Path(name).suffix, "text/plain; charset=utf-8")
        return FileResponse(
            STATIC / name, media_type=media, headers={"Cache-Control": "public, max-age=3600"}
        )

    # -- sign in and out --------------------------------------------------------------------

    @router.get("/signin", name="dashboard_signin")
    def signin_form(request: Request, next: str = "", expired: bool = False) -> Response:
        if principal is not None:  # the application signs its users in
            return RedirectResponse(_local(next) or home_path(request), 303)
        try:
            signer_ = the_signer()
        except ConfigurationError as exc:
            return render(request, "signin.html", None, 503, setup_error=exc.message, next=next)
        session = read_session(request)
        if principal_of(session) is not None:
            return RedirectResponse(_local(next) or home_path(request), 303)
        if session is None:
            session = signer_.new()
        notice = SESSION_ENDED if expired else None
        response = render(
            request, "signin.html", None, csrf_token=session.csrf, next=_local(next), notice=notice
        )
        set_cookie(response, session, signer_.dumps(session), secure=is_secure(request))
        return response

    @router.post("/signin", name="dashboard_signin_post")
    async def signin(request: Request) -> Response:
        if principal is not None:
            return RedirectResponse(home_path(request), 303)
        form = await form_of(request)
        signer_ = await run_in_threadpool(the_signer)
        session = read_session(request)
        target = _local(form.get("next", ""))
        if session is None or not csrf_matches(session, form.get(CSRF_FIELD)):
            session = signer_.new()
            response: Response = render(
                request,
                "signin.html",
                None,
                403,
                csrf_token=session.csrf,
                next=target,
                error="The sign-in form expired; please enter your token again.",
            )
        else:
            client = client_key(request)
            wait = sign_in_failures.retry_after(client)
            if wait is not None:
                response = render(
                    request,
                    "signin.html",
                    None,
                    429,
                    csrf_token=session.csrf,
                    next=target,
                    error=f"Too many failed sign-ins from your address; try again in {wait} s.",
                )
                response.headers["Retry-After"] = str(wait)
                return response
            token = form.get("token", "").strip()
            user = await run_in_threadpool(store.user_by_token_hash, hash_token(token))
            if not token or user is None:
                sign_in_failures.failed(client)
                response = render(
                    request,
                    "signin.html",
                    None,
                    401,
                    csrf_token=session.csrf,
                    next=target,
                    error="That token matches no user. Check it, or create a user with "
                    "`jobport users create NAME`.",
                )
                return response
            session = signer_.new(hash_token(token))  # a fresh CSRF token with the sign-in
            response = RedirectResponse(target or home_path(request), 303)
        set_cookie(response, session, signer_.dumps(session), secure=is_secure(request))
        return response

    @router.post("/signout", name="dashboard_signout")
    async def signout(request: Request, who: Signed) -> Response:
        require_csrf(who, (await form_of(request)).get(CSRF_FIELD))
        await run_in_threadpool(end_session, store, who.session)
        response = RedirectResponse(request.url_for("dashboard_signin").path, 303)
        clear_cookie(response, secure=is_secure(request))
        return response

    # -- dashboard --------------------------------------------------------------------------

    @router.get("/", name="dashboard_home")
    def home(request: Request, who: Signed, days: int = 14) -> Response:
        days = days if days in STAT_PERIODS else 14
        owner = None if who.principal.is_admin else who.principal.name
        now = datetime.now(UTC)
        since = datetime.combine(now.date() - timedelta(days=days - 1), time(), UTC)
        stats = store.run_stats(owner=owner, since=since, until=now)
        labels = {t.type: label_of(t.type) for t in stats.types}
        order = sorted(stats.volume, key=lambda t: (labels.get(t, t), t))
        finished = sum(t.finished for t in stats.types)
        succeeded = sum(t.completed + t.with_errors for t in stats.types)
        failed = sum(t.failed for t in stats.types)
        context = {
            "nav": "home",
            "days": days,
            "periods": STAT_PERIODS,
            "stats": stats,
            "labels": labels,
            "series": {t: charts.series_class(n) for n, t in enumerate(order)},
            "success_rate": succeeded / finished if finished else None,
            "failure_rate": failed / finished if finished else None,
            "rows": sum(t.rows for t in stats.types),
            **_dashboard_charts(stats, labels, order),
            **active_context(who),
        }
        return render(request, "dashboard.html", who, **context)

    def active_context(who: Viewer) -> dict[str, Any]:
        runs = [r for r in store.active_runs() if who.principal.can_see(r.owner)]
        runs.reverse()  # newest first
        return {"active": [_progress(r) | {"run": r} for r in runs]}

    @router.get("/fragments/active", name="dashboard_active")
    def active_fragment(request: Request, who: Signed) -> Response:
        return render(request, "_active.html", who, **active_context(who))

    # -- import -----------------------------------------------------------------------------

    @router.get("/import", name="dashboard_import")
    def import_page(
        request: Request, who: Signed, type: str | None = None, retry_of: str | None = None
    ) -> Response:
        job_type = chosen_type(who, type, "import")
        if retry_of:
            original = visible_run(retry_of, who)
            job_type = chosen_type(who, original.type, "import")
        return render(
            request, "import.html", who, **import_context(who, job_type, retry_of=retry_of)
        )

    @router.get("/import/fields", name="dashboard_import_fields")
    def import_fields(request: Request, who: Signed, type: str | None = None) -> Response:
        job_type = chosen_type(who, type, "import")
        return render(request, "_import_fields.html", who, **import_context(who, job_type))

    def import_context(
        who: Viewer,
        job_type: JobType | None,
        *,
        values: Mapping[str, str] | None = None,
        errors: Mapping[str, str] | None = None,
        retry_of: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        values = values or {}
        return {
            "nav": "import",
            "job_type": job_type,
            "choices": startable(who, "import"),
            **options_form(job_type, values, errors),
            "retry_of": retry_of or values.get("retry_of", ""),
            "preview_rows": PREVIEW_ROWS,
            **extra,
        }

    @router.post("/import/preview", name="dashboard_import_preview")
    async def import_preview(request: Request, who: Signed) -> Response:
        """Check an upload and its first rows, then send the browser to the preview's own
        address (POST/redirect/GET), so Back from the run page shows the preview again
        instead of the browser's "resubmit the form?" page.

        A problem with the file (empty, too large, unreadable) or with the options is
        said in the form, which keeps what was sent; the upload is then deleted.
        """

        def store_upload(stream: Any, filename: str | None) -> str:
            return engine.dispatcher.store_upload(stream, filename)

        try:
            upload = await receive_upload(
                request,
                store=store_upload,
                delete=engine.files.delete,
                max_bytes=engine.settings.max_upload_bytes,
            )
        except JobportError as exc:  # too large, or no file in the form
            job_type = await run_in_threadpool(chosen_type, who, None, "import")
            context = import_context(who, job_type, errors={"": exc.message})
            return render(request, "import.html", who, exc.status_code, **context)
        assert upload.key is not None
        key, fields = upload.key, upload.fields
        keep = False
        try:
            require_csrf(who, fields.get(CSRF_FIELD))
            job_type = await run_in_threadpool(chosen_type, who, fields.get("type"), "import")
            if job_type is None:
                raise InputError("there is no import type you may start")
            try:
                errors = await run_in_threadpool(check_upload, who, job_type, upload)
            except JobportError as exc:
                errors, status = {"": exc.message}, exc.status_code
            else:
                status = 422
            if errors:
                context = import_context(who, job_type, values=fields, errors=errors)
                return render(request, "import.html", who, status, **context)
            previous = the_signer().unstage(fields.get("staged"), job_type.type, who.principal.name)
            if previous is not None and previous[0] != key:  # a new preview replaces it
                await run_in_threadpool(engine.files.delete, previous[0])
            filename = upload.filename or "upload"
            staged = the_signer().stage(key, job_type.type, who.principal.name, filename)
            keep = True
            kept = {k: v for k, v in fields.items() if k not in (CSRF_FIELD, "staged")}
            query = urlencode({**kept, "type": job_type.type, "staged": staged})
            page = request.url_for("dashboard_import_preview_page").path
            return RedirectResponse(f"{page}?{query}", 303)
        finally:
            if not keep:
                await run_in_threadpool(engine.files.delete, key)

    def check_upload(who: Viewer, job_type: JobType, upload: Any) -> dict[str, str]:
        """The options' errors (by option) once the file passed its checks; raises
        :class:`InputError` for the file itself (too large, empty, unreadable)."""
        limit = engine.dispatcher.limits_for(job_type).max_file_bytes
        if limit and upload.size > limit:
            raise InputError(
                f"the file holds {upload.size:,} bytes, over the limit of {limit:,} bytes "
                f"of '{job_type.type}'"
            )
        if not upload.size:
            raise InputError("the file is empty; choose a file with a header and rows")
        fields: dict[str, str] = upload.fields
        if fields.get("retry_of"):
            visible_run(fields["retry_of"], who)
        options = forms.read_options(job_type.options_json_schema(), fields)
        errors = forms.validate(job_type.options, options)
        if not errors:
            fmt = fields.get("format") or format_from_name(upload.filename or "", job_type)
            forms.require_format(fmt, job_type.formats)
            read = {k: fields[k] for k in ("encoding", "delimiter") if fields.get(k)}
            _preview(engine, job_type, options, upload.key, fmt, read)
        return errors

    @router.get("/import/preview", name="dashboard_import_preview_page")
    def import_preview_page(request: Request, who: Signed) -> Response:
        """The dry run of a staged upload: the first rows checked, nothing written yet."""
        fields = dict(request.query_params)
        job_type = chosen_type(who, fields.get("type"), "import")
        if job_type is None:
            raise InputError("there is no import type you may start")
        staged = the_signer().unstage(fields.get("staged"), job_type.type, who.principal.name)
        if staged is None or not engine.files.exists(staged[0]):
            gone = {"": "the previewed file is no longer known; upload it again"}
            context = import_context(who, job_type, values=fields, errors=gone)
            return render(request, "import.html", who, **context)
        key, filename = staged
        options = forms.read_options(job_type.options_json_schema(), fields)
        fmt = fields.get("format") or format_from_name(filename, job_type)
        read = {k: fields[k] for k in ("encoding", "delimiter") if fields.get(k)}
        try:
            preview = _preview(engine, job_type, options, key, fmt, read)
        except JobportError as exc:
            context = import_context(who, job_type, values=fields, errors={"": exc.message})
            return render(request, "import.html", who, exc.status_code, **context)
        return render(
            request,
            "import.html",
            who,
            **import_context(
                who,
                job_type,
                values=fields,
                preview=preview,
                preview_summary=_preview_summary(preview),
                staged=fields["staged"],
                filename=filename,
                file_size=engine.files.size(key),
                start_options=json.dumps(options),
                start_format=fmt,
                start_read=json.dumps(read),
            ),
        )

    @router.post("/import/start", name="dashboard_import_start")
    async def import_start(request: Request, who: Signed) -> Response:
        form = await form_of(request)
        require_csrf(who, form.get(CSRF_FIELD))
        job_type = await run_in_threadpool(chosen_type, who, form.get("type"), "import")
        assert job_type is not None
        staged = the_signer().unstage(form.get("staged"), job_type.type, who.principal.name)
        if staged is None:
            raise InputError("the previewed file is no longer known; upload it again")
        key, filename = staged
        retry_of = form.get("retry_of") or None
        if retry_of:
            await run_in_threadpool(visible_run, retry_of, who)
        start = start_request(
            who,
            type=job_type.type,
            options=_json_object(form.get("options")),
            format=form.get("format") or None,
            read={k: str(v) for k, v in _json_object(form.get("read")).items()},
            retry_of=retry_of,
            source_name=filename,
        )
        run = await run_in_threadpool(engine.dispatcher.start, start, source_key=key)
        return see_run(request, run.id)

    @router.post("/import/discard", name="dashboard_import_discard")
    async def import_discard(request: Request, who: Signed) -> Response:
        form = await form_of(request)
        require_csrf(who, form.get(CSRF_FIELD))
        staged = the_signer().unstage(form.get("staged"), form.get("type", ""), who.principal.name)
        if staged is not None:
            await run_in_threadpool(engine.files.delete, staged[0])
        target = request.url_for("dashboard_import").path
        return RedirectResponse(f"{target}?{urlencode({'type': form.get('type', '')})}", 303)

    # -- export -----------------------------------------------------------------------------

    @router.get("/export", name="dashboard_export")
    def export_page(request: Request, who: Signed, type: str | None = None) -> Response:
        job_type = chosen_type(who, type, "export", "report")
        return render(request, "export.html", who, **export_context(who, job_type))

    @router.get("/export/fields", name="dashboard_export_fields")
    def export_fields(request: Request, who: Signed, type: str | None = None) -> Response:
        job_type = chosen_type(who, type, "export", "report")
        return render(request, "_export_fields.html", who, **export_context(who, job_type))

    def export_context(
        who: Viewer,
        job_type: JobType | None,
        *,
        values: Mapping[str, str] | None = None,
        errors: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        values = values or {}
        return {
            "nav": "export",
            "job_type": job_type,
            "groups": [
                ("Exports", startable(who, "export")),
                ("Reports", startable(who, "report")),
            ],
            **options_form(job_type, values, errors),
        }

    @router.post("/export/start", name="dashboard_export_start")
    async def export_start(request: Request, who: Signed) -> Response:
        form = await form_of(request)
        require_csrf(who, form.get(CSRF_FIELD))
        job_type = await run_in_threadpool(chosen_type, who, form.get("type"), "export", "report")
        if job_type is None:
            raise InputError("there is no export or report type you may start")
        options = forms.read_options(job_type.options_json_schema(), form)
        errors = forms.validate(job_type.options, options)
        fmt = form.get("format") or None
        try:
            forms.require_format(fmt, job_type.formats)
        except InputError as exc:
            errors.setdefault("", exc.message)
        if errors:
            context = export_context(who, job_type, values=form, errors=errors)
            return render(request, "export.html", who, 422, **context)
        start = start_request(who, type=job_type.type, options=options, format=fmt)
        run = await run_in_threadpool(engine.start, start)
        return see_run(request, run.id)

    # -- sync -------------------------------------------------------------------------------

    @router.get("/sync", name="dashboard_sync")
    def sync_page(request: Request, who: Signed, type: str | None = None) -> Response:
        job_type = chosen_type(who, type, "sync")
        return render(request, "sync.html", who, **sync_context(who, job_type))

    @router.get("/sync/fields", name="dashboard_sync_fields")
    def sync_fields(request: Request, who: Signed, type: str | None = None) -> Response:
        job_type = chosen_type(who, type, "sync")
        return render(request, "_sync_fields.html", who, **sync_context(who, job_type))

    def sync_context(
        who: Viewer,
        job_type: JobType | None,
        *,
        values: Mapping[str, str] | None = None,
        errors: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        values = values or {}
        return {
            "nav": "sync",
            "job_type": job_type,
            "choices": startable(who, "sync"),
            "always_full": job_type is not None and _always_full(job_type),
            **options_form(job_type, values, errors),
        }

    @router.post("/sync/start", name="dashboard_sync_start")
    async def sync_start(request: Request, who: Signed) -> Response:
        form = await form_of(request)
        require_csrf(who, form.get(CSRF_FIELD))
        job_type = await run_in_threadpool(chosen_type, who, form.get("type"), "sync")
        if job_type is None:
            raise InputError("there is no sync type you may start")
        options = forms.read_options(job_type.options_json_schema(), form)
        errors = forms.validate(job_type.options, options)
        if errors:
            context = sync_context(who, job_type, values=form, errors=errors)
            return render(request, "sync.html", who, 422, **context)
        # What `jobport sync --full` asks for: the plan ignores the stored cursor.
        read = {"full": True} if form.get("full") else {}
        start = start_request(who, type=job_type.type, options=options, read=read)
        run = await run_in_threadpool(engine.start, start)
        return see_run(request, run.id)

    # -- history ----------------------------------------------------------------------------

    @router.get("/history", name="dashboard_history")
    def history(
        request: Request,
        who: Signed,
        kind: str = "",
        type: str = "",
        status: str = "",
        since: str = "",
        until: str = "",
        owner: str = "",
        page: int = 1,
    ) -> Response:
        page_no = max(1, page)
        problems: list[str] = []
        since_at = _day_start(since, "From", problems)
        until_day = _day_start(until, "To", problems)
        until_at = until_day + timedelta(days=1) if until_day else None
        if kind and kind not in KINDS:
            problems.append(f"unknown kind '{kind}'")
            kind = ""
        if status and status not in RUN_STATUSES:
            problems.append(f"unknown status '{status}'")
            status = ""
        if not who.principal.is_admin:
            owner = ""
        filters_ = RunFilter(
            kind=kind or None,
            type=type or None,
            status=status or None,
            owner=(owner or None) if who.principal.is_admin else who.principal.name,
            since=since_at,
            until=until_at,
        )
        runs, total = store.list_runs(
            filters_, limit=HISTORY_PAGE, offset=(page_no - 1) * HISTORY_PAGE
        )
        pages = max(1, math.ceil(total / HISTORY_PAGE))
        query = {
            k: v
            for k, v in {
                "kind": kind,
                "type": type,
                "status": status,
                "since": since,
                "until": until,
                "owner": owner,
            }.items()
            if v
        }
        return render(
            request,
            "history.html",
            who,
            nav="history",
            runs=[_progress(r) | {"run": r} for r in runs],
            total=total,
            page_no=page_no,
            pages=pages,
            query=query,
            page_link=lambda n: "?" + urlencode({**query, "page": n}),
            kinds=KINDS,
            types=sorted(registry, key=lambda t: t.label.lower()),
            statuses=RUN_STATUSES,
            problems=problems,
            labels={t.type: t.label for t in registry},
        )

    # -- one run ----------------------------------------------------------------------------

    def run_context(request: Request, who: Viewer, run: RunRecord) -> dict[str, Any]:
        chunks = _as_shown(store.chunks(run.id), run)
        counts = dict.fromkeys((*CHUNK_STATUSES, "stopping"), 0)
        for chunk in chunks:
            counts[chunk["status"]] = counts.get(chunk["status"], 0) + 1
        stopped = run.status in ("failed", "cancelled")
        return {
            "run": run,
            "sync_from": _sync_from(run, registry.get(run.type) if run.type in registry else None),
            "awaiting_file": _awaiting_file(run),
            "file_problem": _file_problem(run),
            "summary": _report_summary(run),
            "shows_rejected": _shows_rejected(run),
            "label": label_of(run.type),
            "progress": _progress(run),
            "grid": _grid(chunks),
            "chunk_counts": {k: v for k, v in counts.items() if v},
            "settling": counts["stopping"] > 0,
            "failed_chunks": [c for c in chunks if c["errors"]] if who.principal.is_admin else [],
            "can_cancel": not run.finished,
            # Retry runs the failed chunks again; Resume also the cancelled ones: each
            # button is offered only when it would do something the other does not.
            "can_retry": stopped and counts["failed"] > 0,
            "can_resume": stopped and counts["cancelled"] > 0,
            "result": result_link(request, run),
            "live_url": request.url_for("dashboard_run_live", run_id=run.id).path,
            "ws_path": request.url_for("dashboard_run_ws", run_id=run.id).path,
            "failures_url": request.url_for("dashboard_run_failures", run_id=run.id).path,
        }

    def failures_context(request: Request, run: RunRecord, page_no: int) -> dict[str, Any]:
        items, total = store.list_failures(
            run.id, limit=FAILURES_PAGE, offset=(page_no - 1) * FAILURES_PAGE
        )
        for item in items:
            raw = item.get("raw") or {}
            item["value"] = raw.get(item.get("column") or "", "") if item.get("column") else ""
        return {
            "run": run,
            "failures": items,
            "failures_total": total,
            "failures_page": page_no,
            "failures_pages": max(1, math.ceil(total / FAILURES_PAGE)),
            "failures_url": request.url_for("dashboard_run_failures", run_id=run.id).path,
            "report_url": request.url_for("dashboard_run_report", run_id=run.id).path,
        }

    @router.get("/runs/{run_id}", name="dashboard_run")
    def run_page(request: Request, run_id: str, who: Signed, failures: int = 1) -> Response:
        run = visible_run(run_id, who)
        context = run_context(request, who, run) | failures_context(request, run, max(1, failures))
        return render(request, "run.html", who, nav="history", **context)

    @router.get("/runs/{run_id}/live", name="dashboard_run_live")
    def run_live(request: Request, run_id: str, who: Signed) -> Response:
        """The live section, and the rejected rows swapped in out of band from the same
        request, so the list never says "none so far" beside a bar counting rejections."""
        run = visible_run(run_id, who)
        context = run_context(request, who, run)
        if context["shows_rejected"]:
            context |= failures_context(request, run, 1) | {"oob_failures": True}
        return render(request, "_run_live.html", who, **context)

    @router.get("/runs/{run_id}/failures", name="dashboard_run_failures")
    def run_failures(request: Request, run_id: str, who: Signed, page: int = 1) -> Response:
        run = visible_run(run_id, who)
        number = max(1, page)
        return render(request, "_failures.html", who, **failures_context(request, run, number))

    @router.get("/runs/{run_id}/report.csv", name="dashboard_run_report")
    def run_report(run_id: str, who: Signed) -> Response:
        return error_report_response(engine, visible_run(run_id, who))

    @router.get("/runs/{run_id}/download", name="dashboard_download")
    def download(run_id: str, who: Signed) -> Response:
        return result_file_response(
            engine, JobService(engine).downloadable(visible_run(run_id, who))
        )

    @router.post("/runs/{run_id}/{action}", name="dashboard_run_action")
    async def run_action(request: Request, run_id: str, action: str, who: Signed) -> Response:
        form = await form_of(request)
        require_csrf(who, form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER))
        act = {"cancel": engine.cancel, "retry": engine.retry, "resume": engine.resume}.get(action)
        if act is None:
            raise RunNotFound(run_id)
        await run_in_threadpool(visible_run, run_id, who)
        await run_in_threadpool(act, run_id)
        return see_run(request, run_id)

    async def session_principal(websocket: WebSocket) -> Principal | None:
        try:
            return await run_in_threadpool(lambda: principal_of(read_session(websocket)))
        except ConfigurationError:
            return None

    @router.websocket("/runs/{run_id}/ws", name="dashboard_run_ws")
    async def run_ws(
        websocket: WebSocket,
        run_id: str,
        caller: Annotated[Principal | None, Depends(principal or session_principal)],
    ) -> None:
        """The run's live events for its page, authenticated by the session cookie.

        The API's WebSocket wants the bearer token, which the browser does not
        hold: the cookie stands in (or the application's own ``principal``
        dependency, which sees the application's cookie), and ``Origin`` must
        be this host (a cross-site page cannot open it with the user's cookie).
        """
        if not same_origin(websocket):
            await websocket.close(4403)
            return
        run = await run_in_threadpool(store.find_run, run_id) if caller else None
        if caller is None or run is None or not caller.can_see(run.owner):
            await websocket.close(4404)
            return
        if run.strategy != "websocket":
            await websocket.close(4409)
            return
        await websocket.accept()
        await send_to_websocket(websocket, store, live, run.id, idle_seconds=idle_seconds)

    # -- downloads --------------------------------------------------------------------------

    @router.get("/downloads", name="dashboard_downloads")
    def downloads(request: Request, who: Signed) -> Response:
        runs: list[RunRecord] = []
        for kind in ("export", "report"):
            found, _ = store.runs_with_results(kind=kind, owner=who.principal.name, limit=200)
            runs.extend(found)
        epoch = datetime.min.replace(tzinfo=UTC)
        runs.sort(key=lambda r: r.finished_at or epoch, reverse=True)
        items = [(run, result_link(request, run)) for run in runs]
        return render(
            request,
            "downloads.html",
            who,
            nav="downloads",
            items=items,
            labels={t.type: t.label for t in registry},
        )

    if not_found_page:

        @router.api_route("/{path:jobport_page}", methods=list(ALL_METHODS), name="dashboard_404")
        def not_found(request: Request, path: str) -> Response:
            """A GET of a form's address (a bookmark, a sign-in's old ``next``) opens the
            form; any other unknown page is an HTML 404, not the API's JSON."""
            if request.method in ("GET", "HEAD"):
                form = form_route_of(request)
                if form is not None:
                    return RedirectResponse(form_page(request, form), 303)
            raise NotFound(f"there is no page at {request.url.path}")

        def form_route_of(request: Request) -> APIRoute | None:
            for route in router.routes:
                if isinstance(route, APIRoute) and route.name in FORM_PAGES:
                    match, child = route.matches({**request.scope, "method": "POST"})
                    if match is Match.FULL:
                        request.scope["path_params"] = child.get("path_params", {})
                        return route
            return None

    return router


class _PageConvertor(Convertor[str]):
    """Any path but the API's (``api`` or under ``api/``): its unknown paths stay JSON."""

    regex = r"(?!api(?:/|$)).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("jobport_page", _PageConvertor())
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


# -- helpers ----------------------------------------------------------------------------------


@pass_context
def _path_for(context: Mapping[str, Any], name: str, /, **params: Any) -> str:
    """A route's path, not a full URL: links stay right behind a proxy that changes
    the scheme or the host."""
    request: Request = context["request"]
    return request.url_for(name, **params).path


def _dashboard_charts(stats: RunStats, labels: dict[str, str], order: list[str]) -> dict[str, Any]:
    """The four charts of the dashboard, each drawn wide and narrow."""
    finished = sum(t.finished for t in stats.types)
    succeeded = sum(t.completed + t.with_errors for t in stats.types)
    volume = {t: stats.volume[t] for t in order}
    outcomes = [
        (
            labels[t.type],
            [
                charts.Segment("outcome-completed", t.completed, "completed"),
                charts.Segment("outcome-errors", t.with_errors, "completed with errors"),
                charts.Segment("outcome-failed", t.failed, "failed"),
                charts.Segment("outcome-cancelled", t.cancelled, "cancelled"),
            ],
        )
        for t in stats.types
    ]
    durations = [
        (
            labels[t.type],
            [
                ("bar-p50", t.p50_seconds, f"p50 {filters.duration(t.p50_seconds)}"),
                ("bar-p95", t.p95_seconds, f"p95 {filters.duration(t.p95_seconds)}"),
            ],
        )
        for t in stats.types
    ]
    speeds = [
        (
            labels[t.type],
            [("bar-speed", t.rows_per_second, f"{filters.rate(t.rows_per_second)} rows/s")],
        )
        for t in stats.types
    ]
    return {
        "volume_chart": charts.responsive(
            lambda width: charts.volume_chart(stats.days, volume, labels, width)
        ),
        "outcome_chart": charts.responsive(
            lambda width: charts.stacked_bars(
                "Outcome of finished runs, by type",
                outcomes,
                summary=f"{succeeded} of {finished} finished runs succeeded",
                width=width,
            )
        ),
        "duration_chart": charts.responsive(
            lambda width: charts.value_bars(
                "Duration of completed runs (p50 and p95), by type",
                durations,
                summary="median and 95th percentile durations per type",
                width=width,
            )
        ),
        "speed_chart": charts.responsive(
            lambda width: charts.value_bars(
                "Rows per second, by type",
                speeds,
                summary="rows processed per second of run time, per type",
                width=width,
            )
        ),
    }


def _local(target: str | None) -> str:
    """``target`` if it is a path on this site (no open redirect), else ""."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return ""
    return target


def _json_object(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise InputError("the form's options are not valid JSON; upload the file again") from None
    if not isinstance(value, dict):
        raise InputError("the form's options must be a JSON object")
    return value


def _day_start(text: str, name: str, problems: list[str]) -> datetime | None:
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        problems.append(f"{name}: '{text}' is not a date (YYYY-MM-DD)")
        return None
    return day.replace(tzinfo=UTC)


def _preview(
    engine: Jobport,
    job_type: JobType,
    options: dict[str, Any],
    key: str,
    fmt: str | None,
    read: dict[str, str],
) -> Preview:
    return preview_import(
        PlanRequest(
            job_type=job_type,
            options=job_type.options.model_validate(options),
            files=engine.files,
            database=engine.database,
            source_key=key,
            format=fmt,
            read=read,
            limits=engine.dispatcher.limits_for(job_type),
        ),
        limit=PREVIEW_ROWS,
    )


def _preview_summary(preview: Preview) -> dict[str, int]:
    invalid = sum(1 for row in preview.rows if row.errors)
    return {"rows": len(preview.rows), "invalid": invalid, "valid": len(preview.rows) - invalid}


def _progress(run: RunRecord) -> dict[str, Any]:
    """How far a run got, for a ``<progress>`` element: value, max and a percentage."""
    if run.status.startswith("completed"):
        return {"value": 1, "max": 1, "percent": 100}
    if run.total:
        value = min(run.processed, run.total)
        return {"value": value, "max": run.total, "percent": math.floor(100 * value / run.total)}
    if run.chunks_total:
        done = min(run.chunks_done, run.chunks_total)
        return {
            "value": done,
            "max": run.chunks_total,
            "percent": math.floor(100 * done / run.chunks_total),
        }
    return {"value": None, "max": 1, "percent": None}


def _always_full(job_type: JobType) -> bool:
    """A type that deletes the rows its source lacks must read all of it, whatever is asked."""
    return isinstance(job_type.handler, Syncer) and job_type.handler.delete_missing


def _sync_from(run: RunRecord, job_type: JobType | None) -> str | None:
    """Where a sync run started reading: once it runs, nothing else shows whether it was
    asked to start from the beginning."""
    if run.kind != "sync":
        return None
    full = bool((run.params.get("read") or {}).get("full"))
    if full or (job_type is not None and _always_full(job_type)):
        return "from the beginning"
    return "after the last page synced"


def _awaiting_file(run: RunRecord) -> bool:
    """Whether a completed export or report is still assembling its file.

    Its last chunk commits (and the run reads ``completed``) before the file is
    put together and recorded, so for a short while the run has no file yet;
    the page keeps refreshing through that window (a run without chunks never
    gets a file).
    """
    if run.kind not in ("export", "report") or run.result_key is not None:
        return False
    if not run.status.startswith("completed") or not run.chunks_total:
        return False
    ended = run.finished_at or datetime.now(UTC)
    return datetime.now(UTC) - ended < timedelta(seconds=FILE_WAIT_SECONDS)


def _as_shown(chunks: list[dict[str, Any]], run: RunRecord) -> list[dict[str, Any]]:
    """Chunks with the status a person should read: a chunk of a stopped run that a
    worker still holds is "stopping" (it finishes or is set aside), not "running"."""
    if not run.finished:
        return chunks
    return [c | {"status": "stopping"} if c["status"] == "running" else c for c in chunks]


def _file_problem(run: RunRecord) -> str | None:
    """Why a completed export or report has no file to download, if it never will."""
    if run.kind not in ("export", "report") or not run.status.startswith("completed"):
        return None
    if run.result_key or _awaiting_file(run) or not run.chunks_total:
        return None
    error = (run.result or {}).get("error")
    if error:
        return f"The file could not be made: {error}. Start the {run.kind} again."
    return f"The file was not recorded; start the {run.kind} again."


def _report_summary(run: RunRecord) -> dict[str, Any] | None:
    """A report's row count and totals, as its kind recorded them with its file."""
    if run.kind != "report":
        return None
    summary = (run.result or {}).get("summary")
    if not isinstance(summary, dict):
        return None
    totals = summary.get("totals")
    return {"rows": summary.get("rows"), "totals": totals if isinstance(totals, dict) else {}}


def _shows_rejected(run: RunRecord) -> bool:
    """Whether rows can be rejected by this kind: an export or report reads the
    application's own rows, so an empty "Rejected rows" section there says nothing."""
    return run.kind not in ("export", "report") or bool(run.failed)


def _grid(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cells of the chunk grid; past GRID_CELLS chunks, each cell stands for several."""
    per_cell = max(1, math.ceil(len(chunks) / GRID_CELLS))
    cells = []
    for start in range(0, len(chunks), per_cell):
        group = chunks[start : start + per_cell]
        statuses = {c["status"] for c in group}
        status = next(
            (s for s in ("failed", "running", "stopping", "pending", "cancelled") if s in statuses),
            "done",
        )
        first, last = group[0]["no"], group[-1]["no"]
        name = f"chunk {first}" if first == last else f"chunks {first} to {last}"
        rows = sum(c["rows"] or 0 for c in group)
        failed = sum(c["failed"] or 0 for c in group)
        error = next((c["error"] for c in group if c.get("error")), None)
        tip = f"{name}: {status}, {rows:,} rows" + (f", {failed:,} rejected" if failed else "")
        if error:
            tip += f" — {error}"
        cells.append({"status": status, "title": tip})
    return cells


__all__ = ["dashboard_router"]
