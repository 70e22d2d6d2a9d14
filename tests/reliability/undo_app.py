"""An undoable import whose worker processes can be made to SIGKILL themselves mid-chunk.

``people`` is an undoable import in chunks of :data:`CHUNK` rows into a table
of several column types, one of them fed by no file. A test arms a kill by
writing ``<point> <chunk>`` to the flag file ``kill`` (in
``$RELIABILITY_FLAGS``); the first worker process whose transaction logs
undo records for that chunk number (of any run) takes the file and kills
itself with SIGKILL at that point:

- ``write``: the chunk's target rows are written, its undo log is not yet;
- ``commit``: everything is written, the COMMIT is about to be sent;
- ``after``: the COMMIT has landed, nothing after it has run (no event, no
  next chunk).

The process named by ``$UNDO_KILLS_SPARE`` (the test's own) never kills itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.engine import Connection, Engine

from jobport import Importer, JobRegistry, JobType
from jobport.store.tables import job_undo_log

CHUNK = 4
ARMED = "kill"
POINTS = ("write", "commit", "after")

metadata = sa.MetaData()
people = sa.Table(
    "people",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(40), nullable=False),
    sa.Column("score", sa.Numeric(8, 2)),
    sa.Column("ratio", sa.Float),
    sa.Column("note", sa.String(20)),
)


class Person(BaseModel):
    id: int = Field(ge=1)
    name: str
    score: Decimal | None = Field(default=None, max_digits=8, decimal_places=2)
    ratio: float | None = None


registry = JobRegistry()
registry.add(
    JobType(
        type="people",
        label="People, undoable, in small chunks",
        kind="import",
        model=people,
        handler=Importer(row=Person, key="id"),
        chunk_size=CHUNK,
        max_attempts=3,
        undoable=True,
    )
)


def _take(chunk_no: int) -> str | None:
    """The armed point if it is for ``chunk_no`` and this process is the one to take it."""
    if os.environ.get("UNDO_KILLS_SPARE") == str(os.getpid()):
        return None
    flags = os.environ.get("RELIABILITY_FLAGS")
    if not flags:
        return None
    armed = Path(flags) / ARMED
    try:
        point, chunk = armed.read_text().split()
    except (FileNotFoundError, ValueError):
        return None
    if int(chunk) != chunk_no:
        return None
    try:  # one process only: the first to move the file away
        armed.rename(Path(flags) / f"fired-{os.getpid()}")
    except FileNotFoundError:
        return None
    return point


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@sa.event.listens_for(Engine, "before_execute")
def _on_log_write(
    conn: Connection, clause: Any, multiparams: Any, params: Any, options: Any
) -> None:
    """At a chunk's undo log insert: the chunk's rows are written in this transaction."""
    if not isinstance(clause, sa.Insert) or clause.table is not job_undo_log:
        return
    # One record (a single parameter set) or several (a list of them).
    listed = multiparams and isinstance(multiparams[0], list)
    rows = multiparams[0] if listed else multiparams or [params]
    point = _take(int(rows[0]["chunk_no"]))
    if point == "write":
        _die()
    if point is not None:
        conn.info["undo_kill"] = point


@sa.event.listens_for(Engine, "commit")
def _on_commit(conn: Connection) -> None:
    point = conn.info.pop("undo_kill", None)
    if point == "commit":
        _die()
    if point == "after":
        conn.connection.dbapi_connection.commit()  # type: ignore[union-attr]
        _die()


@sa.event.listens_for(Engine, "rollback")
def _on_rollback(conn: Connection) -> None:
    with contextlib.suppress(Exception):
        conn.info.pop("undo_kill", None)
