"""The demo's ``orders`` sync, from a shop API bundled with the demo.

:class:`DemoShopApi` stands for a remote endpoint paginated by key
(``?after=<id>&limit=<n>``). Its orders are generated from a seed, so any
page can be fetched on its own and twice gives the same records; a few are
invalid on purpose (a negative amount, an unknown country), as real feeds are.
The API's size is an option, so a second sync with a larger ``count`` shows
an incremental sync picking up only the new orders.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from jobport.demo.countries import COUNTRY_CODES
from jobport.kinds.syncer import Page, Syncer
from jobport.registry import JobType, TableRef

#: The orders table (``jobport.demo.tables.orders``), imported when a run needs it.
ORDERS = TableRef("orders", "jobport.demo.tables:orders")
#: The names this module gives from ``jobport.demo.tables`` on first use (PEP 562).
_TABLES = {"orders": "orders", "metadata": "orders_metadata"}


def __getattr__(name: str) -> Any:
    """``orders`` and its ``metadata``, from the tables' module: loaded on first use."""
    if name not in _TABLES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from jobport.demo import tables

    return getattr(tables, _TABLES[name])


_COUNTRIES = ["FR", "DE", "GB", "US", "ES", "IT", "NL", "JP", "BR", "CA"]
_STATUSES = ["paid", "paid", "paid", "paid", "refunded", "pending"]


def _country(code: str) -> str:
    code = code.strip().upper()
    if code not in COUNTRY_CODES:
        raise ValueError(f"'{code}' is not an ISO 3166 alpha-2 country code")
    return code


class Order(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, defer_build=True)

    id: int = Field(ge=1)
    customer_id: int = Field(ge=1)
    country: Annotated[str, AfterValidator(_country)]
    ordered_at: dt.date
    amount: Decimal = Field(ge=0, max_digits=12, decimal_places=2)
    status: Literal["paid", "refunded", "pending"]


class OrdersSyncOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    count: int = Field(default=5_000, ge=0, le=10_000_000, description="Orders the API holds.")
    seed: int = Field(default=7, description="Seed of the generated orders.")


class DemoShopApi:
    """A paginated orders endpoint, generated from a seed (see the module docstring)."""

    def __init__(self, page_size: int = 1_000) -> None:
        self.page_size = page_size

    def pages(self, after: Any, options: OrdersSyncOptions) -> Iterator[dict[str, Any]]:
        start = int(after or 0)
        for first in range(start, options.count, self.page_size):
            limit = min(self.page_size, options.count - first)
            yield {"after": first, "limit": limit, "rows": limit}

    def fetch(self, page: dict[str, Any], options: OrdersSyncOptions) -> Page:
        first, limit = int(page["after"]), int(page["limit"])
        records = [order(options.seed, first + 1 + i) for i in range(limit)]
        return Page(records=records, cursor=first + limit)


def order(seed: int, order_id: int) -> dict[str, Any]:
    """Order ``order_id`` of the API seeded with ``seed``, as the API's JSON has it."""
    rng = random.Random(seed * 1_000_003 + order_id)
    day = dt.date(2023, 1, 1) + dt.timedelta(days=rng.randrange(730))
    record: dict[str, Any] = {
        "id": order_id,
        "customer_id": rng.randrange(1, 10_000),
        "country": rng.choice(_COUNTRIES),
        "ordered_at": day.isoformat(),
        "amount": f"{rng.randrange(500, 50_000) / 100:.2f}",
        "status": rng.choice(_STATUSES),
    }
    if rng.random() < 0.005:
        record[rng.choice(["amount", "country"])] = rng.choice(["-12.00", "XX"])
    return record


def orders_sync_type() -> JobType:
    return JobType(
        type="orders",
        label="Orders (sync from the shop API)",
        kind="sync",
        model=ORDERS,
        # The seed picks the generated shop (its source); count only says how much it holds.
        handler=Syncer(source=DemoShopApi(), row=Order, key="id", source_options=("seed",)),
        options=OrdersSyncOptions,
        strategy="websocket",
        description="Orders pulled page by page from the demo shop API; later syncs continue "
        "after the last page synced.",
    )
