"""``/docs`` (Swagger UI) and ``/openapi.json``, public, for signed-in callers, or off.

FastAPI's own docs routes cannot be guarded or given a policy, so the
standalone app turns them off and serves these instead
(``JOBPORT_API_DOCS``). Swagger UI is FastAPI's page: its script and style
come from the jsDelivr CDN and one inline script starts it. The page's
Content-Security-Policy allows exactly that: scripts from the CDN and the
inline script by its SHA-256 (not any inline script), the schema fetched
from this origin, no framing. The favicon is empty and Swagger's online
validator is off, so the page calls no other site.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from jobport.http.auth import PrincipalDependency
from jobport.settings import ApiDocs

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
#: Where FastAPI's Swagger UI page loads its script and style from.
CDN = "https://cdn.jsdelivr.net"

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def install_docs(app: FastAPI, mode: ApiDocs, caller: PrincipalDependency) -> None:
    """Serve the docs on ``app`` as ``mode`` says; ``caller`` authenticates "signed-in".

    Create ``app`` with ``docs_url=None, redoc_url=None, openapi_url=None``.
    With ``mode="off"`` nothing is added, so both paths answer 404.
    """
    if mode == "off":
        return
    guard: list[Any] = [Depends(caller)] if mode == "signed-in" else []

    @app.get(OPENAPI_PATH, include_in_schema=False, dependencies=guard)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get(DOCS_PATH, include_in_schema=False, dependencies=guard)
    def docs(request: Request) -> HTMLResponse:
        return swagger_page(request.scope.get("root_path", "") + OPENAPI_PATH, app.title)


def swagger_page(openapi_url: str, title: str) -> HTMLResponse:
    """FastAPI's Swagger UI page with a policy that lets exactly it run."""
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{title} - API",
        swagger_favicon_url="data:,",
        swagger_ui_parameters={"validatorUrl": None},
    )
    body = bytes(page.body).decode()
    hashes = " ".join(f"'{_sha256(script)}'" for script in _INLINE_SCRIPT.findall(body))
    policy = (
        f"default-src 'none'; script-src {CDN} {hashes}; "
        f"style-src {CDN} 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
    return HTMLResponse(
        body,
        headers={
            "Content-Security-Policy": policy,
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
        },
    )


def _sha256(script: str) -> str:
    digest = hashlib.sha256(script.encode()).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")
