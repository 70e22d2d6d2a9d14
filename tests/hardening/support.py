"""Helpers of the hardening tests: an embedded engine, demo rows, what a run left behind.

Every test goes through the real import path: ``Jobport.import_file`` on an
embedded engine (SQLite in a temporary folder, local files, inline executor),
then reads the run, its failures and the target table back.
"""

from __future__ import annotations

import logging
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field

from jobport import Importer, Jobport, JobRegistry, JobType, Settings
from jobport.errors import JobportError
from jobport.registry import Limits
from jobport.store import RunRecord

#: The demo ``customers`` columns, in the order the demo data generator writes them.
DEMO_COLUMNS = [
    "id",
    "email",
    "first_name",
    "last_name",
    "country",
    "signup_date",
    "balance",
    "active",
    "age",
    "score",
]
DEMO_HEADER = (",".join(DEMO_COLUMNS) + "\n").encode()
MiB = 1 << 20

notes_metadata = sa.MetaData()
notes_table = sa.Table(
    "notes",
    notes_metadata,
    sa.Column("code", sa.String(20), primary_key=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("n", sa.Integer),
)


class Note(BaseModel):
    """A row with an unbounded text field: only jobport's own limits cap its size."""

    code: str = Field(min_length=1, max_length=20)
    body: str
    n: int | None = None


def notes_registry(*, chunk_size: int = 3, limits: Limits | None = None) -> JobRegistry:
    """One import type, ``notes``, with a small chunk size and optional limits of its own."""
    registry = JobRegistry()
    registry.add(
        JobType(
            type="notes",
            label="Notes",
            kind="import",
            model=notes_table,
            handler=Importer(row=Note, key="code"),
            chunk_size=chunk_size,
            limits=limits or Limits(),
        )
    )
    return registry


def make_engine(
    root: Path,
    *,
    app: str | None = "jobport.demo",
    registry: JobRegistry | None = None,
    **overrides: Any,
) -> Jobport:
    """An embedded engine whose database and files live under ``root``."""
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{root / 's.db'}",
        "storage_url": str(root / "files"),
        "executor": "inline",
        "app": app,
        # A chunk that fails is retried at once: no real waiting in tests.
        "retry_backoff_seconds": 0.0,
        **overrides,
    }
    return Jobport(Settings(**values), registry=registry)


def customer(i: int, **values: str) -> bytes:
    """One valid demo customers line (LF-terminated), with some values replaced."""
    row = {
        "id": str(i),
        "email": f"c{i}@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "country": "GB",
        "signup_date": "2024-01-31",
        "balance": "12.50",
        "active": "true",
        "age": "36",
        "score": "0.5",
        **values,
    }
    return (",".join(row[c] for c in DEMO_COLUMNS) + "\n").encode()


def write(root: Path, data: bytes, name: str = "upload.csv") -> Path:
    path = root / name
    path.write_bytes(data)
    return path


def import_bytes(
    engine: Jobport, root: Path, data: bytes, type: str = "customers", **request: Any
) -> RunRecord:
    """Import ``data`` as a file; the run as it stands after the inline executor ran it."""
    run = engine.import_file(type, write(root, data, request.pop("name", "upload.csv")), **request)
    return engine.run(run.id)


def refusal(
    engine: Jobport, root: Path, data: bytes, type: str = "customers", **request: Any
) -> str:
    """The message of a refused file, whether refused up front (raised) or as a failed run."""
    try:
        run = import_bytes(engine, root, data, type, **request)
    except JobportError as exc:
        return exc.message
    assert run.status == "failed", f"the file was not refused: {run.status}"
    assert run.error is not None
    return run.error


def failures(engine: Jobport, run_id: str) -> list[tuple[int | None, str]]:
    """(line, message) of each row failure of a run, in line order."""
    items, _ = engine.store.list_failures(run_id, limit=100_000)
    return [(item["line"], item["message"]) for item in items]


def table(engine: Jobport, name: str = "customers", key: str = "id") -> list[dict[str, Any]]:
    """Every row of a target table, ordered by its key."""
    with engine.database.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT * FROM {name} ORDER BY {key}")).mappings().all()
    return [dict(row) for row in rows]


def ids(engine: Jobport) -> list[int]:
    return [row["id"] for row in table(engine)]


def uploads(root: Path) -> list[Path]:
    """The files kept in the engine's storage folder."""
    return sorted(p for p in (root / "files").rglob("*") if p.is_file())


@contextmanager
def peak_memory() -> Iterator[Callable[[], int]]:
    """Trace Python allocations; the callable gives the peak in bytes so far."""
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


class UnexpectedErrors(logging.Handler):
    """Collects what a worker logs with a traceback: an exception jobport did not mean to raise.

    The worker turns every exception of a chunk into a failed attempt, so a bug
    would otherwise only show as a failed run; a ``JobportError`` is never
    logged with a traceback.
    """

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and not isinstance(record.exc_info[1], JobportError):
            self.records.append(record)

    @contextmanager
    def watching(self) -> Iterator[UnexpectedErrors]:
        logger = logging.getLogger("jobport")
        logger.addHandler(self)
        try:
            yield self
        finally:
            logger.removeHandler(self)

    def describe(self) -> str:
        return "\n".join(self.format(r) for r in self.records)
