"""The dashboard's sign-in session: a signed cookie, and the CSRF token it carries.

Why a signed cookie and not a server-side session table: every server
process (``jobport serve --workers N``) can check it without shared memory,
and it survives restarts. It holds no secret worth stealing by itself:

- ``u``: the SHA-256 of the user's API token, the very value the users
  table is keyed on (:func:`jobport.http.auth.hash_token`). Each request
  looks the user up by it, so the API's ownership rules apply unchanged,
  and replacing the token (``jobport users token NAME``) ends every session
  opened with the old one. The hash cannot be turned back into the token, so
  a leaked cookie does not open the API.
- ``c``: a random CSRF token (see below);
- ``i``: the session's own random id;
- ``x``: when the session expires (Unix seconds), checked on every request.

Signing out must end the session on the server, not only in the browser: a
copy of the cookie (a shared computer, a proxy's log) would otherwise open
the dashboard until it expired. So signing out records the session's id in
the state database until then (``job_ended_sessions``), and the same read
that finds the user refuses an ended session (:func:`session_principal`): every
process sees it at once. Only sign-outs write; the table holds the sessions
ended within one session lifetime.

The value is ``base64url(json) "." base64url(HMAC-SHA256)``; the HMAC key is
derived from the installation's secret (``JOBPORT_SECRET_KEY``, or the
per-installation secret an SQLite install keeps beside its database, see
:func:`installation_key`) for this one purpose, so a dashboard session and
a signed download link can never stand for one another. Without a secret
(PostgreSQL and no ``JOBPORT_SECRET_KEY``) the sign-in page says what to set.

The cookie is ``HttpOnly`` (scripts never see it), ``SameSite=Lax`` (not sent
with cross-site POSTs, WebSocket handshakes or subresource requests) and
``Secure`` when the request came over https.

CSRF: a synchronizer token rather than SameSite plus an Origin check.
SameSite does not separate sibling subdomains (``evil.example.com`` is
"same-site" with ``jobs.example.com``), and Origin checks break behind
proxies that rewrite ``Host`` and on browsers that strip the header. So every
POST form carries the session's ``c`` in a hidden field (htmx requests send it
as the ``X-CSRF-Token`` header) and the server compares it in constant time.
Anonymous visitors get a session too (``u`` empty), so the sign-in form is
protected the same way (no login CSRF); signing in issues a fresh token.
The WebSocket handshake, which cannot carry a form field, is checked by
``Origin`` instead (browsers always send it there).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.requests import HTTPConnection
from starlette.responses import Response

from jobport.errors import ConfigurationError
from jobport.principal import Principal
from jobport.service import JobService
from jobport.settings import Settings
from jobport.signing import installation_secret_file, read_or_create_secret

#: Name of the session cookie.
COOKIE_NAME = "jobport_session"
#: Hidden form field carrying the CSRF token.
CSRF_FIELD = "csrf_token"
#: Header carrying the CSRF token on htmx requests.
CSRF_HEADER = "X-CSRF-Token"
#: How long a sign-in lasts.
SESSION_SECONDS = 12 * 3600
#: How long an anonymous session (the sign-in form's CSRF token) lasts.
ANONYMOUS_SECONDS = 3600

_PURPOSE = b"jobport dashboard session v1"
_STAGED_PURPOSE = b"jobport dashboard staged upload v1"

Clock = Callable[[], float]


@dataclass(frozen=True)
class Session:
    """What the cookie says: whose session (a token hash, or None), its CSRF token and id."""

    token_hash: str | None
    csrf: str
    expires: int
    id: str

    @property
    def signed_in(self) -> bool:
        return self.token_hash is not None

    @property
    def expires_at(self) -> datetime:
        """When the session ends by itself (how long a sign-out must be remembered)."""
        return datetime.fromtimestamp(self.expires, UTC)


def installation_key(settings: Settings) -> bytes:
    """The secret the dashboard signs with: ``JOBPORT_SECRET_KEY`` or the SQLite install's.

    Without a configured secret, an SQLite install keeps a random one in
    ``jobport-secret.key`` beside its database (mode 0600, created once, the
    first writer wins), which every process of the install reads; the signed
    download links use the same file. Any other database may be shared by
    several machines, so a per-machine secret would not do: raises
    :class:`ConfigurationError` saying what to set.
    """
    configured = getattr(settings, "secret_key", None)
    if configured is not None:
        secret: bytes = configured.get_secret_value().encode()
        return secret
    path = installation_secret_file(settings.database_url)
    if path is None:
        raise ConfigurationError(
            "the dashboard signs its sign-in cookie with JOBPORT_SECRET_KEY: set it to the "
            "same random value on every server, e.g. the output of: python -c 'import "
            "secrets; print(secrets.token_urlsafe(32))'"
        )
    return read_or_create_secret(path)


class SessionSigner:
    """Signs and reads session cookies and staged-upload references with one secret."""

    def __init__(self, secret: bytes, *, clock: Clock = time.time) -> None:
        if len(secret) < 16:
            raise ConfigurationError("the dashboard's secret must be at least 16 bytes")
        self._key = hmac.new(secret, _PURPOSE, hashlib.sha256).digest()
        self._staged_key = hmac.new(secret, _STAGED_PURPOSE, hashlib.sha256).digest()
        self._clock = clock

    # -- sessions ---------------------------------------------------------------------------

    def new(self, token_hash: str | None = None) -> Session:
        """A fresh session (a new CSRF token), signed in as ``token_hash`` if given."""
        lifetime = SESSION_SECONDS if token_hash else ANONYMOUS_SECONDS
        expires = int(self._clock()) + lifetime
        return Session(token_hash, secrets.token_urlsafe(24), expires, secrets.token_urlsafe(24))

    def dumps(self, session: Session) -> str:
        payload = {
            "u": session.token_hash,
            "c": session.csrf,
            "x": session.expires,
            "i": session.id,
        }
        return self._seal(self._key, json.dumps(payload, separators=(",", ":")))

    def loads(self, value: str | None) -> Session | None:
        """The session in a cookie value; None when missing, tampered with or expired."""
        text = self._open(self._key, value)
        if text is None:
            return None
        try:
            data = json.loads(text)
            session = Session(data["u"], str(data["c"]), int(data["x"]), str(data["i"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires < self._clock():
            return None
        if session.token_hash is not None and not isinstance(session.token_hash, str):
            return None
        return session

    # -- staged uploads ---------------------------------------------------------------------

    def stage(self, key: str, type_: str, owner: str, filename: str) -> str:
        """A reference to a previewed upload that only ``owner`` can start as ``type_``.

        The import page keeps it in a hidden field between the preview and the
        start, so a user cannot swap in another upload's storage key.
        """
        data = {"k": key, "t": type_, "o": owner, "n": filename, "x": int(self._clock()) + 86400}
        return self._seal(self._staged_key, json.dumps(data, separators=(",", ":")))

    def unstage(self, value: str | None, type_: str, owner: str) -> tuple[str, str] | None:
        """The storage key and file name of a staged upload, if the reference is genuine."""
        text = self._open(self._staged_key, value)
        if text is None:
            return None
        try:
            data = json.loads(text)
            valid = data["t"] == type_ and data["o"] == owner and int(data["x"]) >= self._clock()
            return (str(data["k"]), str(data["n"])) if valid else None
        except (ValueError, KeyError, TypeError):
            return None

    # -- sealing ----------------------------------------------------------------------------

    @staticmethod
    def _seal(key: bytes, text: str) -> str:
        body = _b64(text.encode())
        return f"{body}.{_b64(hmac.new(key, body.encode(), hashlib.sha256).digest())}"

    @staticmethod
    def _open(key: bytes, value: str | None) -> str | None:
        if not value or value.count(".") != 1:
            return None
        body, signature = value.split(".")
        expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected.encode(), signature.encode("ascii", "replace")):
            return None
        try:
            return _unb64(body).decode()
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None


def session_principal(service: JobService, session: Session | None) -> Principal | None:
    """The signed-in user of ``session``; None if anonymous, signed out, or the token replaced."""
    if session is None or session.token_hash is None:
        return None
    return service.session_principal(session.token_hash, session.id)


def cookie_principal(
    service: JobService, signer: SessionSigner, connection: HTTPConnection
) -> Principal | None:
    """The signed-in user of the request's session cookie, if it has a live one."""
    return session_principal(service, signer.loads(connection.cookies.get(COOKIE_NAME)))


def csrf_matches(session: Session, submitted: str | None) -> bool:
    """Whether a submitted CSRF token is the session's (constant-time)."""
    if not submitted:
        return False
    return hmac.compare_digest(session.csrf.encode(), submitted.encode("utf-8", "replace"))


def same_origin(connection: HTTPConnection) -> bool:
    """Whether the request's ``Origin`` names this very host (for the WebSocket handshake)."""
    origin = connection.headers.get("origin")
    host = connection.headers.get("host")
    if not origin or not host:
        return False
    return origin.split("://", 1)[-1].rstrip("/") == host


def set_cookie(response: Response, session: Session, value: str, *, secure: bool) -> None:
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=max(0, session.expires - int(time.time())),
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )


def clear_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=secure)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
