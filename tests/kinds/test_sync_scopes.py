"""Sync cursors per type and source: two syncs with different source options never share one."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from tests.conftest import MakeJobport

from jobport import JobRegistry, JobType, Page, StartRequest, Syncer
from jobport.kinds.syncs import stored_cursor


class Item(BaseModel):
    id: int = Field(ge=1)
    region: str


class RegionOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region: str = "eu"
    page_size: int = 2


items = sa.Table(
    "scoped_items",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("region", sa.String(10), nullable=False),
)


class RegionSource:
    """Four records per region; ids are unique across regions."""

    def __init__(self) -> None:
        self.records = {
            region: [{"id": base + n, "region": region} for n in range(1, 5)]
            for region, base in (("eu", 0), ("us", 100))
        }

    def pages(self, after: Any, options: RegionOptions) -> Iterator[dict[str, Any]]:
        records = self.records[options.region]
        for first in range(int(after or 0), len(records), options.page_size):
            yield {"at": first, "rows": min(options.page_size, len(records) - first)}

    def fetch(self, page: dict[str, Any], options: RegionOptions) -> Page:
        at = page["at"]
        chunk = self.records[options.region][at : at + options.page_size]
        return Page(records=chunk, cursor=at + len(chunk))


def registry(source: RegionSource, source_options: Sequence[str] | None = None) -> JobRegistry:
    reg = JobRegistry()
    reg.add(
        JobType(
            type="regions",
            label="Regions",
            kind="sync",
            model=items,
            options=RegionOptions,
            handler=Syncer(source=source, row=Item, key="id", source_options=source_options),
        )
    )
    return reg


def sync(engine: Any, **options: Any) -> Any:
    return engine.run(engine.start(StartRequest(type="regions", options=options)).id)


def test_two_sources_of_one_type_keep_a_cursor_each(make_jobport: MakeJobport) -> None:
    source = RegionSource()
    engine = make_jobport(app=None, registry=registry(source))
    assert sync(engine).processed == 4  # the default region: the scope ""
    us = sync(engine, region="us")
    assert us.processed == 4  # not after eu's cursor: a cursor of its own
    syncer = engine.registry.get("regions").handler
    us_scope = syncer.cursor_scope(RegionOptions(region="us"))
    assert us_scope not in ("", syncer.cursor_scope(RegionOptions(region="eu")))
    assert stored_cursor(engine.database, "regions") == 4
    assert stored_cursor(engine.database, "regions", us_scope) == 4
    source.records["us"].append({"id": 105, "region": "us"})
    assert sync(engine, region="us").processed == 1  # on from its own cursor
    assert sync(engine, region="eu").processed == 0  # "eu" given is the default: scope ""


def test_only_the_source_options_scope_the_cursor(make_jobport: MakeJobport) -> None:
    source = RegionSource()
    engine = make_jobport(app=None, registry=registry(source, ("region",)))
    assert sync(engine).processed == 4
    # page_size only shapes the reading: the same source, the same cursor.
    assert sync(engine, page_size=3).processed == 0
    assert sync(engine, region="us", page_size=3).processed == 4


def test_source_options_must_be_options_of_the_type(make_jobport: MakeJobport) -> None:
    engine = make_jobport(app=None, registry=registry(RegionSource(), ("regoin",)))
    run = sync(engine)  # planning refuses it: a failed run that says why
    assert run.status == "failed"
    assert "source_options ['regoin'] are not its options" in (run.error or "")
