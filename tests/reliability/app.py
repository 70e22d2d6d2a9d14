"""The job types the reliability tests run, in worker processes too (``tests.reliability.app``).

``customers`` is the demo import with small chunks. ``items`` is a tiny import
(``items-live`` the same with live progress)
whose rows can ask for trouble by their ``name``:

- ``POISON``: the worker process exits on the spot (``os._exit(1)``);
- ``SEGV``: the worker process kills itself with SIGSEGV;
- ``FLAKY``: the chunk raises the first time only (a flag file remembers);
- ``BROKEN``: the chunk raises until the file ``healed`` exists;
- ``GATE``: the chunk says it arrived (``gate-reached``), then waits for ``gate-open``.

Flag files live in ``$RELIABILITY_FLAGS``. Any customers row with an id above
``$RELIABILITY_HANG_AFTER_ID`` (when set) makes its worker hang for good, so a
test knows a worker is in the middle of a chunk when it kills it.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from jobport import Importer, JobRegistry, JobType
from jobport.demo import Customer, customers

metadata = sa.MetaData()
items = sa.Table(
    "items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("qty", sa.Integer, nullable=False),
)

CUSTOMER_CHUNK = 2_000
ITEM_CHUNK = 100
MAX_ATTEMPTS = 3


class Item(BaseModel):
    id: int
    name: str
    qty: int


def _flag(name: str) -> Path:
    return Path(os.environ["RELIABILITY_FLAGS"]) / name


def _wait_for(path: Path) -> None:
    while not path.exists():
        time.sleep(0.02)


def trouble(row: dict[str, Any]) -> dict[str, Any]:
    name = row["name"]
    if name == "POISON":
        os._exit(1)
    if name == "SEGV":
        os.kill(os.getpid(), signal.SIGSEGV)
    if name == "FLAKY":
        try:
            _flag(f"flaky-{row['id']}").touch(exist_ok=False)
        except FileExistsError:
            return row
        raise RuntimeError(f"row {row['id']} fails once")
    if name == "BROKEN" and not _flag("healed").exists():
        raise RuntimeError(f"row {row['id']} is broken until healed")
    if name == "GATE":
        _flag("gate-reached").touch()
        _wait_for(_flag("gate-open"))
    return row


def hang_on_late_rows(row: dict[str, Any]) -> dict[str, Any]:
    limit = os.environ.get("RELIABILITY_HANG_AFTER_ID")
    if limit and row["id"] > int(limit):
        _wait_for(_flag("never"))
    return row


registry = JobRegistry()
registry.add(
    JobType(
        type="customers",
        label="Customers in small chunks",
        kind="import",
        model=customers,
        handler=Importer(row=Customer, key="id", transform=hang_on_late_rows),
        chunk_size=CUSTOMER_CHUNK,
        max_attempts=MAX_ATTEMPTS,
    )
)
registry.add(
    JobType(
        type="items",
        label="Items that can ask for trouble",
        kind="import",
        model=items,
        handler=Importer(row=Item, key="id", transform=trouble),
        chunk_size=ITEM_CHUNK,
        max_attempts=MAX_ATTEMPTS,
    )
)
registry.add(
    JobType(
        type="items-live",
        label="Items that can ask for trouble, with live progress",
        kind="import",
        model=items,
        handler=Importer(row=Item, key="id", transform=trouble),
        chunk_size=ITEM_CHUNK,
        max_attempts=MAX_ATTEMPTS,
        strategy="websocket",
    )
)
