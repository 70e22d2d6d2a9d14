"""Users and their API tokens: creating a user and giving one a new token.

Only an admin may do either (the CLI acts as the operator, who is one). The
service takes a token's *hash*, as :meth:`~jobport.service.SessionUses.token_principal`
does: the face that shows the token once makes it and hashes it
(:func:`jobport.http.auth.hash_token`), so the plain token never travels
further than the face that prints it, and the hash is computed by the same
function that checks it.
"""

from __future__ import annotations

from collections.abc import Iterable

from jobport.errors import InputError, PermissionDenied
from jobport.principal import Principal
from jobport.service.base import ServiceCore


class UserExists(InputError):
    """A user of that name is there already (give it a new token instead)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"user '{name}' exists")
        self.name = name


def require_admin(who: Principal, what: str) -> None:
    """Refuse ``what`` to anyone but an admin."""
    if not who.is_admin:
        raise PermissionDenied(f"only an admin may {what}")


class AccountUses(ServiceCore):
    """The users who may call the API and sign in to the dashboard."""

    def create_user(
        self,
        who: Principal,
        name: str,
        token_hash: str,
        *,
        is_admin: bool = False,
        roles: Iterable[str] = (),
    ) -> Principal:
        """Create the user ``name`` holding the token of ``token_hash``; :class:`UserExists`
        if there is one of that name."""
        require_admin(who, "create users")
        if self.store.user_exists(name):
            raise UserExists(name)
        user = self.store.create_user(name, token_hash, is_admin=is_admin, roles=sorted(set(roles)))
        return Principal(user.name, user.is_admin, frozenset(user.roles))

    def replace_token(self, who: Principal, name: str, token_hash: str) -> bool:
        """Give ``name`` the token of ``token_hash`` (its old one stops working at once);
        False when there is no such user."""
        require_admin(who, "give users tokens")
        return self.store.set_user_token(name, token_hash)
