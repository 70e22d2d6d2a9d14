"""Users, their API tokens (stored as hashes) and dashboard sessions ended early."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from jobport.store.section import Section, utcnow
from jobport.store.tables import job_ended_sessions, job_users


@dataclass(frozen=True)
class UserRecord:
    id: int
    name: str
    is_admin: bool
    roles: tuple[str, ...]


class Users(Section):
    def create_user(
        self, name: str, token_hash: str, *, is_admin: bool, roles: Sequence[str] = ()
    ) -> UserRecord:
        with self._write() as conn:
            user_id = conn.execute(
                job_users.insert()
                .values(
                    name=name,
                    token_hash=token_hash,
                    is_admin=is_admin,
                    roles=list(roles),
                    created_at=utcnow(),
                )
                .returning(job_users.c.id)
            ).scalar_one()
        return UserRecord(user_id, name, is_admin, tuple(roles))

    def user_by_token_hash(self, token_hash: str) -> UserRecord | None:
        with self._read() as conn:
            row = (
                conn.execute(sa.select(job_users).where(job_users.c.token_hash == token_hash))
                .mappings()
                .first()
            )
        return _user(row)

    def user_by_session(self, token_hash: str, session_id: str) -> UserRecord | None:
        """The user a dashboard session was opened for, unless that session was ended.

        One read: the user by token hash, if no ended session has this id.
        """
        ended = sa.select(job_ended_sessions.c.id).where(job_ended_sessions.c.id == session_id)
        with self._read() as conn:
            row = (
                conn.execute(
                    sa.select(job_users).where(
                        job_users.c.token_hash == token_hash, ~sa.exists(ended)
                    )
                )
                .mappings()
                .first()
            )
        return _user(row)

    def end_session(self, session_id: str, expires_at: datetime) -> None:
        """Record that a dashboard session is over (signed out) until it would have expired.

        Ended sessions that have expired anyway are deleted on the way, so the
        table holds at most the sessions signed out within one session lifetime.
        Ending a session twice is harmless.
        """
        with self._write() as conn:
            conn.execute(
                job_ended_sessions.delete().where(job_ended_sessions.c.expires_at < utcnow())
            )
            known = conn.execute(
                sa.select(job_ended_sessions.c.id).where(job_ended_sessions.c.id == session_id)
            ).first()
            if known is None:
                conn.execute(
                    job_ended_sessions.insert().values(id=session_id, expires_at=expires_at)
                )

    def user_exists(self, name: str) -> bool:
        with self._read() as conn:
            return (
                conn.execute(sa.select(job_users.c.id).where(job_users.c.name == name)).first()
                is not None
            )

    def set_user_token(self, name: str, token_hash: str) -> bool:
        """Replace a user's token (the old one stops working); False if there is no such user."""
        with self._write() as conn:
            result = conn.execute(
                job_users.update().where(job_users.c.name == name).values(token_hash=token_hash)
            )
            return result.rowcount == 1


def _user(row: RowMapping | None) -> UserRecord | None:
    if row is None:
        return None
    return UserRecord(row["id"], row["name"], row["is_admin"], tuple(row["roles"] or ()))
