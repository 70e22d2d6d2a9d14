"""The demo's ``sales-report``: paid orders by country and month."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from jobport.demo.sync_source import ORDERS
from jobport.kinds.reporter import Report
from jobport.registry import JobType

if TYPE_CHECKING:
    import sqlalchemy as sa


class SalesReportOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    year: int | None = Field(default=None, ge=1900, le=9999, description="Only this year.")


def sales_query(options: SalesReportOptions) -> sa.Select[Any]:
    import sqlalchemy as sa

    orders = ORDERS.table
    year = sa.extract("year", orders.c.ordered_at)
    month = sa.extract("month", orders.c.ordered_at)
    select = (
        sa.select(
            orders.c.country,
            sa.cast(year, sa.Integer).label("year"),
            sa.cast(month, sa.Integer).label("month"),
            sa.func.count().label("orders"),
            sa.func.sum(orders.c.amount).label("revenue"),
        )
        .where(orders.c.status == "paid")
        .group_by(orders.c.country, year, month)
        .order_by(orders.c.country, year, month)
    )
    if options.year is not None:
        select = select.where(year == options.year)
    return select


def sales_report_type() -> JobType:
    return JobType(
        type="sales-report",
        label="Sales by country and month",
        kind="report",
        model=ORDERS,
        handler=Report(query=sales_query, format="csv", totals=("orders", "revenue")),
        formats=("csv", "xlsx", "jsonl", "parquet"),
        options=SalesReportOptions,
        description="Paid orders and revenue per country and month (sync the orders first).",
    )
