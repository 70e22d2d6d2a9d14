"""The run page's Undo button, its confirmation and the Activity list, without a browser.

The demo app (its ``customers`` type is undoable) on SQLite and the inline
executor: a run has ended when its start returns. The browser test drives the
same flow (tests/e2e/test_undo_page.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from jobport import Jobport, Settings
from jobport.api import create_user
from jobport.server import create_app

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FIRST = b"id,email,last_name,country\n1,ada@example.com,Lovelace,GB\n2,bob@example.com,Babbage,GB\n"
SECOND = b"id,email,last_name,country\n2,robert@example.com,Babbage,GB\n3,cy@example.com,Cyrus,FR\n"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Any]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        storage_url=str(tmp_path / "files"),
        app="jobport.demo",
        executor="inline",
    )
    engine = Jobport(settings)
    tokens = {name: create_user(engine.store, name)[1] for name in ("alice", "bob")}
    with TestClient(create_app(engine), base_url="https://dashboard.test") as client:
        client.tokens = tokens  # type: ignore[attr-defined]
        client.engine = engine  # type: ignore[attr-defined]
        yield client
    engine.close()


def sign_in(client: Any, user: str) -> str:
    csrf = CSRF.search(client.get("/signin").text)
    assert csrf is not None
    form = {"csrf_token": csrf.group(1), "token": client.tokens[user], "next": "/"}
    assert client.post("/signin", data=form, follow_redirects=False).status_code == 303
    token = CSRF.search(client.get("/history").text)
    assert token is not None
    return token.group(1)


def upload(client: Any, content: bytes, user: str = "alice") -> str:
    response = client.post(
        "/api/imports/customers",
        headers={"Authorization": f"Bearer {client.tokens[user]}"},
        files={"file": ("customers.csv", content, "text/csv")},
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def table(client: Any) -> list[tuple[Any, ...]]:
    with client.engine.database.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql("SELECT * FROM customers ORDER BY id")]


def test_undo_from_the_run_page_through_its_confirmation(site: Any) -> None:
    csrf = sign_in(site, "alice")
    first = upload(site, FIRST)
    before = table(site)
    second = upload(site, SECOND)
    assert table(site) != before

    page = site.get(f"/runs/{second}").text
    assert 'id="undo-run"' in page
    assert "Undo this import" in page
    assert re.search(
        r"<td data-label=\"From\">api</td><td data-label=\"What\">started the import", page
    )
    # The first import was followed by the second over row 2: its confirmation says so.
    confirm_first = site.get(f"/runs/{first}/undo").text
    assert 'id="undo-later"' in confirm_first
    assert second[:8] in confirm_first

    confirm = site.get(f"/runs/{second}/undo")
    assert confirm.status_code == 200
    assert re.search(r'id="undo-restored">1<', confirm.text)
    assert re.search(r'id="undo-deleted">1<', confirm.text)
    assert 'name="force" value="true"' in confirm.text

    url = f"/runs/{second}/undo/start"
    assert site.post(url, data={}, follow_redirects=False).status_code == 403  # no CSRF token
    assert table(site) != before
    done = site.post(url, data={"csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303
    undo_run = done.headers["location"].rsplit("/", 1)[1]
    assert undo_run != second
    assert table(site) == before

    page = site.get(f"/runs/{second}").text
    assert 'id="undo-run"' not in page
    assert re.search(r'id="undo-refusal">[^<]*undone already', page)
    assert re.search(
        r"<td data-label=\"Who\">alice</td><td data-label=\"From\">dashboard</td>"
        r"<td data-label=\"What\">undid it — undo run <a href=\"/runs/" + undo_run,
        page,
    )
    refused = site.get(f"/runs/{second}/undo")
    assert refused.status_code == 409
    assert "undone already" in refused.text
    # The undo can be undone in turn (a redo), from its own page.
    assert "Undo this undo (redo)" in site.get(f"/runs/{undo_run}").text


def test_undo_is_offered_only_where_it_can_be(site: Any) -> None:
    sign_in(site, "alice")
    sign_in(site, "bob")  # the last sign-in is the client's session
    run = upload(site, FIRST, user="alice")
    assert site.get(f"/runs/{run}/undo").status_code == 404  # another user's run
    bob_run = upload(site, FIRST, user="bob")  # changes nothing: the rows are there
    page = site.get(f"/runs/{bob_run}").text
    assert re.search(r'id="undo-refusal">[^<]*changed no rows', page)
    assert "Nothing recorded" not in page
