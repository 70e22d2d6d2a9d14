"""The shop's own sign-in: staff API keys, and the adapter that hands jobport a Principal.

Scripts send the key in the ``X-API-Key`` header; browsers get it in an
HttpOnly cookie from ``POST /login`` (an example's simplification: a real
shop would keep a server-side session). Keys are random and stored as their
SHA-256, so a plain hash is enough (nothing to brute-force).

:func:`jobport_principal` is the only place jobport meets the shop's users:
the staff member's name becomes the owner of the runs they start, managers
are jobport admins (they see every run), and the staff roles gate job types
declared with ``roles`` (the sales report needs ``accounts``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, HTTPException
from fastapi.requests import HTTPConnection
from sqlalchemy.orm import Session

from examples.bookshop.db import get_session
from examples.bookshop.models import Staff
from jobport.api import Principal, Unauthorized

KEY_HEADER = "X-API-Key"
KEY_COOKIE = "bookshop_key"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def add_staff(
    session: Session, name: str, *, manager: bool = False, roles: Iterable[str] = ()
) -> str:
    """Create a staff member and return their API key (shown once, stored hashed)."""
    key = secrets.token_urlsafe(32)
    session.add(
        Staff(name=name, key_hash=hash_key(key), is_manager=manager, roles=",".join(sorted(roles)))
    )
    session.commit()
    return key


def staff_of(connection: HTTPConnection, session: Session) -> Staff | None:
    """The staff member whose key the request carries (header first, then cookie)."""
    key = connection.headers.get(KEY_HEADER) or connection.cookies.get(KEY_COOKIE)
    if not key:
        return None
    return session.scalar(sa.select(Staff).where(Staff.key_hash == hash_key(key)))


def optional_staff(
    connection: HTTPConnection, session: Annotated[Session, Depends(get_session)]
) -> Staff | None:
    return staff_of(connection, session)


def current_staff(staff: Annotated[Staff | None, Depends(optional_staff)]) -> Staff:
    """The shop's own dependency for its own endpoints."""
    if staff is None:
        raise HTTPException(
            401, "send your staff key in X-API-Key", {"WWW-Authenticate": "API-Key"}
        )
    return staff


def jobport_principal(staff: Annotated[Staff | None, Depends(optional_staff)]) -> Principal:
    """The shop's staff member as jobport's caller (given to its router and dashboard).

    Raising jobport's ``Unauthorized`` (not the shop's ``HTTPException``)
    makes jobport answer in its own way: problem+json on the API, an error
    page on the dashboard.
    """
    if staff is None:
        raise Unauthorized(
            "send your staff key in X-API-Key, or sign in to the shop at /login first"
        )
    return Principal(staff.name, is_admin=staff.is_manager, roles=staff.role_set)
