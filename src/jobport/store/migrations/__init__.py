"""Alembic migrations of the state tables, runnable from code and from ``jobport db``.

Alembic is imported when a migration runs, not with this module nor to find
out that none needs to: a worker process never migrates, and every ``jobport``
command on the embedded SQLite checks the schema at its start, where importing
Alembic would cost a third of ``jobport status``. :func:`head` reads the
revision ids from the version files and :func:`current` is one query; a new
SQLite database is made at head from a snapshot, without Alembic either.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from alembic.config import Config

VERSION_TABLE = "jobport_alembic_version"


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.set_main_option("version_table", VERSION_TABLE)
    config.attributes["engine"] = engine
    return config


VERSIONS = Path(__file__).parent / "versions"
_REVISION = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*['\"]?([\w.-]+|None)", re.M)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the state tables to ``revision``; a no-op when already there."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


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


@functools.cache
def head() -> str:
    """The newest revision: the one no version file names as its ``down_revision``.

    Read from the files' text with a pattern, so finding it imports nothing;
    the history is a line (``tests/e2e/test_cli_speed.py`` compares it with
    Alembic's own answer).
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        for name, value in _REVISION.findall(path.read_text(encoding="utf-8")):
            (revisions if name == "revision" else parents).add(value)
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def current(engine: Engine) -> str | None:
    """The database's revision; None before its first migration. One query, no Alembic."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(VERSION_TABLE):
            return None
        rows = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    if len(rows) > 1:
        raise RuntimeError(f"the database has {len(rows)} migration heads: {rows}")
    return str(rows[0][0]) if rows else None
