"""The dashboard's vendored files (styles, scripts, htmx), served to anyone.

A fixed list, read once: no path from the request reaches the disk.
"""

from pathlib import Path

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse

from jobport.web.errors import DashboardRoute, NotFound

STATIC = Path(__file__).resolve().parent.parent / "static"
FILES = frozenset(p.name for p in STATIC.iterdir() if p.is_file())
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

public = APIRouter(route_class=DashboardRoute)


@public.get("/static/{name}", name="dashboard_static")
def static(name: str) -> Response:
    """The vendored files (a fixed list: no path from the request reaches the disk)."""
    if name not in FILES:
        raise NotFound(f"no static file '{name}'")
    media = MEDIA_TYPES.get(Path(name).suffix, "text/plain; charset=utf-8")
    return FileResponse(
        STATIC / name, media_type=media, headers={"Cache-Control": "public, max-age=3600"}
    )
