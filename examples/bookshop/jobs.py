"""The shop's four job types, declared against its own models.

jobport finds them through ``Settings(app="examples.bookshop.jobs")``: the
web process and every worker process load this module, so it holds
declarations only (no engine, no connection; those belong to the app).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from examples.bookshop.models import Book, Sale
from examples.bookshop.till import SaleRecord, TillApi, TillSyncOptions
from jobport import Column, Exporter, Importer, JobRegistry, JobType, Report, Syncer


def _isbn13(value: str) -> str:
    """An ISBN-13 without its hyphens and spaces, its check digit verified."""
    digits = value.replace("-", "").replace(" ", "")
    if len(digits) != 13 or not digits.isdigit():
        raise ValueError("an ISBN-13 has 13 digits")
    total = sum(int(d) * (3 if n % 2 else 1) for n, d in enumerate(digits[:12]))
    if (10 - total % 10) % 10 != int(digits[12]):
        raise ValueError(f"'{value}' fails the ISBN-13 check digit")
    return digits


class BookRow(BaseModel):
    """One line of a supplier's catalogue file."""

    model_config = ConfigDict(str_strip_whitespace=True)

    isbn: Annotated[str, AfterValidator(_isbn13)] = Field(description="ISBN-13; matched on it.")
    title: str = Field(min_length=1, max_length=300)
    author: str = Field(min_length=1, max_length=200)
    price: Decimal = Field(ge=0, max_digits=8, decimal_places=2)
    stock: int = Field(default=0, ge=0)


class BookExportOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    author: str | None = Field(default=None, description="Only this author's books.")
    in_stock: bool | None = Field(default=None, description="Only books in (or out of) stock.")


def books_query(options: BookExportOptions) -> sa.Select[*tuple[Any, ...]]:
    query = sa.select(Book.isbn, Book.title, Book.author, Book.price, Book.stock)
    if options.author:
        query = query.where(Book.author == options.author)
    if options.in_stock is not None:
        query = query.where(Book.stock > 0 if options.in_stock else Book.stock == 0)
    return query


def sales_by_book() -> sa.Select[*tuple[Any, ...]]:
    """Copies sold and revenue per book (a sale of a book not in the catalogue still counts)."""
    revenue = sa.func.sum(Sale.quantity * Sale.unit_price)
    return (
        sa.select(
            Sale.isbn,
            sa.func.coalesce(Book.title, "(not in the catalogue)").label("title"),
            sa.func.sum(Sale.quantity).label("copies"),
            sa.cast(revenue, sa.Numeric(12, 2)).label("revenue"),
        )
        .outerjoin(Book, Book.isbn == Sale.isbn)
        .group_by(Sale.isbn, Book.title)
        .order_by(revenue.desc(), Sale.isbn)
    )


registry = JobRegistry()
registry.add(
    JobType(
        type="books",
        label="Books (supplier catalogue)",
        kind="import",
        model=Book,
        handler=Importer(row=BookRow, key="isbn"),
        formats=("csv", "xlsx"),
        chunk_size=1_000,
        strategy="websocket",
        description="Titles, prices and stock matched on the ISBN; new ISBNs are added.",
    )
)
registry.add(
    JobType(
        type="books-export",
        label="Books (export)",
        kind="export",
        model=Book,
        handler=Exporter(
            query=books_query,
            columns=[
                Column("isbn", header="ISBN"),
                Column("title", header="Title"),
                Column("author", header="Author"),
                Column("price", header="Price", formatter=lambda v: f"{v:.2f}"),
                Column("stock", header="Stock"),
            ],
            filename="books",
        ),
        options=BookExportOptions,
        formats=("csv", "xlsx"),
        description="The catalogue, or one author's books, or what is in stock.",
    )
)
registry.add(
    JobType(
        type="till-sales",
        label="Sales (sync from the till)",
        kind="sync",
        model=Sale,
        # The seed picks the till (its source); count only says how many sales it holds.
        handler=Syncer(source=TillApi(), row=SaleRecord, key="id", source_options=("seed",)),
        options=TillSyncOptions,
        description="New sales from the till, after the last sale synced.",
    )
)
registry.add(
    JobType(
        type="sales-by-book",
        label="Sales by book",
        kind="report",
        model=Sale,
        handler=Report(query=sales_by_book(), totals=("copies", "revenue")),
        formats=("csv", "xlsx"),
        roles=frozenset({"accounts"}),
        description="Copies sold and revenue per book, best sellers first.",
    )
)
