"""``dashboard_router(principal=...)``: the application signs users in, the dashboard follows."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient
from httpx import Response
from starlette.websockets import WebSocketDisconnect

from jobport import Jobport, Settings
from jobport.api import Principal, Unauthorized, install_problem_handlers
from jobport.demo import customers
from jobport.demo.exports import customers_export_type
from jobport.registry import registry_of
from jobport.web import SessionSigner, dashboard_router
from jobport.web.session import COOKIE_NAME

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def app_user(x_user: str | None = Header(default=None)) -> Principal:
    """The host application's own sign-in, reduced to a header naming the user."""
    if not x_user:
        raise Unauthorized("sign in to the shop first")
    return Principal(x_user, is_admin=x_user == "boss")


@contextlib.contextmanager
def shop_client(tmp_path: Path, **dashboard: Any) -> Iterator[TestClient]:
    """The host application, with jobport's dashboard under /jobs (``dashboard``: its options)."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        storage_url=str(tmp_path / "files"),
        executor="inline",
    )
    with Jobport(settings, registry=registry_of(customers_export_type(customers))) as engine:
        app = FastAPI()
        install_problem_handlers(app)
        signer = SessionSigner(b"a test secret of enough bytes")
        app.include_router(
            dashboard_router(engine, principal=app_user, signer=signer, **dashboard),
            prefix="/jobs",
        )
        with TestClient(app) as test_client:
            yield test_client


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with shop_client(tmp_path) as test_client:
        yield test_client


def _page(client: TestClient, path: str, user: str) -> tuple[str, str]:
    response = client.get(path, headers={"X-User": user})
    assert response.status_code == 200, response.text
    match = CSRF.search(response.text)
    assert match is not None
    return response.text, match.group(1)


def _start_export(client: TestClient, user: str, csrf: str) -> Response:
    """The export form's submission, as ``user`` with the form's ``csrf`` token."""
    return client.post(
        "/jobs/export/start",
        headers={"X-User": user},
        data={"csrf_token": csrf, "type": "customers-export", "format": "csv"},
        follow_redirects=False,
    )


def test_pages_use_the_applications_principal(client: TestClient) -> None:
    assert client.get("/jobs/").status_code == 401
    response = client.get("/jobs/", headers={"X-User": "alice"})
    assert response.status_code == 200
    assert "alice" in response.text
    assert "Sign out" not in response.text
    assert COOKIE_NAME in response.cookies  # carries the CSRF token
    signin = client.get("/jobs/signin", headers={"X-User": "alice"}, follow_redirects=False)
    assert (signin.status_code, signin.headers["location"]) == (303, "/jobs/")


def test_a_refused_page_goes_to_the_applications_sign_in(tmp_path: Path) -> None:
    with shop_client(tmp_path, sign_in_url="/login?from=jobs") as client:
        page = client.get("/jobs/export?format=csv", follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"] == "/login?from=jobs&next=%2Fjobs%2Fexport%3Fformat%3Dcsv"
        partial = client.get("/jobs/export", headers={"HX-Request": "true"})
        assert partial.status_code == 401
        assert partial.headers["HX-Redirect"].startswith("/login?from=jobs&next=")
        # A form sent signed out is refused, not redirected (its data would be lost).
        posted = _start_export(client, "", "no-token")
        assert posted.status_code in (401, 403)
        assert "location" not in posted.headers
        assert client.get("/jobs/", headers={"X-User": "alice"}).status_code == 200


def test_runs_started_on_the_dashboard_belong_to_the_principal(client: TestClient) -> None:
    _, csrf = _page(client, "/jobs/export", "alice")
    started = _start_export(client, "alice", csrf)
    assert started.status_code == 303, started.text
    run_page = started.headers["location"]
    assert client.get(run_page, headers={"X-User": "alice"}).status_code == 200
    assert client.get(run_page, headers={"X-User": "bob"}).status_code == 404
    assert client.get(run_page, headers={"X-User": "boss"}).status_code == 200


def test_a_session_of_another_user_is_replaced_not_trusted(client: TestClient) -> None:
    _, bobs_csrf = _page(client, "/jobs/export", "bob")  # the client now holds bob's cookie
    refused = _start_export(client, "alice", bobs_csrf)
    assert refused.status_code == 403
    assert COOKIE_NAME in refused.cookies  # a fresh session, bound to alice
    _, alices_csrf = _page(client, "/jobs/export", "alice")
    assert alices_csrf != bobs_csrf


def test_the_run_socket_uses_the_applications_principal(client: TestClient) -> None:
    _, csrf = _page(client, "/jobs/export", "alice")
    started = _start_export(client, "alice", csrf)
    socket_path = started.headers["location"] + "/ws"
    origin = {"Origin": "http://testserver"}
    with client.websocket_connect(socket_path, headers={"X-User": "alice", **origin}) as ws:
        final = ws.receive_json()  # the run finished inline: its final state, then the end
    assert (final["event"], final["status"]) == ("JobCompleted", "completed")
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(socket_path, headers={"X-User": "bob", **origin}) as ws,
    ):
        ws.receive_json()
    assert refused.value.code == 4404
