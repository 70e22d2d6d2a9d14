"""Authentication and ownership: who may see, stream, download and act on which run."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse
from tests.api.conftest import Api, MakeApi, items_csv

from jobport.api import Principal, create_router, hash_token, install_problem_handlers


def _problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    assert body["detail"]
    return body


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YWxpY2U6eA=="}],
    ids=["none", "unknown-token", "other-scheme"],
)
def test_requests_without_a_valid_token_get_401_with_a_bearer_challenge(
    api: Api, headers: dict[str, str]
) -> None:
    for method, path in [
        ("GET", "/api/job-types"),
        ("GET", "/api/jobs"),
        ("GET", "/api/jobs/x"),
        ("GET", "/api/exports"),
        ("POST", "/api/exports"),
        ("POST", "/api/syncs"),
        ("POST", "/api/jobs/x/cancel"),
    ]:
        response = api.client.request(method, path, headers=headers)
        body = _problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
        assert body["title"] == "Unauthorized"


def test_a_token_is_stored_hashed_and_works_as_a_bearer(api: Api) -> None:
    token = api.tokens["alice"]
    user = api.engine.store.user_by_token_hash(hash_token(token))
    assert user is not None
    assert user.name == "alice"
    assert api.engine.store.user_by_token_hash(token) is None
    assert api.client.get("/api/jobs", headers=api.auth("alice")).status_code == 200


def test_health_needs_no_token(api: Api) -> None:
    assert api.client.get("/api/health").json() == {"status": "ok", "database": "not checked"}
    assert api.client.get("/api/health/ready").json() == {"status": "ok", "database": "ok"}


@pytest.mark.postgres  # probes a PostgreSQL URL: needs psycopg, the postgres extra
def test_readiness_says_503_while_the_database_does_not_answer(api: Api) -> None:
    from jobport.store import make_engine

    reachable = api.engine.store.engine
    # Nothing listens on port 1: the same probe, against a database that cannot be reached.
    api.engine.store.engine = make_engine("postgresql://postgres@127.0.0.1:1/none")
    try:
        problem = _problem(api.client.get("/api/health/ready"), 503)
        assert problem["detail"] == "the state database does not answer: OperationalError"
        assert api.client.get("/api/health").json()["status"] == "ok"  # liveness unaffected
    finally:
        api.engine.store.engine.dispose()
        api.engine.store.engine = reachable
    assert api.client.get("/api/health/ready").json() == {"status": "ok", "database": "ok"}


def test_another_users_run_is_answered_exactly_like_a_missing_one(api: Api) -> None:
    run = api.upload("items", items_csv(30, bad_every=10), user="alice").json()
    missing = "00000000-0000-0000-0000-000000000000"
    for path in [
        "/api/jobs/{id}",
        "/api/jobs/{id}/failures",
        "/api/jobs/{id}/failures?format=csv",
        "/api/jobs/{id}/events",
        "/api/exports/{id}/download",
    ]:
        theirs = api.client.get(path.format(id=run["id"]), headers=api.auth("bob"))
        nothing = api.client.get(path.format(id=missing), headers=api.auth("bob"))
        body = _problem(theirs, 404)
        assert body["detail"] == f"no run with id '{run['id']}'"
        assert {k: v for k, v in body.items() if k not in ("detail", "instance")} == {
            k: v for k, v in _problem(nothing, 404).items() if k not in ("detail", "instance")
        }
    for action in ("cancel", "retry", "resume"):
        _problem(api.client.post(f"/api/jobs/{run['id']}/{action}", headers=api.auth("bob")), 404)
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        api.client.websocket_connect(f"/api/jobs/{run['id']}/ws", headers=api.auth("bob")),
    ):
        pass
    assert denied.value.status_code == 404
    # The owner and an admin see it.
    assert api.client.get(f"/api/jobs/{run['id']}", headers=api.auth("alice")).status_code == 200
    assert api.client.get(f"/api/jobs/{run['id']}", headers=api.auth("admin")).status_code == 200


def test_history_shows_a_user_their_own_runs_and_an_admin_every_run(api: Api) -> None:
    mine = api.upload("items", items_csv(5), user="alice").json()
    theirs = api.upload("items", items_csv(5), user="bob").json()
    alice = api.client.get("/api/jobs", headers=api.auth("alice")).json()
    assert [item["id"] for item in alice["items"]] == [mine["id"]]
    assert alice["items"][0]["owner"] == "alice"
    admin = api.client.get("/api/jobs", headers=api.auth("admin")).json()
    assert {item["id"] for item in admin["items"]} == {mine["id"], theirs["id"]}
    only_bob = api.client.get("/api/jobs?owner=bob", headers=api.auth("admin")).json()
    assert [item["id"] for item in only_bob["items"]] == [theirs["id"]]
    # Filtering by another owner is for admins; by oneself is harmless.
    _problem(api.client.get("/api/jobs?owner=bob", headers=api.auth("alice")), 403)
    assert api.client.get("/api/jobs?owner=alice", headers=api.auth("alice")).status_code == 200


def test_websocket_and_sse_accept_the_token_as_a_query_parameter(api: Api) -> None:
    run = api.upload("items", items_csv(5)).json()
    token = api.tokens["alice"]
    with api.client.websocket_connect(f"/api/jobs/{run['id']}/ws?access_token={token}") as ws:
        assert ws.receive_json()["event"] == "JobCompleted"
    with api.client.stream("GET", f"/api/jobs/{run['id']}/events?access_token={token}") as sse:
        assert sse.status_code == 200
    # Elsewhere the query parameter is not a credential (tokens stay out of access logs).
    _problem(api.client.get(f"/api/jobs/{run['id']}?access_token={token}"), 401)
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        api.client.websocket_connect(f"/api/jobs/{run['id']}/ws"),
    ):
        pass
    assert denied.value.status_code == 401


def test_a_type_restricted_to_roles_is_refused_to_others_before_the_upload_is_read(
    api: Api,
) -> None:
    body = _problem(api.upload("items-restricted", items_csv(5), user="alice"), 403)
    assert "stock" in str(body["detail"])
    assert not list(api.engine.files.fs.find(api.engine.files.root))
    assert api.upload("items-restricted", items_csv(5), user="stocker").status_code == 202
    assert api.upload("items-restricted", items_csv(5), user="admin").status_code == 202
    types = {t["type"]: t for t in api.client.get("/api/job-types", headers=api.auth()).json()}
    assert types["items-restricted"]["can_start"] is False
    assert types["items-restricted"]["roles"] == ["stock"]
    assert types["items"]["can_start"] is True


def test_an_embedding_app_plugs_in_its_own_principal(make_api: MakeApi) -> None:
    engine = make_api().engine

    def principal(x_user: str = Header(default="")) -> Principal:
        if not x_user:
            from jobport.api import Unauthorized

            raise Unauthorized("send X-User")
        return Principal(x_user, is_admin=x_user == "root", roles=frozenset({"stock"}))

    host = FastAPI()
    install_problem_handlers(host)
    host.include_router(create_router(engine, principal=principal))
    with TestClient(host) as client:
        _problem(client.get("/api/jobs"), 401)
        started = client.post(
            "/api/imports/items-restricted",
            headers={"X-User": "carol"},
            files={"file": ("i.csv", items_csv(3), "text/csv")},
        )
        assert started.status_code == 202, started.text
        assert started.json()["owner"] == "carol"
        run_id = started.json()["id"]
        assert client.get(f"/api/jobs/{run_id}", headers={"X-User": "dave"}).status_code == 404
        assert client.get(f"/api/jobs/{run_id}", headers={"X-User": "root"}).status_code == 200
