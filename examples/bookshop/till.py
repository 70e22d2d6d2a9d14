"""The till: the point-of-sale system the shop syncs its sales from.

:class:`TillApi` stands for the till vendor's HTTP API, paginated by sale
number (``?after=<id>&limit=<n>``). Its sales are generated from a seed, so
any page can be fetched on its own and twice gives the same records. How
many sales the till has rung up so far is the ``count`` option: a later sync
with a larger count stands for the next day, and picks up only the new sales
(jobport keeps the cursor after the last page it committed).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from jobport import Page

#: The books the till sells (those of ``data/books.csv`` that are valid).
TILL_ISBNS = (
    "9780141439518",
    "9780061120084",
    "9780199535569",
    "9780141187761",
    "9780684801544",
)
_START = dt.datetime(2025, 3, 1, 9, 0)


class TillSyncOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(default=200, ge=0, le=1_000_000, description="Sales the till holds.")
    seed: int = Field(default=11, description="Seed of the generated sales.")


class SaleRecord(BaseModel):
    """One sale as the till's API has it; validated before it is written."""

    id: int = Field(ge=1)
    isbn: str = Field(min_length=13, max_length=13)
    quantity: int = Field(ge=1)
    unit_price: Decimal = Field(ge=0, max_digits=8, decimal_places=2)
    sold_at: dt.datetime


class TillApi:
    """A paginated sales endpoint (see the module docstring); a jobport ``SyncSource``."""

    def __init__(self, page_size: int = 50) -> None:
        self.page_size = page_size

    def pages(self, after: Any, options: TillSyncOptions) -> Iterator[dict[str, int]]:
        """Page descriptors only: nothing is fetched here (pages are fetched in parallel)."""
        start = int(after or 0)
        for first in range(start, options.count, self.page_size):
            limit = min(self.page_size, options.count - first)
            yield {"after": first, "limit": limit, "rows": limit}

    def fetch(self, page: dict[str, int], options: TillSyncOptions) -> Page:
        first, limit = int(page["after"]), int(page["limit"])
        records = [sale(options.seed, first + 1 + n) for n in range(limit)]
        return Page(records=records, cursor=first + limit)


def sale(seed: int, sale_id: int) -> dict[str, Any]:
    """Sale ``sale_id`` of the till seeded with ``seed``, as its JSON has it."""
    rng = random.Random(seed * 1_000_003 + sale_id)
    return {
        "id": sale_id,
        "isbn": rng.choice(TILL_ISBNS),
        "quantity": rng.choice((1, 1, 1, 2, 3)),
        "unit_price": f"{rng.randrange(599, 2499) / 100:.2f}",
        "sold_at": (_START + dt.timedelta(minutes=7 * sale_id)).isoformat(),
    }
