"""The sync kind: pages validated and upserted, cursors kept, incremental and full syncs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel, Field
from tests.conftest import MakeJobport

from jobport import JobRegistry, JobType, Page, StartRequest, Syncer
from jobport.demo.sync_source import Order, order, orders
from jobport.kinds.syncs import stored_cursor


def invalid_orders(seed: int, ids: range) -> set[int]:
    bad = set()
    for i in ids:
        try:
            Order.model_validate(order(seed, i))
        except ValueError:
            bad.add(i)
    return bad


def order_ids(engine: Any) -> set[int]:
    with engine.database.connect() as conn:
        return set(conn.execute(sa.select(orders.c.id)).scalars())


def test_the_demo_orders_sync_and_its_incremental_follow_up(make_jobport: MakeJobport) -> None:
    engine = make_jobport()
    run = engine.run(engine.start(StartRequest(type="orders", options={"count": 2500})).id)
    bad = invalid_orders(7, range(1, 2501))
    assert bad
    assert run.chunks_total == 3
    assert (run.total, run.processed, run.failed) == (2500, 2500, len(bad))
    assert order_ids(engine) == set(range(1, 2501)) - bad
    failures, _ = engine.store.list_failures(run.id, limit=10_000)
    assert {f["line"] for f in failures} == bad  # the record's position in the source
    assert stored_cursor(engine.database, "orders") == 2500

    later = engine.run(engine.start(StartRequest(type="orders", options={"count": 4200})).id)
    assert later.chunks_total == 2  # only the pages after the cursor
    assert later.processed == 1700
    assert order_ids(engine) == set(range(1, 4201)) - invalid_orders(7, range(1, 4201))
    assert stored_cursor(engine.database, "orders") == 4200

    nothing = engine.run(engine.start(StartRequest(type="orders", options={"count": 4200})).id)
    assert nothing.status == "completed"
    assert nothing.chunks_total == 0

    full = engine.start(StartRequest(type="orders", options={"count": 4200}, read={"full": True}))
    assert engine.run(full.id).chunks_total == 5


class Thing(BaseModel):
    id: int = Field(ge=1)
    name: str = Field(min_length=1)


things = sa.Table(
    "things",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(50), nullable=False),
)


class ListSource:
    """Pages of two records from a list that tests change between syncs."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.fail_on: set[int] = set()
        self.fetched: list[int] = []

    def pages(self, after: Any, options: Any) -> Iterator[dict[str, Any]]:
        start = int(after or 0)
        for first in range(start, len(self.records), 2):
            yield {"at": first, "rows": min(2, len(self.records) - first)}

    def fetch(self, page: dict[str, Any], options: Any) -> Page:
        at = page["at"]
        self.fetched.append(at)
        if at in self.fail_on:
            self.fail_on.discard(at)
            raise ConnectionError("the source went away")
        return Page(records=self.records[at : at + 2], cursor=at + 2)


def things_registry(source: ListSource, *, delete_missing: bool) -> JobRegistry:
    registry = JobRegistry()
    registry.add(
        JobType(
            type="things",
            label="Things",
            kind="sync",
            model=things,
            handler=Syncer(source=source, row=Thing, key="id", delete_missing=delete_missing),
            max_attempts=1,
        )
    )
    return registry


def names(engine: Any) -> dict[int, str]:
    with engine.database.connect() as conn:
        return {row[0]: row[1] for row in conn.execute(sa.select(things.c.id, things.c.name))}


def test_rows_missing_from_the_source_are_deleted(make_jobport: MakeJobport) -> None:
    source = ListSource()
    source.records = [{"id": i, "name": f"n{i}"} for i in range(1, 8)]
    engine = make_jobport(app=None, registry=things_registry(source, delete_missing=True))
    engine.start(StartRequest(type="things"))
    assert names(engine) == {i: f"n{i}" for i in range(1, 8)}
    # 3 leaves the source; 5 is still there but invalid now: it is kept as it was.
    source.records = [{"id": i, "name": "" if i == 5 else f"m{i}"} for i in range(1, 8) if i != 3]
    run = engine.run(engine.start(StartRequest(type="things")).id)
    assert run.status == "completed_with_errors"
    assert (run.result or {})["deleted"] == 1
    assert names(engine) == {1: "m1", 2: "m2", 4: "m4", 5: "n5", 6: "m6", 7: "m7"}


def test_without_delete_missing_nothing_is_deleted(make_jobport: MakeJobport) -> None:
    source = ListSource()
    source.records = [{"id": i, "name": f"n{i}"} for i in range(1, 5)]
    engine = make_jobport(app=None, registry=things_registry(source, delete_missing=False))
    engine.start(StartRequest(type="things"))
    source.records = [{"id": 1, "name": "only"}]
    engine.start(StartRequest(type="things", read={"full": True}))
    assert names(engine) == {1: "only", 2: "n2", 3: "n3", 4: "n4"}


def test_a_resumed_sync_continues_after_the_last_committed_page(
    make_jobport: MakeJobport,
) -> None:
    source = ListSource()
    source.records = [{"id": i, "name": f"n{i}"} for i in range(1, 9)]
    source.fail_on = {4}
    engine = make_jobport(app=None, registry=things_registry(source, delete_missing=False))
    run = engine.run(engine.start(StartRequest(type="things")).id)
    assert run.status == "failed"
    assert stored_cursor(engine.database, "things") == 4  # pages 0 and 2 committed
    assert set(names(engine)) == {1, 2, 3, 4}
    source.fetched.clear()
    resumed = engine.run(engine.resume(run.id).id)
    assert resumed.status == "completed"
    assert source.fetched == [4, 6]
    assert set(names(engine)) == set(range(1, 9))
    assert stored_cursor(engine.database, "things") == 8


@pytest.mark.parametrize("bad_page", [[{"at": object()}]])
def test_page_descriptors_must_be_json(make_jobport: MakeJobport, bad_page: Any) -> None:
    class Odd(ListSource):
        def pages(self, after: Any, options: Any) -> Iterator[dict[str, Any]]:
            yield from bad_page

    engine = make_jobport(app=None, registry=things_registry(Odd(), delete_missing=False))
    run = engine.start(StartRequest(type="things"))
    assert run.status == "failed"
    assert "must be JSON" in (run.error or "")
