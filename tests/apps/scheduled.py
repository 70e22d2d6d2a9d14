"""Job types of the schedules and concurrency tests: syncs of one page, an import, an export.

``ticks`` is a sync (one active run at a time, the kind's default) whose source
always holds one page of one record; ``ticks-queued`` queues a start while
busy; ``ticks-pair`` allows two active runs; ``names`` imports a CSV of
``id,name`` (from a folder, for import schedules); ``names-export`` exports them;
``ticks-restricted`` needs the role ``ops``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from jobport import Column, Exporter, Importer, JobRegistry, JobType, Page, Syncer

metadata = sa.MetaData()

ticks = sa.Table(
    "ticks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("source", sa.String(50), nullable=False),
)
names = sa.Table(
    "names",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(100), nullable=False),
)


class Tick(BaseModel):
    id: int
    source: str


class TickOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(default="main", max_length=50)
    #: 0: a run with nothing to do, completed as soon as it is recorded (cheap, for weeks).
    pages: int = Field(default=1, ge=0, le=1)


class OnePage:
    """One page of one record (or none), whatever the cursor."""

    def pages(self, after: Any, options: TickOptions) -> list[dict[str, int]]:
        return [{"at": int(after or 0), "rows": 1}][: options.pages]

    def fetch(self, page: dict[str, int], options: TickOptions) -> Page:
        at = page["at"] + 1
        return Page(records=[{"id": at, "source": options.source}], cursor=at)


class Name(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    id: int = Field(ge=1)
    name: str = Field(min_length=1)


def _tick(type_: str, **extra: Any) -> JobType:
    return JobType(
        type=type_,
        label=type_.title(),
        kind="sync",
        model=ticks,
        handler=Syncer(source=OnePage(), row=Tick, key="id"),
        options=TickOptions,
        **extra,
    )


registry = JobRegistry()
registry.add(_tick("ticks"))
registry.add(_tick("ticks-queued", queue_when_busy=True))
registry.add(_tick("ticks-pair", max_active=2))
registry.add(_tick("ticks-restricted", roles=frozenset({"ops"})))
registry.add(
    JobType(
        type="names",
        label="Names",
        kind="import",
        model=names,
        handler=Importer(row=Name, key="id"),
    )
)
registry.add(
    JobType(
        type="names-export",
        label="Names export",
        kind="export",
        model=names,
        handler=Exporter(query=sa.select(names), columns=[Column("id"), Column("name")]),
    )
)
