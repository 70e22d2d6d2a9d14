"""The review grid's dashboard pages without a browser: forms, htmx answers, CSRF, 404s.

SQLite and the inline executor, the ``tickets`` type of ``tests.apps.tickets``:
an import has ended when its start returns. The browser test drives the same
flow with the keyboard (tests/e2e/test_review_grid.py).
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
TICKETS = (
    b'code,title,amount,day\n1,Alpha,1,2024-01-01\n2,,2,2024-01-02\n3,Gamma,"3,5",2024-01-03\n'
)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Any]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        storage_url=str(tmp_path / "files"),
        app="tests.apps.tickets",
        executor="inline",
    )
    engine = Jobport(settings)
    tokens = {name: create_user(engine.store, name)[1] for name in ("alice", "bob")}
    with TestClient(create_app(engine), base_url="https://dashboard.test") as client:
        client.tokens = tokens
        yield client
    engine.close()


def sign_in(client: Any, user: str) -> str:
    """Sign ``user`` in through the form; returns the session's CSRF token."""
    csrf = CSRF.search(client.get("/signin").text)
    assert csrf is not None
    form = {"csrf_token": csrf.group(1), "token": client.tokens[user], "next": "/"}
    assert client.post("/signin", data=form, follow_redirects=False).status_code == 303
    token = CSRF.search(client.get("/history").text)
    assert token is not None
    return token.group(1)


def start_run(client: Any, user: str = "alice") -> str:
    response = client.post(
        "/api/imports/tickets",
        headers={"Authorization": f"Bearer {client.tokens[user]}"},
        files={"file": ("tickets.csv", TICKETS, "text/csv")},
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def row_ids(page: str) -> list[str]:
    return re.findall(r'<tr id="r-(\d+)"', page)


def test_the_grid_edits_rows_with_htmx_and_plain_forms(site: Any) -> None:
    csrf = sign_in(site, "alice")
    run_id = start_run(site)
    summary = site.get(f"/runs/{run_id}/review/summary").text
    assert "Review 2 rejected rows" in summary
    assert 'id="review-summary"' in site.get(f"/runs/{run_id}").text

    grid = site.get(f"/runs/{run_id}/review")
    assert grid.status_code == 200
    first, second = row_ids(grid.text)
    # The failing cell is marked, labelled and described by its message.
    assert re.search(
        r'aria-label="title, line 3" aria-invalid="true" aria-describedby="m-', grid.text
    )
    assert 'class="cell-message"' in grid.text
    assert row_ids(site.get(f"/runs/{run_id}/review?column=amount").text) == [second]

    # htmx: the row comes back validated, with the counts and the status line out of band.
    url = f"/runs/{run_id}/review/rows/{first}"
    htmx = {"HX-Request": "true", "X-CSRF-Token": csrf}
    saved = site.post(url, data={"cell.title": "Beta"}, headers=htmx)
    assert saved.status_code == 200
    assert 'class="grid-row state-fixed"' in saved.text
    assert 'id="review-counts" class="review-counts" hx-swap-oob="true"' in saved.text
    assert "Line 3 fixed." in saved.text
    still = site.post(
        f"/runs/{run_id}/review/rows/{second}", data={"cell.amount": "x"}, headers=htmx
    )
    assert "Line 4 still fails: amount:" in still.text

    # Without the CSRF token nothing is saved.
    refused = site.post(url, data={"cell.title": "Nope"}, headers={"HX-Request": "true"})
    assert refused.status_code == 403

    # A plain form (no script): saved, then back to the same view of the grid.
    plain = site.post(
        f"/runs/{run_id}/review/rows/{second}",
        data={"csrf_token": csrf, "cell.amount": "3.5", "back": "?column=amount"},
        follow_redirects=False,
    )
    assert plain.status_code == 303
    assert plain.headers["location"] == f"/runs/{run_id}/review?column=amount"
    assert "Import the 2 fixed rows" in site.get(f"/runs/{run_id}/review").text


def test_bulk_fix_preview_apply_discard_and_import(site: Any) -> None:
    csrf = sign_in(site, "alice")
    run_id = start_run(site)
    form = {"csrf_token": csrf, "column": "amount", "op": "decimal_comma", "action": "preview"}

    preview = site.post(f"/runs/{run_id}/review/bulk", data=form)
    assert preview.status_code == 200
    assert re.search(r"changes <strong>1</strong> of the 2 rows in view", preview.text)
    assert 'name="action" value="apply"' in preview.text
    applied = site.post(
        f"/runs/{run_id}/review/bulk", data={**form, "action": "apply"}, follow_redirects=False
    )
    assert applied.headers["location"] == f"/runs/{run_id}/review?applied=1"
    assert "The bulk fix changed 1 row." in site.get(applied.headers["location"]).text

    bad = site.post(
        f"/runs/{run_id}/review/bulk",
        data={**form, "op": "replace", "find": "(", "regex": "true"},
        headers={"HX-Request": "true", "X-CSRF-Token": csrf},
    )
    assert "the regular expression is invalid" in bad.text

    discarded = site.post(f"/runs/{run_id}/review/discard", data={"csrf_token": csrf})
    assert "Your edits of 1 row were discarded." in discarded.text

    site.post(f"/runs/{run_id}/review/bulk", data={**form, "action": "apply"})
    started = site.post(
        f"/runs/{run_id}/review/import", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert started.status_code == 303
    fix_run = started.headers["location"].rsplit("/", 1)[1]
    assert fix_run != run_id
    summary = site.get(f"/runs/{run_id}/review/summary").text
    assert re.search(r"<strong>1</strong> row \(line 4\) imported by", summary)
    assert f"/runs/{fix_run}" in summary


def test_another_users_grid_answers_404(site: Any) -> None:
    run_id = start_run(site, "bob")
    csrf = sign_in(site, "alice")
    assert site.get(f"/runs/{run_id}/review").status_code == 404
    assert site.get(f"/runs/{run_id}/review/summary").status_code == 404
    posted = site.post(f"/runs/{run_id}/review/import", data={"csrf_token": csrf})
    assert posted.status_code == 404
