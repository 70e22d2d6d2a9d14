"""The polled run read, lean: one run through the sqlite3 module, cheap enough for the event loop.

Every open progress bar reads its run once a second or so, and the API
answers each read. Through SQLAlchemy the read costs ~0.2-0.3 ms of CPU (a
pooled connection checked out, ``BEGIN``, the query, ``COMMIT``, the result's
machinery), and it runs in the thread pool, whose round trip costs more than
the query and waits for the interpreter's lock behind every busy thread: a
poll's latency tail. The same query on a connection of its own, in
autocommit (one statement, its own read transaction), costs ~0.03 ms, little
enough to run on the event loop itself.

That is safe on SQLite in WAL mode only: a WAL reader never waits for the
writer (imports commit chunk after chunk meanwhile), and the connection's
busy timeout is 0, so whatever rare lock it meets (a recovery, a journal
mode other than WAL set meanwhile) fails at once with ``sqlite3.Error``
instead of blocking the loop: :meth:`RunReads.find` then answers ``None``
and the caller reads the slow way. Anything else (PostgreSQL, an in-memory
database, a database not in WAL mode) gets no :class:`RunReads`
(:func:`lean_reads` answers ``None``) and keeps the store's pooled read.

The SQL, the values' converters and the connection are those of
:mod:`jobport.store.run_rows` (the CLI's ``status`` and ``history`` read
there too), so the record is equal to
:meth:`jobport.store.JobStore.find_run`'s (tests hold it).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from jobport.store.records import RunRecord
from jobport.store.run_rows import RUN_WITH_RETRIES, Rows, open_reader, record_of

__all__ = ["Rows", "RunReads", "lean_reads"]


class RunReads:
    """One run read on a sqlite3 connection of its own (see the module's docstring).

    The connection is used by one thread at a time: a read that finds it busy
    (another thread's read in progress) answers ``None`` rather than waiting.
    It is closed with the engine's connections (``Engine.dispose``) or by
    :meth:`close`, and opened again by the next read; it opens the database
    file only if it exists (``mode=rw``), never creating one.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def find(self, run_id: str) -> RunRecord | None:
        """The run, or ``None``: missing, or not readable this way right now (read it
        the store's way then, which also knows runs that are not recorded yet)."""
        rows = self.rows(run_id)
        return None if rows is None else self.record(rows)

    def rows(self, run_id: str) -> Rows | None:
        """The run's rows as the database gives them (one per run retrying it), or
        ``None`` as :meth:`find` says: what :meth:`record` makes the record of.

        Equal rows make equal records, so a caller may keep what it built from
        a record and compare the rows next time instead of building it again.
        """
        if not self._lock.acquire(blocking=False):
            return None
        try:
            rows: Rows = self._connect().execute(RUN_WITH_RETRIES, (run_id,)).fetchall()
        except sqlite3.Error:
            self._drop()
            return None
        finally:
            self._lock.release()
        return rows or None

    def record(self, rows: Rows) -> RunRecord:
        """The run of :meth:`rows`' answer, its values typed as the store types them."""
        return record_of(rows)

    def close(self) -> None:
        with self._lock:
            self._drop()

    def trace(self, callback: Callable[[str], object] | None) -> None:
        """Have ``callback`` see every statement this connection runs (None: stop); for
        tests and diagnosis."""
        with self._lock:
            self._connect().set_trace_callback(callback)

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = open_reader(self.path)
        return self._connection

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(sqlite3.Error):
                connection.close()


_made: weakref.WeakKeyDictionary[Engine, RunReads | None] = weakref.WeakKeyDictionary()


def lean_reads(engine: Engine) -> RunReads | None:
    """The :class:`RunReads` over ``engine``'s database if it is an SQLite file, else None.

    One per engine, however many routers serve it. Only the file's path is
    taken from the engine: an in-memory database cannot be opened a second
    time, so it gets none.
    """
    if engine not in _made:
        _made[engine] = _lean_reads(engine)
    return _made[engine]


def _lean_reads(engine: Engine) -> RunReads | None:
    if engine.dialect.name != "sqlite" or engine.dialect.driver != "pysqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    if engine.url.query.get("mode") == "memory" or not Path(database).is_file():
        return None
    reads = RunReads(database)
    sa.event.listen(engine, "engine_disposed", lambda _engine: reads.close())
    return reads
