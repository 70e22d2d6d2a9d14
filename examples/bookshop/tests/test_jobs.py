"""jobport mounted in the shop: its routes, the shop's staff, the shop's tables."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
import sqlalchemy as sa

from examples.bookshop.models import Book, Sale
from examples.bookshop.tests.support import Shop


@pytest.mark.parametrize("path", ["/jobs/api/job-types", "/jobs/api/jobs", "/jobs/api/exports"])
def test_jobport_routes_want_a_staff_key(shop: Shop, path: str) -> None:
    for headers in ({}, {"X-API-Key": "not-a-key"}):
        response = shop.client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
    assert shop.client.get(path, headers=shop.key("alice")).status_code == 200


def test_an_import_writes_into_the_shops_table_and_records_failures(
    shop: Shop, books_csv: bytes
) -> None:
    run = shop.upload("alice", books_csv)
    assert (run["status"], run["processed"], run["failed"], run["owner"]) == (
        "completed_with_errors",
        7,
        2,
        "alice",
    )
    # Written where the shop reads: its own session on its own engine.
    with shop.database.sessions() as session:
        books = {b.isbn: b for b in session.scalars(sa.select(Book))}
    assert len(books) == 5
    assert books["9780141439518"].title == "Pride and Prejudice"
    assert books["9780141439518"].price == Decimal("8.99")
    listed = shop.client.get("/books", headers=shop.key("bob")).json()
    assert [b["title"] for b in listed] == [
        "Emma",
        "One Hundred Years of Solitude",
        "Pride and Prejudice",
        "The Great Gatsby",
        "To Kill a Mockingbird",
    ]

    failures = shop.client.get(f"/jobs/api/jobs/{run['id']}/failures", headers=shop.key("alice"))
    assert failures.status_code == 200
    rejected = {f["line"]: f for f in failures.json()["items"]}
    assert set(rejected) == {7, 8}
    assert "check digit" in rejected[7]["message"]
    assert rejected[8]["column"] == "Title"  # as the file names it


def test_a_reimport_updates_rows_matched_on_the_isbn(shop: Shop) -> None:
    shop.upload("alice", b"isbn,title,author,price,stock\n9780141439518,Emma,Jane Austen,7.99,1\n")
    shop.upload("alice", b"isbn,title,author,price,stock\n978-0141439518,Emma,Jane Austen,6.50,4\n")
    book = shop.client.get("/books/9780141439518", headers=shop.key("alice")).json()
    assert (book["price"], book["stock"]) == ("6.50", 4)


def test_staff_see_only_their_own_runs_and_managers_see_all(shop: Shop, books_csv: bytes) -> None:
    alices = shop.upload("alice", books_csv)["id"]
    bobs = shop.upload("bob", books_csv)["id"]

    def history(who: str) -> set[str]:
        response = shop.client.get("/jobs/api/jobs", headers=shop.key(who))
        return {run["id"] for run in response.json()["items"]}

    assert history("alice") == {alices}
    assert history("bob") == {bobs}
    assert history("mo") == {alices, bobs}
    for path in (f"/jobs/api/jobs/{alices}", f"/jobs/api/jobs/{alices}/failures"):
        assert shop.client.get(path, headers=shop.key("bob")).status_code == 404
    assert shop.client.get(f"/jobs/runs/{alices}", headers=shop.key("bob")).status_code == 404
    assert shop.client.get(f"/jobs/runs/{alices}", headers=shop.key("alice")).status_code == 200


def test_an_export_downloads_the_shops_rows(shop: Shop, books_csv: bytes) -> None:
    shop.upload("alice", books_csv)
    run = shop.export("bob", "books-export", format="csv", options={"author": "Jane Austen"})
    assert run["status"] == "completed"
    assert run["result"]["rows"] == 2
    download = shop.client.get(run["links"]["download"], headers=shop.key("bob"))
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows == [
        {
            "ISBN": "9780141439518",
            "Title": "Pride and Prejudice",
            "Author": "Jane Austen",
            "Price": "8.99",
            "Stock": "12",
        },
        {
            "ISBN": "9780199535569",
            "Title": "Emma",
            "Author": "Jane Austen",
            "Price": "7.99",
            "Stock": "0",
        },
    ]
    # The file is bob's: alice's key does not open it.
    assert shop.client.get(run["links"]["download"], headers=shop.key("alice")).status_code == 404

    xlsx = shop.export("bob", "books-export", format="xlsx", options={"in_stock": True})
    assert xlsx["result"]["rows"] == 4
    workbook = shop.client.get(xlsx["links"]["download"], headers=shop.key("bob")).content
    assert workbook[:2] == b"PK"


def test_the_till_sync_continues_after_its_cursor(shop: Shop) -> None:
    assert shop.client.post("/till/sync", headers=shop.key("alice")).status_code == 403
    first = shop.client.post("/till/sync", headers=shop.key("mo"), json={"count": 120})
    assert first.status_code == 202, first.text
    run = shop.run("mo", first.json()["id"])
    assert (run["status"], run["processed"], run["result"]["cursor"]) == ("completed", 120, 120)

    # The next day the till holds 30 more sales: only those are fetched.
    second = shop.client.post("/till/sync", headers=shop.key("mo"), json={"count": 150})
    run = shop.run("mo", second.json()["id"])
    assert (run["status"], run["processed"], run["result"]["cursor"]) == ("completed", 30, 150)
    with shop.database.sessions() as session:
        ids = session.scalars(sa.select(Sale.id).order_by(Sale.id)).all()
    assert ids == list(range(1, 151))


def test_the_sales_report_needs_the_accounts_role(shop: Shop, books_csv: bytes) -> None:
    shop.upload("alice", books_csv)
    shop.client.post("/till/sync", headers=shop.key("mo"), json={"count": 40})
    refused = shop.client.post(
        "/jobs/api/exports", headers=shop.key("alice"), json={"type": "sales-by-book"}
    )
    assert refused.status_code == 403

    run = shop.export("ann", "sales-by-book")
    assert run["status"] == "completed", run
    with shop.database.sessions() as session:
        copies, revenue = session.execute(
            sa.select(sa.func.sum(Sale.quantity), sa.func.sum(Sale.quantity * Sale.unit_price))
        ).one()
    summary = run["result"]["summary"]
    assert summary["totals"]["copies"] == copies
    assert Decimal(str(summary["totals"]["revenue"])) == Decimal(revenue).quantize(Decimal("0.01"))
    report = shop.client.get(run["links"]["download"], headers=shop.key("ann")).content
    lines = list(csv.DictReader(io.StringIO(report.decode("utf-8-sig"))))
    assert summary["rows"] == len(lines) <= 5
    assert {line["title"] for line in lines} <= {
        "Pride and Prejudice",
        "To Kill a Mockingbird",
        "Emma",
        "One Hundred Years of Solitude",
        "The Great Gatsby",
    }
