"""Alembic migrations of the state tables, runnable from code and from ``jobport db``.

Alembic is imported when a migration runs, not with this module nor to find
out that none needs to: a worker process never migrates, and every ``jobport``
command on the embedded SQLite checks the schema at its start, where importing
Alembic would cost a third of ``jobport status``. :func:`head` reads the
revision ids from the version files and :func:`current` is one query
(both in :mod:`~jobport.store.migrations.revisions`); a new SQLite database is
made at head from a snapshot, without Alembic either.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from jobport.store.migrations.revisions import (
    VERSION_TABLE,
    VERSIONS,
    alembic_config,
    current,
    head,
    upgrade,
)


def upgrade_if_behind(engine: Engine) -> None:
    """Upgrade to head only when the database is not there: one query when it is.

    A new SQLite database gets the tables at head from the snapshot of what the
    migrations make (:mod:`jobport.store.migrations.snapshot`), without Alembic.
    """
    revision = current(engine)
    if revision == head():
        return
    if revision is None and engine.dialect.name == "sqlite":
        from jobport.store.migrations.snapshot import create_at_head

        if create_at_head(engine, head()):
            return
    upgrade(engine)


__all__ = [
    "VERSIONS",
    "VERSION_TABLE",
    "alembic_config",
    "current",
    "head",
    "upgrade",
    "upgrade_if_behind",
]
