"""The demo's ``customers-export`` type: the customers table, filtered by options."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from jobport.kinds.exporter import Exporter
from jobport.registry import JobType, TableRef

if TYPE_CHECKING:
    import sqlalchemy as sa


class CustomerExportOptions(BaseModel):
    """Filters of the customers export; every one is optional."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    country: str | None = Field(default=None, description="Only this country (ISO code).")
    active: bool | None = Field(default=None, description="Only active (or inactive) customers.")
    signed_up_since: dt.date | None = Field(default=None, description="Signed up on or after.")


def customers_export_type(model: sa.Table | TableRef) -> JobType:
    """The export of the customers table, given as a Table or as a TableRef to it."""

    def query(options: CustomerExportOptions) -> sa.Select[Any]:
        import sqlalchemy as sa

        customers = model.table if isinstance(model, TableRef) else model
        select = sa.select(customers)
        if options.country:
            select = select.where(customers.c.country == options.country.strip().upper())
        if options.active is not None:
            select = select.where(customers.c.active == options.active)
        if options.signed_up_since is not None:
            select = select.where(customers.c.signup_date >= options.signed_up_since)
        return select

    # Every selected column, headed by its name: an export imports back as it is.
    return JobType(
        type="customers-export",
        label="Customers (export)",
        kind="export",
        model=model,
        handler=Exporter(query=query, default_format="csv", filename="customers"),
        formats=("csv", "xlsx", "jsonl", "parquet"),
        options=CustomerExportOptions,
        chunk_size=20_000,
        strategy="websocket",
        description="Every customer, or those matching the filters, as a downloadable file.",
    )
