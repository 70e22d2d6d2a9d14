"""The demo's ``customers-export`` type: the customers table, filtered by options."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from jobport.kinds.exporter import Column, Exporter
from jobport.registry import JobType


class CustomerExportOptions(BaseModel):
    """Filters of the customers export; every one is optional."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    country: str | None = Field(default=None, description="Only this country (ISO code).")
    active: bool | None = Field(default=None, description="Only active (or inactive) customers.")
    signed_up_since: dt.date | None = Field(default=None, description="Signed up on or after.")


def customers_export_type(customers: sa.Table) -> JobType:
    def query(options: CustomerExportOptions) -> sa.Select[Any]:
        select = sa.select(customers)
        if options.country:
            select = select.where(customers.c.country == options.country.strip().upper())
        if options.active is not None:
            select = select.where(customers.c.active == options.active)
        if options.signed_up_since is not None:
            select = select.where(customers.c.signup_date >= options.signed_up_since)
        return select

    # Headers are the column names, so an export imports back as it is.
    columns = [Column(column.name) for column in customers.c]
    return JobType(
        type="customers-export",
        label="Customers (export)",
        kind="export",
        model=customers,
        handler=Exporter(query=query, columns=columns, default_format="csv", filename="customers"),
        formats=("csv", "xlsx", "jsonl", "parquet"),
        options=CustomerExportOptions,
        chunk_size=20_000,
        strategy="websocket",
        description="Every customer, or those matching the filters, as a downloadable file.",
    )
