"""Signing in: the user an API token or a dashboard session stands for, and signing out."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from jobport.principal import Principal
from jobport.service.base import ServiceCore

if TYPE_CHECKING:
    from jobport.store.jobstore import UserRecord


class SessionUses(ServiceCore):
    """Who holds a token or a session, for the faces' authentication."""

    def token_principal(self, token_hash: str) -> Principal | None:
        """The user holding the API token of this hash (a sign-in), or None."""
        return _principal(self.store.user_by_token_hash(token_hash))

    def session_principal(self, token_hash: str, session_id: str) -> Principal | None:
        """The user a dashboard session was opened for; None once it was signed out or
        the user's token was replaced."""
        return _principal(self.store.user_by_session(token_hash, session_id))

    def end_session(self, session_id: str, expires_at: datetime) -> None:
        """Sign a dashboard session out on the server, for every process, until it expires."""
        self.store.end_session(session_id, expires_at)


def _principal(user: UserRecord | None) -> Principal | None:
    return None if user is None else Principal(user.name, user.is_admin, frozenset(user.roles))
