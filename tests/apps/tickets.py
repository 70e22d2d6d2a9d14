"""An import type for the review grid's tests: text, a decimal and a date that files get wrong.

``REFUSED`` holds titles the row model refuses; a test adds one after a row was
fixed in the grid to make the fix run reject that row, as a rule that changed
in between would.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from jobport import Importer, JobRegistry, JobType

metadata = sa.MetaData()

tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("code", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("title", sa.String(100), nullable=False),
    sa.Column("amount", sa.Numeric(10, 2)),
    sa.Column("day", sa.Date),
)

#: Titles the row model refuses (tests change it).
REFUSED: set[str] = set()


class Ticket(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    code: int = Field(ge=1, description="Matched on this.")
    title: str = Field(min_length=1, max_length=100)
    amount: Decimal | None = Field(default=None, max_digits=10, decimal_places=2)
    day: dt.date | None = None

    @field_validator("title")
    @classmethod
    def _allowed(cls, value: str) -> str:
        if value in REFUSED:
            raise ValueError(f"'{value}' is not allowed")
        return value


registry = JobRegistry()
registry.add(
    JobType(
        type="tickets",
        label="Tickets",
        kind="import",
        model=tickets,
        handler=Importer(row=Ticket, key="code"),
        chunk_size=4,
    )
)
