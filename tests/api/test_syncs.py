"""Starting syncs over HTTP: ``POST /api/syncs`` on the demo's ``orders`` sync.

The engine runs inline, so a run has finished when its 202 answers; the
tests still read it back through ``GET /api/jobs/{id}`` as a client would.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import sqlalchemy as sa
from tests.api.conftest import Api, MakeApi

from jobport import JobRegistry
from jobport.demo import registry as demo_registry
from jobport.demo.sync_source import Order, order, orders, orders_sync_type


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["detail"]
    return body


def _invalid(count: int, seed: int = 7) -> set[int]:
    """Ids of the demo API's orders that its row model refuses (a few, on purpose)."""
    bad = set()
    for order_id in range(1, count + 1):
        try:
            Order.model_validate(order(seed, order_id))
        except ValueError:
            bad.add(order_id)
    return bad


def _order_ids(api: Api) -> set[int]:
    with api.engine.database.connect() as conn:
        return set(conn.execute(sa.select(orders.c.id)).scalars())


@pytest.fixture
def api(make_api: MakeApi) -> Api:
    """The demo's types, plus a copy of ``orders`` that only the role ``stock`` may start."""
    registry = JobRegistry()
    registry.extend(demo_registry)
    registry.add(
        dataclasses.replace(
            orders_sync_type(), type="orders-restricted", roles=frozenset({"stock"})
        )
    )
    return make_api(app=None, registry=registry)


def _sync(api: Api, user: str = "alice", **body: Any) -> Any:
    return api.client.post("/api/syncs", headers=api.auth(user), json=body)


def _finished(api: Api, response: Any) -> dict[str, Any]:
    """The run a 202 answered with, read back once it has finished."""
    assert response.status_code == 202, response.text
    started = response.json()
    assert response.headers["location"] == f"/api/jobs/{started['id']}"
    run = api.run_json(started["id"])
    assert run["status"] in ("completed", "completed_with_errors"), run
    return run


def test_a_sync_starts_continues_from_its_cursor_and_starts_over_when_full(api: Api) -> None:
    bad = _invalid(2500)
    assert bad, "the demo source holds a few invalid orders"

    first = _finished(api, _sync(api, type="orders", options={"count": 2500}))
    assert (first["type"], first["kind"], first["owner"]) == ("orders", "sync", "alice")
    assert first["options"] == {"count": 2500, "seed": 7}
    assert first["chunks_total"] == 3  # pages of 1,000 orders
    assert (first["total"], first["processed"], first["failed"]) == (2500, 2500, len(bad))
    assert _order_ids(api) == set(range(1, 2501)) - bad
    failures = api.client.get(
        f"/api/jobs/{first['id']}/failures?limit=1000", headers=api.auth()
    ).json()
    assert {item["line"] for item in failures["items"]} == bad

    # Nothing is new at the source: the next sync continues after the stored cursor.
    again = _finished(api, _sync(api, type="orders", options={"count": 2500}))
    assert (again["status"], again["chunks_total"], again["processed"]) == ("completed", 0, 0)

    # The source grew: only the new orders are fetched.
    grown = _finished(api, _sync(api, type="orders", options={"count": 3200}))
    assert (grown["chunks_total"], grown["processed"]) == (1, 700)
    assert _order_ids(api) == set(range(1, 3201)) - _invalid(3200)
    assert api.run_json(first["id"])["processed"] == 2500  # earlier runs are left as they were

    # full: true ignores the cursor and reads every page again.
    full = _finished(api, _sync(api, type="orders", options={"count": 3200}, full=True))
    assert (full["chunks_total"], full["processed"]) == (4, 3200)
    assert full["failed"] == len(_invalid(3200))
    assert _order_ids(api) == set(range(1, 3201)) - _invalid(3200)


def test_a_type_of_another_kind_is_refused_naming_the_sync_types(api: Api) -> None:
    for type_, kind, route in (
        ("customers", "an import", "/api/imports/customers"),
        ("customers-export", "an export", "/api/exports"),
        ("sales-report", "a report", "/api/exports"),
    ):
        body = _problem(_sync(api, type=type_), 422)
        assert body["detail"] == (
            f"'{type_}' is {kind} type, not a sync; sync types: orders, orders-restricted; "
            f"start '{type_}' with POST {route}"
        )
    unknown = _problem(_sync(api, type="ordres"), 404)
    assert unknown["title"] == "Unknown job type"
    assert api.client.get("/api/jobs", headers=api.auth()).json()["total"] == 0


def test_the_import_and_export_routes_point_a_sync_type_to_its_route(api: Api) -> None:
    export = _problem(
        api.client.post("/api/exports", headers=api.auth(), json={"type": "orders"}), 422
    )
    assert export["detail"] == (
        "'orders' is a sync type, not an export or report; "
        "types that make a file: customers-export, sales-report; "
        "start 'orders' with POST /api/syncs"
    )
    upload = api.client.post(
        "/api/imports/orders", headers=api.auth(), files={"file": ("o.csv", b"id\n1\n")}
    )
    assert _problem(upload, 422)["detail"] == (
        "'orders' is a sync type, not an import; start it with POST /api/syncs"
    )


def test_a_user_without_the_types_role_is_refused(api: Api) -> None:
    body = _problem(_sync(api, user="alice", type="orders-restricted"), 403)
    assert body["detail"] == "job type 'orders-restricted' needs one of the roles: stock"
    assert api.client.get("/api/jobs", headers=api.auth("admin")).json()["total"] == 0
    for user in ("stocker", "admin"):
        run = _finished(api, _sync(api, user=user, type="orders-restricted"))
        assert run["owner"] == user


def test_unknown_fields_and_invalid_options_are_refused(api: Api) -> None:
    typo = _problem(_sync(api, type="orders", fulll=True), 422)
    assert any(error["loc"][-1] == "fulll" for error in typo["errors"])
    _problem(api.client.post("/api/syncs", headers=api.auth(), json={"full": True}), 422)
    _problem(_sync(api, type="orders", full="sometimes"), 422)
    options = _problem(_sync(api, type="orders", options={"colour": "red"}), 422)
    assert "colour" in options["detail"]
    assert api.client.get("/api/jobs", headers=api.auth()).json()["total"] == 0


def test_openapi_documents_the_sync_route(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    route = spec["paths"]["/api/syncs"]["post"]
    assert route["summary"] == "Start a sync"
    assert {"202", "401", "403", "404", "422"} <= set(route["responses"])
    assert "application/problem+json" in route["responses"]["403"]["content"]
    ref = route["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(body["properties"]) == {"type", "options", "full"}
    assert body["additionalProperties"] is False
    assert body["required"] == ["type"]
