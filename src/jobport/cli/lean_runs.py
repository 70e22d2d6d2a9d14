"""``status`` and ``history`` answered straight from the embedded SQLite file.

Both commands only read runs, yet the service's way there builds the engine:
SQLAlchemy, the store, the app's job types, a schema check; about half a
second on a small machine, SQLAlchemy's import alone a third of it. On an
SQLite database file at the migrations' head in WAL mode the runs are read
instead through the sqlite3 module (:mod:`jobport.store.run_rows`), and the
command prints what the service's records would have printed.

Only a plain answer is read this way: a run found by its id or a unique
start of it, a page of runs under the equality filters the CLI has. Every
other case answers ``None`` and the command goes the service's way, whose
rules and messages then decide: a run not found, an ambiguous start, a start
waiting for a slot, PostgreSQL, a database to migrate, a lock, a database
not in WAL mode. The CLI is the operator, who sees every run, so no owner is
checked here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from jobport.cli.context import Context
    from jobport.store import run_rows
    from jobport.store.records import RunRecord

T = TypeVar("T")


def find_run(state: Context, given: str) -> RunRecord | None:
    """The run ``given`` names (its id or the one id it starts), or None: ask the service."""
    if not given:
        return None
    return _read(state, lambda runs: _find(runs, given))


def list_runs(
    state: Context, filters: dict[str, str | None], *, limit: int
) -> tuple[list[RunRecord], int] | None:
    """The newest ``limit`` runs under ``filters`` and how many match, or None: ask the
    service."""
    given = {name: value for name, value in filters.items() if value}
    return _read(state, lambda runs: runs.page(given, limit=limit))


def _find(runs: run_rows.RunFile, given: str) -> RunRecord | None:
    run = runs.find(given)
    if run is not None:
        return run
    if runs.waiting(given):  # a queued start not recorded yet: the service makes its record
        return None
    found = runs.ids_starting_with(given, limit=2)
    return runs.find(found[0]) if len(found) == 1 else None


def _read(state: Context, read: Callable[[run_rows.RunFile], T | None]) -> T | None:
    """What ``read`` finds in the state database, or None if it cannot be read this way."""
    import sqlite3  # here: every command imports this module, two read through it

    with _run_file(state) as runs:
        if runs is None:
            return None
        try:
            return read(runs)
        except sqlite3.Error:
            return None
    return None


@contextlib.contextmanager
def _run_file(state: Context) -> Iterator[run_rows.RunFile | None]:
    """A reader of the state database, or None: not an SQLite file at head in WAL mode."""
    import sqlite3

    from jobport.store import run_rows

    path = run_rows.sqlite_file(state.settings().database_url)
    if path is None or not Path(path).is_file():
        yield None
        return
    try:
        runs = run_rows.RunFile.at_head(path)
    except sqlite3.Error:
        runs = None
    try:
        yield runs
    finally:
        if runs is not None:
            runs.close()
