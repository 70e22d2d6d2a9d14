"""Runs read straight from an SQLite file through the sqlite3 module, without SQLAlchemy.

Two readers need a run without the store's machinery: the API's polled run
read (:mod:`jobport.store.run_reads`, on the event loop) and the CLI's
``status`` and ``history`` (:mod:`jobport.cli.lean_runs`), for which
importing SQLAlchemy alone costs more than the whole answer. Both read here:
the SQL text is written out, and each column of ``job_runs`` is typed by a
plain converter doing what SQLAlchemy's result processor for its type does
on SQLite (JSON, UTC datetimes, booleans; the rest as the driver gives it).
A unit test holds this against the table (a new column or a changed type
fails it) and the records against the store's.

A :class:`RunFile` reads a database in WAL mode only, opened ``mode=rw``
(never created), ``query_only``, with a busy timeout of 0: a WAL reader
never waits for the writer, and any lock it meets otherwise fails at once
with ``sqlite3.Error``, on which every caller reads the store's way instead.
"""

from __future__ import annotations

import json
import numbers
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jobport.store.records import RunRecord

#: A column's converter: the database's value (never None) to the record's.
Convert = Callable[[Any], Any]
#: A run's rows as the sqlite3 module gives them: the run's columns, then a retry's id.
Rows = list[tuple[Any, ...]]


def from_json(value: Any) -> Any:
    """A JSON column's value (SQLite's JSON type: a number stored as one comes back as is)."""
    try:
        return json.loads(value)
    except TypeError:
        if isinstance(value, numbers.Number):
            return value
        raise


def from_utc(value: Any) -> datetime:
    """A ``UTCDateTime`` column's value: SQLite keeps it as naive ISO text, in UTC."""
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def from_bool(value: Any) -> bool:
    return bool(value)


#: ``job_runs``' columns in the table's order, each with its converter (None: as given).
RUN_COLUMNS: tuple[tuple[str, Convert | None], ...] = (
    ("id", None),
    ("type", None),
    ("kind", None),
    ("status", None),
    ("strategy", None),
    ("broadcast", from_bool),
    ("total", None),
    ("processed", None),
    ("failed", None),
    ("owner", None),
    ("params", from_json),
    ("format", None),
    ("source_key", None),
    ("source_name", None),
    ("result_key", None),
    ("result", from_json),
    ("created_at", from_utc),
    ("started_at", from_utc),
    ("finished_at", from_utc),
    ("error", None),
    ("retry_of", None),
    ("chunks_total", None),
    ("chunks_done", None),
    ("seq", None),
    ("rows_per_second", None),
    ("eta_seconds", None),
    ("max_attempts", None),
    ("dispatcher", None),
    ("finishing_until", from_utc),
    ("created", None),
    ("updated", None),
    ("unchanged", None),
    ("dry_run", from_bool),
)

_SELECTED = ", ".join(f"job_runs.{name}" for name, _ in RUN_COLUMNS)
#: A run and, one row each, the runs started to retry it (the store's ``get_run``).
RUN_WITH_RETRIES = (
    f"SELECT {_SELECTED}, retries.id AS retried_by_id FROM job_runs "
    "LEFT OUTER JOIN job_runs AS retries ON retries.retry_of = job_runs.id "
    "WHERE job_runs.id = ? ORDER BY retries.created_at, retries.id"
)
#: Ids starting with a pattern (escaped as SQLAlchemy's ``startswith(autoescape=True)``).
IDS_STARTING_WITH = (
    "SELECT job_runs.id FROM job_runs WHERE (job_runs.id LIKE ? || '%' ESCAPE '/') "
    "ORDER BY job_runs.id LIMIT ? OFFSET ?"
)
#: The filters of a page of runs this module renders (each an equality, as ``RunFilter``'s).
PAGE_FILTERS = ("kind", "type", "status", "owner")


def record_of(rows: Rows) -> RunRecord:
    """The run of :data:`RUN_WITH_RETRIES`' rows, typed as the store types it."""
    return RunRecord.from_row(typed(rows[0]), tuple(row[-1] for row in rows if row[-1] is not None))


def typed(row: tuple[Any, ...]) -> dict[str, Any]:
    """A row of ``job_runs``' columns (in :data:`RUN_COLUMNS`' order) as typed values."""
    return {
        name: value if convert is None or value is None else convert(value)
        for (name, convert), value in zip(RUN_COLUMNS, row, strict=False)
    }


def page_sql(filters: dict[str, str]) -> tuple[str, str, list[str]]:
    """The page's query (then ``LIMIT ? OFFSET ?``), its count's, and their parameters:
    the store's ``list_runs`` for equality filters, newest first."""
    unknown = set(filters) - set(PAGE_FILTERS)
    if unknown:
        raise ValueError(f"not a filter of a page of runs: {sorted(unknown)}")
    names = [name for name in PAGE_FILTERS if filters.get(name)]
    where = (" WHERE " + " AND ".join(f"job_runs.{name} = ?" for name in names)) if names else ""
    page = (
        f"SELECT {_SELECTED} FROM job_runs{where} "
        "ORDER BY job_runs.created_at DESC, job_runs.id DESC LIMIT ? OFFSET ?"
    )
    return page, f"SELECT count(*) AS count_1 FROM job_runs{where}", [filters[n] for n in names]


def escape_like(prefix: str) -> str:
    """``prefix`` for ``LIKE ... ESCAPE '/'``: its ``/``, ``%`` and ``_`` taken literally."""
    return prefix.replace("/", "//").replace("%", "/%").replace("_", "/_")


def open_reader(path: str) -> sqlite3.Connection:
    """A read-only autocommit connection on the existing database file ``path``, in WAL
    mode, that never waits for a lock; ``sqlite3.Error`` when that cannot be had."""
    connection = sqlite3.connect(
        f"{Path(path).resolve().as_uri()}?mode=rw",
        uri=True,
        timeout=0,
        isolation_level=None,
        check_same_thread=False,
    )
    try:
        wal = connection.execute("PRAGMA journal_mode").fetchone()
        if wal is None or str(wal[0]).lower() != "wal":
            raise sqlite3.OperationalError("not in WAL mode: a reader could wait")
        connection.execute("PRAGMA query_only=ON")
    except sqlite3.Error:
        connection.close()
        raise
    return connection


def sqlite_file(url: str) -> str | None:
    """The file an ``sqlite:///PATH`` URL names (as SQLAlchemy's pysqlite reads it), or
    None for anything else: another database, an in-memory one, a URL with options."""
    for scheme in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(scheme):
            path = url.removeprefix(scheme)
            plain = path and not set(path) & set("?#%") and path != ":memory:"
            return path if plain and not path.startswith("file:") else None
    return None


#: The migrations' head, as the snapshot of a new database at head records it.
_SNAPSHOT = Path(__file__).parent / "migrations" / "sqlite_head.json"


def head_revision() -> str:
    """The migrations' newest revision, read without Alembic nor SQLAlchemy (the snapshot
    is rewritten with every migration: ``tests/e2e/test_cli_speed.py`` holds it there)."""
    return str(json.loads(_SNAPSHOT.read_text(encoding="utf-8"))["revision"])


class RunFile:
    """Runs read from one SQLite file on a :func:`open_reader` connection.

    Every method may raise ``sqlite3.Error`` (a lock, a schema other than
    this module's): callers read the store's way then.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    @classmethod
    def at_head(cls, path: str) -> RunFile | None:
        """A reader of ``path`` if it is a database at the migrations' head; None when its
        schema is behind or ahead (the store migrates it, or refuses it)."""
        connection = open_reader(path)
        try:
            rows = connection.execute("SELECT version_num FROM jobport_alembic_version").fetchall()
        except sqlite3.Error:
            connection.close()
            raise
        if rows != [(head_revision(),)]:
            connection.close()
            return None
        return cls(connection)

    def rows(self, run_id: str) -> Rows:
        """The run's rows for :func:`record_of` (one per run retrying it); [] if none."""
        return self.connection.execute(RUN_WITH_RETRIES, (run_id,)).fetchall()

    def find(self, run_id: str) -> RunRecord | None:
        rows = self.rows(run_id)
        return record_of(rows) if rows else None

    def ids_starting_with(self, prefix: str, *, limit: int) -> list[str]:
        """Ids of runs starting with ``prefix``, in order (SQLite's ``LIKE``: ASCII letters
        in any case, as the store's ``run_ids_starting_with``)."""
        found = self.connection.execute(IDS_STARTING_WITH, (escape_like(prefix), limit, 0))
        return [str(row[0]) for row in found]

    def waiting(self, run_id: str) -> bool:
        """Whether ``run_id`` is a start waiting for a slot (a queued run with no row yet)."""
        found = self.connection.execute(
            "SELECT 1 FROM jobport_waiting_starts WHERE run_id = ?", (run_id,)
        )
        return found.fetchone() is not None

    def page(
        self, filters: dict[str, str], *, limit: int, offset: int = 0
    ) -> tuple[list[RunRecord], int]:
        """Runs matching ``filters`` newest first, and how many match, in one read
        transaction (as the store's ``list_runs``)."""
        page, count, values = page_sql(filters)
        self.connection.execute("BEGIN")
        try:
            rows = self.connection.execute(page, (*values, limit, offset)).fetchall()
            total = self.connection.execute(count, values).fetchone()
        finally:
            self.connection.execute("COMMIT")
        return [RunRecord.from_row(typed(row)) for row in rows], int(total[0])

    def close(self) -> None:
        self.connection.close()
