"""The shop's own routes still work, beside jobport, with the shop's own auth."""

from __future__ import annotations

from decimal import Decimal

from examples.bookshop.models import Book
from examples.bookshop.tests.support import Shop


def test_the_shops_own_endpoint_reads_its_own_table(shop: Shop) -> None:
    with shop.database.sessions() as session:
        session.add(
            Book(isbn="9780141439518", title="Emma", author="Jane Austen", price=Decimal("7.99"))
        )
        session.commit()
    assert shop.client.get("/books").status_code == 401
    assert shop.client.get("/books", headers={"X-API-Key": "not-a-key"}).status_code == 401
    response = shop.client.get("/books", headers=shop.key("alice"))
    assert response.status_code == 200
    assert response.json() == [
        {
            "isbn": "9780141439518",
            "title": "Emma",
            "author": "Jane Austen",
            "price": "7.99",
            "stock": 0,
        }
    ]
    assert shop.client.get("/books/0000000000000", headers=shop.key("alice")).status_code == 404


def test_the_dashboard_answers_under_the_mount_prefix_for_signed_in_staff(shop: Shop) -> None:
    # Not signed in to the shop: jobport's dashboard refuses, saying where to sign in.
    refused = shop.client.get("/jobs/")
    assert refused.status_code == 401
    assert "/login" in refused.text
    assert shop.client.post("/login", data={"key": "wrong"}).status_code == 401
    signed_in = shop.client.post("/login", data={"key": shop.keys["alice"]}, follow_redirects=False)
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/jobs/")
    page = shop.client.get("/jobs/")  # the shop's cookie is all it takes
    assert page.status_code == 200
    assert "alice" in page.text
    assert 'href="/jobs/import"' in page.text
    assert "Sign out" not in page.text  # the shop signs people in and out, not jobport
    assert shop.client.get("/jobs/static/dashboard.css").status_code == 200
    imports = shop.client.get("/jobs/import")
    assert imports.status_code == 200
    assert "Books (supplier catalogue)" in imports.text
