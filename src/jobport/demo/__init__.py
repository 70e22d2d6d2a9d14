"""The demo app: a ``customers`` import type, used by ``jobport demo`` and the benchmarks.

Select it with ``--app jobport.demo``. It doubles as the reference example
of a job type declared in a user's own module.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from jobport.demo.countries import COUNTRY_CODES
from jobport.kinds import Importer
from jobport.registry import JobRegistry, JobType, TableRef

#: A syntax check of the usual shape of an address (what a sign-up form checks).
EMAIL_PATTERN = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"  # noqa: E501

#: The customers table (``jobport.demo.tables.customers``), imported when a run needs it:
#: declaring and listing the demo's types loads no SQLAlchemy.
CUSTOMERS = TableRef("customers", "jobport.demo.tables:customers")


def __getattr__(name: str) -> Any:
    """``customers`` and its ``metadata``, from the tables' module: loaded on first use."""
    if name not in ("customers", "metadata"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from jobport.demo import tables

    return getattr(tables, name)


def _country(code: str) -> str:
    code = code.strip().upper()
    if code not in COUNTRY_CODES:
        raise ValueError(f"'{code}' is not an ISO 3166 alpha-2 country code")
    return code


class Customer(BaseModel):
    """One row of a customers file."""

    model_config = ConfigDict(str_strip_whitespace=True, defer_build=True)

    id: int = Field(ge=1, description="Customer number; rows are matched on it.", examples=[1])
    email: str = Field(pattern=EMAIL_PATTERN, max_length=254, examples=["ada@example.com"])
    first_name: str | None = Field(default=None, max_length=100, examples=["Ada"])
    last_name: str = Field(min_length=1, max_length=100, examples=["Lovelace"])
    country: Annotated[str, AfterValidator(_country)] = Field(
        description="ISO 3166 alpha-2 code", examples=["GB"]
    )
    signup_date: dt.date | None = None
    balance: Decimal | None = Field(
        default=None, max_digits=12, decimal_places=2, examples=["120.50"]
    )
    active: bool = True
    age: int | None = Field(default=None, ge=18, le=120)
    score: float | None = None


registry = JobRegistry()

registry.add(
    JobType(
        type="customers",
        label="Customers",
        kind="import",
        model=CUSTOMERS,
        handler=Importer(row=Customer, key="id"),
        strategy="websocket",
        formats=("csv", "xlsx", "jsonl", "parquet"),
        # Bulk files of small rows: every chunk costs a claim, a commit and a turn
        # in file order, so 20,000-row chunks load a million rows about a fifth
        # faster than the default 5,000, for ~30 MB more per worker.
        chunk_size=20_000,
        # Each chunk logs the rows it changes, so a wrong file can be undone (docs/undo.md).
        undoable=True,
        description="Customer records matched on their customer number.",
    )
)

# The export, sync and report types of the demo (see their modules).
from jobport.demo.exports import customers_export_type  # noqa: E402
from jobport.demo.reports import sales_report_type  # noqa: E402
from jobport.demo.sync_source import orders_sync_type  # noqa: E402

registry.add(customers_export_type(CUSTOMERS))
registry.add(orders_sync_type())
registry.add(sales_report_type())
