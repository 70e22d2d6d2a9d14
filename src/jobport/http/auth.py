"""Who is calling: bearer tokens stored hashed, and the principal the routes work with.

Tokens are random (``secrets.token_urlsafe(32)``, 256 bits), so a plain
SHA-256 is enough to store them: there is nothing to brute-force that a slow
hash would protect, and the lookup by hash is a single indexed read that
never compares secrets in Python. The token itself is shown once, when the
user is created, and never stored.

An embedding application that has its own users passes its own dependency
returning a :class:`Principal` to the router factory; jobport's token table
is then not used at all.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable

from fastapi.requests import HTTPConnection
from starlette.concurrency import run_in_threadpool

from jobport.errors import JobportError
from jobport.http.throttle import FailureThrottle, client_key
from jobport.principal import Principal
from jobport.store import JobStore

#: A FastAPI dependency that returns the caller (jobport's tokens, or an application's own users).
PrincipalDependency = Callable[..., Principal | Awaitable[Principal]]

#: Query parameter accepted for the token on the streaming endpoints only, because
#: browsers cannot set headers on a WebSocket or an EventSource.
TOKEN_QUERY_PARAMETER = "access_token"
#: Most tokens remembered per process before the memory is cleared.
CACHE_ENTRIES = 4096


class Unauthorized(JobportError):
    """No credentials, or credentials that match no user (401)."""

    status_code = 401
    title = "Unauthorized"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_user(
    store: JobStore, name: str, *, is_admin: bool = False, roles: Iterable[str] = ()
) -> tuple[Principal, str]:
    """Create a user and return it with its token (shown once, stored only as a hash)."""
    token = new_token()
    user = store.create_user(name, hash_token(token), is_admin=is_admin, roles=sorted(set(roles)))
    return Principal(user.name, user.is_admin, frozenset(user.roles)), token


def bearer_token(connection: HTTPConnection, *, allow_query: bool = False) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    if allow_query:
        return connection.query_params.get(TOKEN_QUERY_PARAMETER) or None
    return None


def token_principal(
    store: JobStore, *, cache_seconds: float = 5.0, throttle: FailureThrottle | None = None
) -> TokenPrincipal:
    """The default principal dependency: a bearer token looked up by its hash (see
    :class:`TokenPrincipal`)."""
    return TokenPrincipal(store, cache_seconds=cache_seconds, throttle=throttle)


class TokenPrincipal:
    """jobport's own callers: a bearer token looked up by its hash, as a FastAPI dependency.

    WebSocket and SSE routes also accept ``?access_token=`` (browsers cannot
    send headers there); every other route takes the header only, so tokens
    do not end up in ordinary access logs.

    A token's user is remembered for ``cache_seconds`` (a client polling a
    run then costs one database read per request, not two); a replaced token
    therefore keeps working for at most that long in each server process.

    A client address that sent too many unknown tokens is refused with 429
    by ``throttle`` before its token is looked up (see
    :mod:`jobport.http.throttle`; ``create_router`` passes one built from the
    settings). A token this process has just verified is let through all the
    same, so callers sharing an address with a broken client keep working.

    Being called with the connection alone (no sub-dependencies), it can also
    authenticate a route served outside FastAPI's dependency solving: the
    polled run read (:func:`jobport.api.routers.runs.fast_run_read`).
    """

    def __init__(
        self,
        store: JobStore,
        *,
        cache_seconds: float = 5.0,
        throttle: FailureThrottle | None = None,
    ) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self.failures = throttle if throttle is not None else FailureThrottle()
        self.remembered: dict[str, tuple[Principal, float]] = {}

    def lookup(self, token_hash: str) -> Principal:
        user = self.store.user_by_token_hash(token_hash)
        if user is None:
            raise Unauthorized(
                "the bearer token matches no user; create one with `jobport users create NAME`"
            )
        principal = Principal(user.name, user.is_admin, frozenset(user.roles))
        if len(self.remembered) >= CACHE_ENTRIES:
            self.remembered.clear()
        self.remembered[token_hash] = (principal, time.monotonic() + self.cache_seconds)
        return principal

    async def __call__(self, connection: HTTPConnection) -> Principal:
        streaming = connection.scope["type"] == "websocket" or connection.url.path.endswith(
            "/events"
        )
        token = bearer_token(connection, allow_query=streaming)
        if token is None:
            raise Unauthorized("send a bearer token: 'Authorization: Bearer <token>'")
        token_hash = hash_token(token)
        known = self.remembered.get(token_hash)
        if known is not None and known[1] > time.monotonic():
            return known[0]
        client = client_key(connection)
        self.failures.check(client)
        try:
            return await run_in_threadpool(self.lookup, token_hash)
        except Unauthorized:
            self.failures.failed(client)
            raise
