"""Conditional reads: a run's JSON with a strong ``ETag``, and 304 when the client has it.

Browsers and pollers re-read a run every second or so; most reads find it
unchanged. The tag is the run's ``seq`` and a digest of the exact body: not
every change of a run increments ``seq`` (its first chunk starting, a
resume, an expired file, a retry started from it), so ``seq`` alone could
tell a client that a changed run is unchanged. Being a digest of the bytes,
the tag is strong: equal tags mean equal bodies. ``Cache-Control: private,
no-cache`` lets a browser keep the body but makes it ask again each time,
with ``If-None-Match``, so it sees a change on its next read.
"""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response

#: Responses carrying a caller's own data: kept by the browser only, revalidated every time.
CACHE_CONTROL = "private, no-cache"


def entity_tag(body: bytes, seq: int) -> str:
    """A strong tag of ``body``: the run's ``seq`` (readable) and a digest of the bytes."""
    return f'"{seq}-{hashlib.blake2b(body, digest_size=8).hexdigest()}"'


def client_has(request: Request, tag: str) -> bool:
    """Whether ``If-None-Match`` names ``tag`` or ``*`` (weak comparison, as RFC 9110 says)."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    wanted = {candidate.strip().removeprefix("W/") for candidate in header.split(",")}
    return "*" in wanted or tag in wanted


def tagged_json(request: Request, body: bytes, seq: int) -> Response:
    """``body`` as JSON with its tag, or an empty 304 when the client already holds it."""
    return tagged_body(request, body, entity_tag(body, seq))


def tagged_body(request: Request, body: bytes, tag: str) -> Response:
    """:func:`tagged_json` with the tag already made (:func:`entity_tag` of ``body``)."""
    headers = {"ETag": tag, "Cache-Control": CACHE_CONTROL}
    if client_has(request, tag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
