"""Job types of the API tests: small chunks, every progress strategy, a private, a restricted type.

Loaded as ``tests.api.live_app`` by local-executor workers too (the repository
root is on ``sys.path`` through pytest's ``pythonpath``).
"""

from __future__ import annotations

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from jobport import Importer, JobRegistry, JobType

metadata = sa.MetaData()

items = sa.Table(
    "items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("qty", sa.Integer),
)

#: Rows per chunk: a few hundred rows make several chunks, so several events.
CHUNK_SIZE = 100


class Item(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    id: int = Field(ge=1, description="Matched on this.")
    name: str = Field(min_length=1)
    qty: int | None = Field(default=None, ge=0)


class ItemOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, description="Kept with the run.")


def _items(type_: str, **extra: object) -> JobType:
    return JobType(
        type=type_,
        label=type_.replace("-", " ").title(),
        kind="import",
        model=items,
        handler=Importer(row=Item, key="id"),
        chunk_size=CHUNK_SIZE,
        **extra,  # type: ignore[arg-type]
    )


registry = JobRegistry()
registry.add(_items("items", strategy="websocket", options=ItemOptions))
registry.add(_items("items-polling", strategy="polling"))
registry.add(_items("items-quiet", strategy="none"))
registry.add(_items("items-private", strategy="websocket", broadcast=False))
registry.add(_items("items-restricted", strategy="websocket", roles=frozenset({"stock"})))


def write_items(path: object, rows: int, *, bad_every: int = 0) -> int:
    """A CSV of ``rows`` items; every ``bad_every``-th row has no name. Returns the bad count."""
    bad = 0
    with open(str(path), "w", encoding="utf-8", newline="") as handle:
        handle.write("id,name,qty\n")
        for n in range(1, rows + 1):
            if bad_every and n % bad_every == 0:
                handle.write(f"{n},,{n % 7}\n")
                bad += 1
            else:
                handle.write(f"{n},item {n},{n % 7}\n")
    return bad
