"""The API's routers: module-level handlers that reach their router's state through
dependencies, so two routers mounted in one application never mix their callers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient

from jobport import Jobport, Settings
from jobport.api import Principal, create_router, install_problem_handlers
from jobport.api.routers import ROUTERS
from jobport.demo import customers
from jobport.demo.exports import customers_export_type
from jobport.registry import registry_of


def clerk() -> Principal:
    return Principal("clerk")


def manager() -> Principal:
    return Principal("manager")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Jobport]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        storage_url=str(tmp_path / "files"),
        executor="inline",
    )
    with Jobport(settings, registry=registry_of(customers_export_type(customers))) as jobport:
        yield jobport


def test_every_route_is_a_module_level_handler_of_a_resource_router(engine: Jobport) -> None:
    routes = [
        route
        for router, _ in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute | APIWebSocketRoute)
    ]
    for endpoint in (route.endpoint for route in routes):
        assert endpoint.__module__.startswith("jobport.api.routers."), endpoint
        assert endpoint.__qualname__ == endpoint.__name__, endpoint  # not nested in a factory
    # create_router serves those and no others (the WebSocket is not in OpenAPI).
    app = FastAPI()
    app.include_router(create_router(engine, principal=clerk))
    operations = [op for item in app.openapi()["paths"].values() for op in item.values()]
    assert sorted(op["operationId"].split("_api_")[0] for op in operations) == sorted(
        route.name for route in routes if isinstance(route, APIRoute)
    )


def test_two_routers_in_one_app_each_answer_for_their_own_caller(engine: Jobport) -> None:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(create_router(engine, principal=clerk, prefix="/clerk"))
    app.include_router(create_router(engine, principal=manager, prefix="/manager"))
    with TestClient(app) as client:
        started = {}
        for who in ("clerk", "manager"):
            response = client.post(f"/{who}/exports", json={"type": "customers-export"})
            assert response.status_code == 202, response.text
            assert response.json()["owner"] == who
            started[who] = response.json()["id"]

        assert client.get(f"/clerk/jobs/{started['clerk']}").status_code == 200
        assert client.get(f"/clerk/jobs/{started['manager']}").status_code == 404
        assert client.get(f"/manager/jobs/{started['clerk']}").status_code == 404
        listed = client.get("/manager/jobs").json()
        assert [run["id"] for run in listed["items"]] == [started["manager"]]
