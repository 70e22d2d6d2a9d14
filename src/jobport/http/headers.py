"""Security headers on every response of the standalone app that has none of its own.

An API answer is data, never a page: browsers must not sniff a JSON body or a
downloaded CSV into HTML, run anything in it, or frame it. The dashboard's
pages and the API docs set their own, looser policies (they load scripts and
styles); the middleware adds only the headers a response does not carry yet.

A pure ASGI middleware, not ``BaseHTTPMiddleware``: streamed bodies (SSE,
downloads) pass through untouched, and WebSockets are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: What an API response gets: nothing may load, run or frame it.
API_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class SecurityHeaders:
    """Adds ``headers`` to each HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp, headers: Mapping[str, str] = API_HEADERS) -> None:
        self.app = app
        self.headers = dict(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
