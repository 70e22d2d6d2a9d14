"""Which revision the state tables are at, which is newest, and running Alembic to it.

Kept apart from the package's :func:`~jobport.store.migrations.upgrade_if_behind`
so the dependency points one way: the package uses
:mod:`~jobport.store.migrations.snapshot` to make a new SQLite database, and
the snapshot's writer uses this module to migrate the database it copies.
Alembic is imported when a migration runs, never to read a revision.
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
VERSIONS = Path(__file__).parent / "versions"
_REVISION = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*['\"]?([\w.-]+|None)", re.M)


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.set_main_option("version_table", VERSION_TABLE)
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the state tables to ``revision``; a no-op when already there."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


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
