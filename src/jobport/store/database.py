"""Creating SQLAlchemy engines that behave well for a job engine.

SQLite gets WAL (readers never block the writer), a busy timeout, and
``BEGIN IMMEDIATE`` for write transactions: a deferred transaction that
upgrades to a writer can fail at once with "database is locked" instead of
waiting, which under parallel chunk commits would look like random errors.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from jobport.errors import ConfigurationError, MissingExtraError

#: Execution option that marks a connection whose transactions will write.
WRITE = "jobport_write"


def driver_url(url: str) -> str:
    """The URL with its driver named: plain ``postgresql://`` means psycopg 3."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = driver_url(url)
    try:
        engine = sa.create_engine(url, **kwargs)
    except ModuleNotFoundError as exc:
        if exc.name in ("psycopg", "psycopg2"):
            raise MissingExtraError("PostgreSQL", "postgres") from None
        raise ConfigurationError(
            f"the database driver for {url.split(':', 1)[0]} is not installed: {exc.name}"
        ) from None
    return adopt_engine(engine)


def adopt_engine(engine: Engine) -> Engine:
    """Make an engine fit for jobport, e.g. an embedding application's own; returns it.

    Only SQLite needs anything: the settings :func:`make_engine` gives its
    engines are added to this one (once, however often it is adopted), and
    then hold for every connection it opens from now on, the application's
    too. Adopt an engine before it first connects: a connection already in
    its pool keeps the driver's own transaction handling.
    """
    if engine.dialect.name == "sqlite" and not event.contains(engine, "begin", _on_begin):
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
    return engine


#: How long a statement waits for another connection's lock on the database.
BUSY_TIMEOUT_MS = 60_000


def _use_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the database to WAL, waiting out another connection doing the same.

    Two processes opening one new database at once both switch it; SQLite
    refuses the second at once ("database is locked") without calling its busy
    handler, so the switch is tried again, briefly, within the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module so BEGIN is ours.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    _use_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _on_begin(conn: Connection) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get(WRITE) else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")
