"""The per-router state every dashboard page reaches through a FastAPI dependency.

:func:`jobport.web.dashboard_router` builds one :class:`Dashboard` per router
(the application service, the templates, the session signer, the live feed,
an embedding application's principal dependency) and installs it as the
router's first dependency, which puts it on the request's state; pages read it
back with the ``Site`` dependency. The page modules hold no state of their own,
so one module-level handler serves every router built, and a test or an
embedding application can build several.

No ``from __future__ import annotations``: FastAPI must see the ``Site``
dependency alias as an object.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from starlette.requests import HTTPConnection

from jobport.http.auth import PrincipalDependency
from jobport.http.feeds import EventFeed
from jobport.http.throttle import FailureThrottle
from jobport.principal import Principal
from jobport.service import JobService
from jobport.web import charts, filters, forms
from jobport.web.session import (
    COOKIE_NAME,
    CSRF_FIELD,
    CSRF_HEADER,
    Session,
    SessionSigner,
    installation_key,
    session_principal,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of a request and their session (for the CSRF token)."""

    principal: Principal
    session: Session


class Dashboard:
    """One dashboard router's state, handed to its pages as a dependency."""

    def __init__(
        self,
        service: JobService,
        feed: EventFeed,
        *,
        principal: PrincipalDependency | None = None,
        sign_in_url: str | None = None,
        secure_cookies: bool | None = None,
        signer: SessionSigner | None = None,
        idle_seconds: float = 5.0,
    ) -> None:
        self.service = service
        self.feed = feed
        #: The embedding application's own caller dependency; None: jobport's own sign-in.
        self.principal = principal
        self.sign_in_url = sign_in_url
        self.secure_cookies = secure_cookies
        self.idle_seconds = idle_seconds
        self.sign_in_failures = FailureThrottle.from_settings(service.settings)
        self.templates = templates(own_sign_in=principal is None)
        self._signer = signer

    def __call__(self, connection: HTTPConnection) -> None:
        """The router dependency: make this dashboard the request's (see :func:`current`)."""
        connection.state.jobport_dashboard = self

    # -- sessions ---------------------------------------------------------------------------

    def signer(self) -> SessionSigner:
        """The session signer; the installation's secret is read on first use, so a missing
        one is said on the sign-in page rather than when the application starts."""
        if self._signer is None:
            self._signer = SessionSigner(installation_key(self.service.settings))
        return self._signer

    def is_secure(self, connection: HTTPConnection) -> bool:
        """Whether the cookie gets ``Secure``: as configured, else when the request was https."""
        if self.secure_cookies is not None:
            return self.secure_cookies
        return connection.url.scheme in ("https", "wss")

    def read_session(self, connection: HTTPConnection) -> Session | None:
        return self.signer().loads(connection.cookies.get(COOKIE_NAME))

    def principal_of(self, session: Session | None) -> Principal | None:
        """The signed-in user of a session of jobport's own sign-in, if it is still live."""
        return session_principal(self.service, session)

    # -- rendering --------------------------------------------------------------------------

    def render(
        self,
        request: Request,
        template: str,
        who: Viewer | None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        """A page: the template with what every page shows (the user, the menu, the CSRF token)."""
        context.setdefault("nav", "")
        return self.templates.TemplateResponse(
            request,
            template,
            {
                "viewer": who.principal if who else None,
                "csrf": who.session.csrf if who else "",
                "time_zone": "UTC",
                # Most apps have no sync type: their menu has no Sync page that is always empty.
                "has_syncs": bool(self.service.job_types("sync")),
                **context,
            },
            status_code=status_code,
        )

    def label_of(self, type_: str) -> str:
        """A type's label, or its key once the type is no longer registered."""
        registry = self.service.registry
        return registry.get(type_).label if type_ in registry else type_

    def labels(self) -> dict[str, str]:
        return {t.type: t.label for t in self.service.job_types()}


def current(connection: HTTPConnection) -> Dashboard:
    """The dashboard of the router serving this request (set by its router dependency)."""
    return cast(Dashboard, connection.state.jobport_dashboard)


def current_or_none(connection: HTTPConnection) -> Dashboard | None:
    """The dashboard, or None when the request failed before the router's dependencies ran."""
    return cast(Dashboard | None, getattr(connection.state, "jobport_dashboard", None))


#: The dependency of every page: its router's :class:`Dashboard`.
Site = Annotated[Dashboard, Depends(current)]


def templates(*, own_sign_in: bool) -> Jinja2Templates:
    """The page templates, with the filters and helpers they use."""
    found = Jinja2Templates(directory=str(TEMPLATES))
    filters.install(found.env)
    found.env.globals.update(
        path_for=path_for,
        CSRF_FIELD=CSRF_FIELD,
        CSRF_HEADER=CSRF_HEADER,
        series_class=charts.series_class,
        usable_formats=forms.usable_formats,
        missing_extras=forms.missing_extras,
        own_sign_in=own_sign_in,
    )
    return found


@pass_context
def path_for(context: Mapping[str, Any], name: str, /, **params: Any) -> str:
    """A route's path, not a full URL: links stay right behind a proxy that changes
    the scheme or the host."""
    request: Request = context["request"]
    return request.url_for(name, **params).path
