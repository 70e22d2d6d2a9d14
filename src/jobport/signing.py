"""Signed, expiring download links.

A link to a run's result carries ``expires`` (Unix seconds) and
``signature``: HMAC-SHA256 over ``"<run_id>|<expires>"``, URL-safe base64
without padding. Anyone holding the link may download until it expires;
changing the run, the expiry or the signature makes it worthless. A bad or
expired link is a :class:`~jobport.errors.PermissionDenied` (HTTP 403).

The secret comes from ``JOBPORT_SECRET_KEY``. When it is unset:

- with an SQLite state database (one machine: the embedded install), a random
  per-installation secret is created once, beside the database file, in
  ``jobport-secret.key`` (mode 0600), and every process of the install reads
  the same file;
- with any other state database (possibly several machines serving links),
  signing is refused with a message saying to set ``JOBPORT_SECRET_KEY`` to
  the same value everywhere: a per-machine secret would make a link signed on
  one machine fail on another.

The HMAC key is derived from the secret for this one purpose, so the same
secret can later sign other things without one signature standing for another.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import math
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from jobport.errors import ConfigurationError, PermissionDenied

if TYPE_CHECKING:
    from jobport.settings import Settings

#: Name of the per-installation secret file, beside the SQLite state database.
SECRET_FILE = "jobport-secret.key"
#: Shortest secret accepted, in bytes.
MIN_SECRET_BYTES = 16
_PURPOSE = b"jobport download link v1"
_EXPIRES = re.compile(r"[1-9][0-9]{0,11}")
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]{43}")
_GENERATE = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"

Clock = Callable[[], float]


@dataclass(frozen=True)
class SignedLink:
    """The query parameters that make a download link valid until ``expires``."""

    run_id: str
    expires: int
    signature: str

    def query(self) -> str:
        """``expires=...&signature=...``, ready to append to the download URL after ``?``."""
        return urlencode({"expires": self.expires, "signature": self.signature})

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.expires, UTC)


class LinkSigner:
    """Signs and checks download links with one secret; ``clock`` gives Unix seconds."""

    def __init__(self, secret: bytes | str, *, clock: Clock = time.time) -> None:
        raw = secret.encode() if isinstance(secret, str) else bytes(secret)
        if len(raw) < MIN_SECRET_BYTES:
            raise ConfigurationError(
                f"JOBPORT_SECRET_KEY is too short ({len(raw)} bytes); use at least "
                f"{MIN_SECRET_BYTES} random bytes, e.g. the output of: {_GENERATE}"
            )
        self._key = hmac.new(raw, _PURPOSE, hashlib.sha256).digest()
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = time.time) -> LinkSigner:
        """The signer of an installation: its ``secret_key``, or the one kept beside SQLite."""
        if settings.secret_key is not None:
            return cls(settings.secret_key.get_secret_value(), clock=clock)
        return cls(installation_secret(settings.database_url), clock=clock)

    def sign(self, run_id: str, ttl: float) -> SignedLink:
        """A link to ``run_id`` valid for ``ttl`` seconds from now (rounded up to a second)."""
        if not run_id:
            raise ValueError("a signed link needs a run id")
        if not (ttl > 0 and math.isfinite(ttl)):
            raise ValueError(f"a link's time to live must be a positive number of seconds: {ttl}")
        expires = math.ceil(self._clock() + ttl)
        return SignedLink(run_id, expires, self._signature(run_id, str(expires)))

    def verify(self, run_id: str, expires: int | str, signature: str) -> None:
        """Return if the link is genuine and current; raise PermissionDenied (403) otherwise.

        The signature is checked first, in constant time, so a link whose expiry
        was pushed back reads as tampered, not as expired.
        """
        expires_text = str(expires)
        if not (
            isinstance(signature, str)
            and _SIGNATURE.fullmatch(signature)
            and _EXPIRES.fullmatch(expires_text)
        ):
            raise PermissionDenied(_TAMPERED)
        expected = self._signature(run_id, expires_text)
        if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
            raise PermissionDenied(_TAMPERED)
        if self._clock() > int(expires_text):
            when = datetime.fromtimestamp(int(expires_text), UTC).strftime("%Y-%m-%d %H:%M:%S")
            raise PermissionDenied(f"this download link expired at {when} UTC; ask for a new link")

    def _signature(self, run_id: str, expires: str) -> str:
        message = f"{run_id}|{expires}".encode("utf-8", "surrogatepass")
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


_TAMPERED = "this download link is not valid (its signature does not match); ask for a new link"


def installation_secret(database_url: str) -> bytes:
    """The per-installation secret of an SQLite install, created on first use.

    Refused for other databases: several machines would each make their own.
    """
    path = installation_secret_file(database_url)
    if path is None:
        raise ConfigurationError(
            "signed download links need JOBPORT_SECRET_KEY: set it to the same random value "
            f"on every machine serving downloads, e.g. the output of: {_GENERATE}"
        )
    return read_or_create_secret(path)


def installation_secret_file(database_url: str) -> Path | None:
    """Where an SQLite install keeps its secret (beside its database); None for others.

    The dashboard's sessions and the signed download links share this file.
    """
    try:
        url = make_url(database_url)
    except ArgumentError:
        return None
    database = url.database if url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve().parent / SECRET_FILE


def read_or_create_secret(path: Path) -> bytes:
    """Read the secret file, or create it atomically (first writer wins, mode 0600)."""
    with contextlib.suppress(FileNotFoundError):
        return _read_secret(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)  # atomic: never a half-written secret, never two
    finally:
        temporary.unlink(missing_ok=True)
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    secret = path.read_text(encoding="ascii").strip().encode()
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigurationError(
            f"the secret in {path} is too short; delete the file to make a new one "
            "(sessions and links signed with the old one stop working) or set "
            "JOBPORT_SECRET_KEY"
        )
    return secret


__all__ = [
    "SECRET_FILE",
    "LinkSigner",
    "SignedLink",
    "installation_secret",
    "installation_secret_file",
    "read_or_create_secret",
]
