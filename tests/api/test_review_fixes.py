"""The review grid through the API: rejected rows listed, fixed, bulk-fixed and imported again.

Inline executor and SQLite: a run has ended when the request that started it
returns. The type is ``tests.apps.tickets`` (text, a decimal, a date).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.api.conftest import Api
from tests.apps import tickets

from jobport import Jobport, Settings
from jobport.api import create_user
from jobport.fixes import bulk
from jobport.server import create_app

TICKETS = b"""code,title,amount,day
1,Alpha,10.50,2024-01-02
2,,3.20,2024-01-03
3,Gamma,"1.234,50",2024-01-04
4,Delta,7,31/12/2024
5,Epsilon,"2,5",02/01/2024
6,Zeta,1,2024-01-01
7,Eta,abc,2024-01-01
"""
#: The lines of TICKETS the run rejects.
REJECTED = [3, 4, 5, 6, 7, 8]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One engine and app for the module (each test imports a run of its own: edits are
    per run, so tests never see each other's)."""
    folder = tmp_path_factory.mktemp("review")
    settings = Settings(
        database_url=f"sqlite:///{folder / 's.db'}",
        storage_url=str(folder / "files"),
        executor="inline",
        app="tests.apps.tickets",
    )
    with Jobport(settings) as engine, TestClient(create_app(engine)) as client:
        tokens = {
            name: create_user(engine.store, name, is_admin=name == "admin")[1]
            for name in ("alice", "bob", "admin")
        }
        yield Api(engine, client, tokens)


@pytest.fixture(autouse=True)
def refused_titles() -> Iterator[None]:
    tickets.REFUSED.clear()
    tickets.REFUSED.add("Zeta")
    yield
    tickets.REFUSED.clear()


@pytest.fixture
def run_id(api: Api) -> str:
    started = api.upload("tickets", TICKETS, filename="tickets.csv")
    assert started.status_code == 202, started.text
    run = api.run_json(started.json()["id"])
    assert (run["status"], run["processed"], run["failed"]) == ("completed_with_errors", 7, 6)
    return str(run["id"])


def rows(api: Api, run_id: str, user: str = "alice", **query: Any) -> dict[str, Any]:
    response = api.client.get(
        f"/api/jobs/{run_id}/review/rows", params=query, headers=api.auth(user)
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def row_at(api: Api, run_id: str, line: int) -> dict[str, Any]:
    return next(r for r in rows(api, run_id)["items"] if r["line"] == line)


def patch(api: Api, run_id: str, row: dict[str, Any], body: dict[str, Any]) -> Any:
    return api.client.patch(
        f"/api/jobs/{run_id}/review/rows/{row['id']}", json=body, headers=api.auth()
    )


def bulk_fix(api: Api, run_id: str, body: dict[str, Any], *, preview: bool) -> Any:
    return api.client.post(
        f"/api/jobs/{run_id}/review/bulk",
        params={"preview": str(preview).lower()},
        json=body,
        headers=api.auth(),
    )


def test_rows_are_listed_in_line_order_with_their_filters(api: Api, run_id: str) -> None:
    listed = rows(api, run_id)
    assert [r["line"] for r in listed["items"]] == REJECTED
    assert listed["columns"] == ["code", "title", "amount", "day"]
    assert listed["counts"] == {"fixed": 0, "invalid": 0, "dropped": 0, "imported": 0}
    first = listed["items"][0]
    assert first["values"] == {"code": "2", "title": "", "amount": "3.20", "day": "2024-01-03"}
    assert [e["column"] for e in first["errors"]] == ["title"]

    # "errors in column X" finds a row failing in several columns too (line 6).
    assert [r["line"] for r in rows(api, run_id, column="amount")["items"]] == [4, 6, 8]
    assert [r["line"] for r in rows(api, run_id, column="day")["items"]] == [5, 6]
    assert [r["line"] for r in rows(api, run_id, contains="NOT ALLOWED")["items"]] == [7]
    assert [r["line"] for r in rows(api, run_id, order="-line", limit=2)["items"]] == [8, 7]
    paged = rows(api, run_id, limit=2, offset=2)
    assert ([r["line"] for r in paged["items"]], paged["total"]) == ([5, 6], 6)


def test_an_edit_is_validated_with_the_runs_messages_and_kept(api: Api, run_id: str) -> None:
    line = row_at(api, run_id, 7)
    run_message = line["errors"][0]["message"]

    still = patch(api, run_id, line, {"values": {"title": "Zeta"}})
    assert still.status_code == 200, still.text
    assert still.json()["valid"] is False
    assert still.json()["state"] == "open"
    assert still.json()["errors"] == [{"column": "title", "message": run_message}]

    worse = patch(api, run_id, line, {"values": {"title": "Z", "amount": "lots"}}).json()
    assert worse["valid"] is False
    assert [e["column"] for e in worse["errors"]] == ["amount"]
    assert worse["edited"] == ["title", "amount"]

    fixed = patch(api, run_id, line, {"values": {"amount": "1"}}).json()
    assert (fixed["valid"], fixed["state"], fixed["errors"]) == (True, "fixed", [])
    assert fixed["edited"] == ["title"]  # amount is back to what the file said
    assert fixed["original"]["title"] == "Zeta"

    # Kept on the server: a new read (a reload) shows the edit.
    again = api.client.get(f"/api/jobs/{run_id}/review/rows/{line['id']}", headers=api.auth())
    assert again.json()["values"]["title"] == "Z"
    assert rows(api, run_id)["counts"]["fixed"] == 1
    assert [r["line"] for r in rows(api, run_id, state="fixed")["items"]] == [7]
    assert 7 not in [r["line"] for r in rows(api, run_id, state="open")["items"]]


def test_a_row_is_dropped_and_restored_and_edits_are_discarded(api: Api, run_id: str) -> None:
    line = row_at(api, run_id, 3)
    assert patch(api, run_id, line, {"dropped": True}).json()["state"] == "dropped"
    assert patch(api, run_id, line, {"values": {"title": "Beta"}}).json()["state"] == "dropped"
    assert patch(api, run_id, line, {"dropped": False}).json()["state"] == "fixed"

    unknown = patch(api, run_id, line, {"values": {"nope": "1"}})
    assert unknown.status_code == 422
    assert "not a column" in unknown.json()["detail"]

    discarded = api.client.delete(f"/api/jobs/{run_id}/review/edits", headers=api.auth())
    assert discarded.json() == {"discarded": 1}
    assert row_at(api, run_id, 3)["state"] == "open"
    assert row_at(api, run_id, 3)["values"]["title"] == ""


def test_bulk_fixes_preview_then_apply(api: Api, run_id: str) -> None:
    comma = {"column": "amount", "op": "decimal_comma", "where": {"column": "amount"}}
    preview = bulk_fix(api, run_id, comma, preview=True)
    assert preview.status_code == 200, preview.text
    # Lines 4 and 6 change; line 6 still has a bad date, so only line 4 then passes.
    assert preview.json() == {"rows": 3, "changed": 2, "valid": 1, "applied": False}
    assert rows(api, run_id)["counts"] == {"fixed": 0, "invalid": 0, "dropped": 0, "imported": 0}

    assert bulk_fix(api, run_id, comma, preview=False).json()["applied"] is True
    assert row_at(api, run_id, 4)["values"]["amount"] == "1234.50"
    assert row_at(api, run_id, 6)["values"]["amount"] == "2.5"

    dates = {"column": "day", "op": "date_format", "date_format": "%d/%m/%Y"}
    assert bulk_fix(api, run_id, dates, preview=False).json()["changed"] == 2
    assert row_at(api, run_id, 6)["state"] == "fixed"
    assert row_at(api, run_id, 5)["values"]["day"] == "2024-12-31"

    regex = {
        "column": "amount",
        "op": "replace",
        "find": "^([a-z]+)$",
        "replace": "0",
        "regex": True,
    }
    assert bulk_fix(api, run_id, regex, preview=False).json()["changed"] == 1
    assert row_at(api, run_id, 8)["values"]["amount"] == "0"

    title = {"column": "title", "op": "set", "value": "Untitled", "where": {"state": "open"}}
    assert bulk_fix(api, run_id, title, preview=True).json()["changed"] == 2  # lines 3, 7
    assert rows(api, run_id)["counts"]["fixed"] == 4


def test_bulk_fixes_refuse_costly_or_broken_expressions(
    api: Api, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = row_at(api, run_id, 3)
    assert patch(api, run_id, line, {"values": {"title": "x" * 5000}}).status_code == 200
    monkeypatch.setattr(bulk, "REGEX_SECONDS", 0.1)
    slow = {"column": "title", "op": "replace", "find": "(x+x+)+y", "replace": "", "regex": True}
    started = time.monotonic()
    refused = bulk_fix(api, run_id, slow, preview=False)
    assert refused.status_code == 422
    assert "was stopped" in refused.json()["detail"]
    assert time.monotonic() - started < 5
    assert row_at(api, run_id, 3)["values"]["title"] == "x" * 5000

    for find, said in (("(", "invalid"), ("x*", "empty text")):
        broken = {"column": "title", "op": "replace", "find": find, "regex": True}
        answer = bulk_fix(api, run_id, broken, preview=True)
        assert answer.status_code == 422, answer.text
        assert said in answer.json()["detail"]
    long = {"column": "title", "op": "replace", "find": "x" * 201}
    assert bulk_fix(api, run_id, long, preview=True).status_code == 422


def test_fixes_import_as_a_linked_run_whose_failures_name_the_original_lines(
    api: Api, run_id: str
) -> None:
    for line, values in ((3, {"title": "Beta"}), (7, {"title": "Later"}), (8, {"amount": "9"})):
        assert patch(api, run_id, row_at(api, run_id, line), {"values": values}).json()["valid"]
    patch(api, run_id, row_at(api, run_id, 4), {"dropped": True})
    tickets.REFUSED.add("Later")  # the rule changed after line 7 was fixed

    started = api.client.post(f"/api/jobs/{run_id}/review/import", headers=api.auth())
    assert started.status_code == 202, started.text
    fix_run = api.run_json(started.json()["id"])
    assert started.headers["location"].endswith(fix_run["id"])
    assert fix_run["retry_of"] == run_id
    assert (fix_run["processed"], fix_run["failed"]) == (3, 1)
    assert fix_run["warnings"] == []  # the original-line column is ignored on purpose

    with api.engine.database.connect() as conn:
        written = conn.execute(sa.select(tickets.tickets.c.code, tickets.tickets.c.title)).all()
    assert sorted(written) == [(1, "Alpha"), (2, "Beta"), (7, "Eta")]
    refused = rows(api, fix_run["id"])["items"]
    assert [(r["line"], r["original_line"]) for r in refused] == [(3, 7)]
    assert refused[0]["values"]["title"] == "Later"

    states = {r["line"]: r["state"] for r in rows(api, run_id)["items"]}
    assert states == {
        3: "imported",
        4: "dropped",
        5: "open",
        6: "open",
        7: "imported",
        8: "imported",
    }
    assert api.run_json(run_id)["retried_by"] == [fix_run["id"]]
    assert patch(api, run_id, row_at(api, run_id, 3), {"values": {"title": "B"}}).status_code == 409
    again = api.client.post(f"/api/jobs/{run_id}/review/import", headers=api.auth())
    assert again.status_code == 422
    assert "no fixed row" in again.json()["detail"]


def test_another_users_run_answers_404_everywhere(api: Api, run_id: str) -> None:
    failure = rows(api, run_id)["items"][0]["id"]
    base = f"/api/jobs/{run_id}/review"
    bob = api.auth("bob")
    client = api.client
    answers = [
        client.get(f"{base}/rows", headers=bob),
        client.get(f"{base}/rows/{failure}", headers=bob),
        client.patch(f"{base}/rows/{failure}", json={"values": {"title": "x"}}, headers=bob),
        client.post(f"{base}/bulk", json={"column": "title", "op": "trim"}, headers=bob),
        client.delete(f"{base}/edits", headers=bob),
        client.post(f"{base}/import", headers=bob),
    ]
    assert [a.status_code for a in answers] == [404] * 6
    assert {a.json()["detail"] for a in answers} == {f"no run with id '{run_id}'"}
    # A failure of another run is no row of this one.
    assert client.get(f"{base}/rows/999999", headers=api.auth()).status_code == 404
    # The admin sees the run; edits are per user, so alice's are not the admin's.
    patch(api, run_id, rows(api, run_id)["items"][0], {"values": {"title": "Mine"}})
    assert rows(api, run_id, user="admin")["counts"]["fixed"] == 0


def test_the_review_endpoints_are_documented(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    review = {p: sorted(paths[p]) for p in paths if "/review" in p}
    assert review == {
        "/api/jobs/{run_id}/review/bulk": ["post"],
        "/api/jobs/{run_id}/review/edits": ["delete"],
        "/api/jobs/{run_id}/review/import": ["post"],
        "/api/jobs/{run_id}/review/rows": ["get"],
        "/api/jobs/{run_id}/review/rows/{failure_id}": ["get", "patch"],
    }
    bulk_params = paths["/api/jobs/{run_id}/review/bulk"]["post"]["parameters"]
    assert "preview" in {p["name"] for p in bulk_params}
