"""``install_problem_handlers(app, prefix=...)``: jobport's routes answer problem+json, the
application's own routes keep the error format they had.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from jobport import Jobport, Settings
from jobport.api import Principal, create_router, install_problem_handlers
from jobport.demo import customers
from jobport.demo.exports import customers_export_type
from jobport.errors import InputError
from jobport.registry import registry_of

PROBLEM = "application/problem+json"


def admin() -> Principal:
    return Principal("boss", is_admin=True)


def shop(engine: Jobport, *, prefix: str | None, own_handler: bool = False) -> FastAPI:
    """A host application with routes of its own, and jobport's API under /jobs/api."""
    app = FastAPI()

    @app.get("/books/{isbn}")
    def book(isbn: int) -> dict[str, int]:
        raise HTTPException(404, f"no book with ISBN {isbn}")

    @app.get("/till")
    def till() -> None:
        raise RuntimeError("the till is on fire")

    @app.get("/till/sync")
    def till_sync() -> None:
        raise InputError("the till has no new sales")  # jobport's error from the shop's route

    if own_handler:

        @app.exception_handler(HTTPException)
        async def shop_errors(request: Request, exc: HTTPException) -> JSONResponse:
            return JSONResponse({"shop_error": exc.detail}, status_code=exc.status_code)

    install_problem_handlers(app, prefix=prefix)
    app.include_router(create_router(engine, principal=admin, prefix="/jobs/api"))
    return app


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Jobport]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        storage_url=str(tmp_path / "files"),
        executor="inline",
    )
    with Jobport(settings, registry=registry_of(customers_export_type(customers))) as jobport:
        yield jobport


def test_with_a_prefix_only_jobports_routes_answer_problem_json(engine: Jobport) -> None:
    with TestClient(shop(engine, prefix="/jobs/api"), raise_server_exceptions=False) as client:
        # The shop's own routes: FastAPI's defaults, as before jobport was mounted.
        missing = client.get("/books/42")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/json"
        assert missing.json() == {"detail": "no book with ISBN 42"}
        invalid = client.get("/books/not-a-number")
        assert invalid.status_code == 422
        assert invalid.headers["content-type"] == "application/json"
        assert invalid.json()["detail"][0]["loc"] == ["path", "isbn"]
        crash = client.get("/till")
        assert (crash.status_code, crash.text) == (500, "Internal Server Error")
        # A jobport error is a problem wherever it is raised.
        refused = client.get("/till/sync")
        assert (refused.status_code, refused.headers["content-type"]) == (422, PROBLEM)
        assert refused.json()["detail"] == "the till has no new sales"

        # jobport's routes: problem+json.
        unknown = client.get("/jobs/api/jobs/no-such-run")
        assert (unknown.status_code, unknown.headers["content-type"]) == (404, PROBLEM)
        bad_body = client.post("/jobs/api/exports", json={"type": "customers-export", "x": 1})
        assert (bad_body.status_code, bad_body.headers["content-type"]) == (422, PROBLEM)
        assert bad_body.json()["errors"][0]["loc"] == ["body", "x"]
        no_route = client.get("/jobs/api/no-such-route")
        assert (no_route.status_code, no_route.headers["content-type"]) == (404, PROBLEM)


def test_the_applications_own_handlers_are_kept(engine: Jobport) -> None:
    app = shop(engine, prefix="/jobs/api", own_handler=True)
    with TestClient(app) as client:
        assert client.get("/books/7").json() == {"shop_error": "no book with ISBN 7"}
        unknown = client.get("/jobs/api/jobs/no-such-run")
        assert unknown.headers["content-type"] == PROBLEM


def test_without_a_prefix_every_error_is_a_problem(engine: Jobport) -> None:
    """A standalone jobport app, or an application that wants one error format."""
    with TestClient(shop(engine, prefix=None), raise_server_exceptions=False) as client:
        missing = client.get("/books/42")
        assert (missing.status_code, missing.headers["content-type"]) == (404, PROBLEM)
        assert missing.json()["detail"] == "no book with ISBN 42"
        crash = client.get("/till")
        assert (crash.status_code, crash.headers["content-type"]) == (500, PROBLEM)
