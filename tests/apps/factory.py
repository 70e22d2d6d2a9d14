"""An app module whose registry is built by a function, and a second named registry."""

from __future__ import annotations

import sqlalchemy as sa
from pydantic import BaseModel

from jobport import Importer, JobRegistry, JobType

metadata = sa.MetaData()
things = sa.Table("things", metadata, sa.Column("sku", sa.String(20), primary_key=True))


class Thing(BaseModel):
    sku: str


def make_registry() -> JobRegistry:
    registry = JobRegistry()
    registry.add(
        JobType(
            type="things",
            label="Things",
            kind="import",
            model=things,
            handler=Importer(row=Thing, key="sku"),
        )
    )
    return registry


other = JobRegistry()
other.add(
    JobType(
        type="other-things",
        label="Other things",
        kind="import",
        model=things,
        handler=Importer(row=Thing, key="sku"),
    )
)

#: Neither a registry nor a callable returning one.
not_a_registry = 42
