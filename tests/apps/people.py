"""A tiny import app with a small chunk size, a transform, options, roles and strategies.

Tests load it with ``load_app("tests.apps.people")``; it stays importable in
subprocesses because the repository root is on ``sys.path`` (pytest's
``pythonpath`` setting, ``PYTHONPATH`` for the CLI).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from jobport import Importer, JobRegistry, JobType

metadata = sa.MetaData()

people = sa.Table(
    "people",
    metadata,
    sa.Column("code", sa.String(20), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("age", sa.Integer),
    sa.Column("nickname", sa.String(100)),
)

#: Rows per chunk of the ``people`` types: small, so a ten-row file spans four chunks.
CHUNK_SIZE = 3


class Person(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=20, description="Matched on this.")
    name: str = Field(min_length=1)
    age: int | None = Field(default=None, ge=0, le=150)


def shout(row: dict[str, Any]) -> dict[str, Any] | None:
    """Reshape: upper-case the name, derive a nickname, drop the age; skip 'skip' rows."""
    if row["name"].lower() == "skip":
        return None
    if row["name"].lower() == "explode":
        raise ValueError("cannot shout this name")
    return {"code": row["code"], "name": row["name"].upper(), "nickname": row["name"][:3]}


def shout_some(row: dict[str, Any]) -> dict[str, Any] | None:
    """Reshape only some rows: names starting with 'keep' come back unchanged."""
    if row["name"].startswith("keep"):
        return row
    return {"code": row["code"], "name": row["name"].upper(), "nickname": "nick"}


#: Tests switch this on to make chunks holding a row named "flaky" crash (people-flaky).
FLAKY = {"broken": False}


def flaky(row: dict[str, Any]) -> dict[str, Any] | None:
    if FLAKY["broken"] and row["name"] == "flaky":
        raise RuntimeError("the flaky dependency is down")
    return row


class ImportOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(ge=1, description="Largest number of rows to accept.")
    dry_run: bool = False


def _people(type_: str, **extra: Any) -> JobType:
    handler = extra.pop("handler", Importer(row=Person, key="code"))
    return JobType(
        type=type_,
        label=type_.replace("-", " ").title(),
        kind="import",
        model=people,
        handler=handler,
        chunk_size=CHUNK_SIZE,
        **extra,
    )


registry = JobRegistry()
registry.add(_people("people"))
registry.add(_people("people-shout", handler=Importer(row=Person, key="code", transform=shout)))
registry.add(
    _people("people-mixed", handler=Importer(row=Person, key="code", transform=shout_some))
)
registry.add(_people("people-flaky", handler=Importer(row=Person, key="code", transform=flaky)))
registry.add(_people("people-quiet", strategy="none"))
registry.add(_people("people-private", broadcast=False))
registry.add(
    _people("people-options", options=ImportOptions, roles=frozenset({"importer", "admin"}))
)
