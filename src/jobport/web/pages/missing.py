"""The dashboard's answer for a path it has no page at: an HTML 404 with the menu.

A GET of a form's address (a bookmark, a sign-in's old ``next``) opens the page
holding the form instead. Paths under ``api/`` are left alone, so the API's
unknown paths stay problem+json.
"""

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from starlette.convertors import Convertor, register_url_convertor
from starlette.routing import Match

from jobport.web.errors import FORM_PAGES, DashboardRoute, NotFound, form_page
from jobport.web.pages import exports, imports, runs, signin, syncs

ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
#: The routes that receive a form (their address answers POST only).
FORM_ROUTES = [
    route
    for module in (imports, exports, syncs, runs, signin)
    for route in module.router.routes
    if isinstance(route, APIRoute) and route.name in FORM_PAGES
]


class _PageConvertor(Convertor[str]):
    """Any path but the API's (``api`` or under ``api/``): its unknown paths stay JSON."""

    regex = r"(?!api(?:/|$)).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("jobport_page", _PageConvertor())

public = APIRouter(route_class=DashboardRoute)


@public.api_route("/{path:jobport_page}", methods=list(ALL_METHODS), name="dashboard_404")
def not_found(request: Request, path: str) -> Response:
    """A GET of a form's address (a bookmark, a sign-in's old ``next``) opens the
    form; any other unknown page is an HTML 404, not the API's JSON."""
    if request.method in ("GET", "HEAD"):
        form = form_route_of(request)
        if form is not None:
            return RedirectResponse(form_page(request, form), 303)
    raise NotFound(f"there is no page at {request.url.path}")


def form_route_of(request: Request) -> APIRoute | None:
    """The form route this address belongs to, its path parameters set on the request."""
    for route in FORM_ROUTES:
        match, child = route.matches({**request.scope, "method": "POST"})
        if match is Match.FULL:
            request.scope["path_params"] = child.get("path_params", {})
            return route
    return None
