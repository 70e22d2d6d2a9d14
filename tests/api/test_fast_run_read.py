"""GET /api/jobs/{id} served by a plain route for jobport's tokens (issue 21).

The polled run read skips FastAPI's dependency solving when the caller comes
from jobport's own tokens. These tests hold that it is the route that answers,
and that it answers exactly as the dependency-solved route does: same body,
same tag, same 401/404/429 problems.
"""

from __future__ import annotations

from fastapi import FastAPI, Header
from fastapi.testclient import TestClient
from starlette.routing import Route
from tests.api.conftest import Api, MakeApi, items_csv

from jobport.api import Principal, create_router, install_problem_handlers
from jobport.api.routers import runs


def test_the_plain_route_comes_first_and_answers_the_run_read(api: Api) -> None:
    first = api.client.app.state.jobport.routes[0]  # type: ignore[attr-defined]
    assert isinstance(first, Route)
    assert first.path == "/api/jobs/{run_id}"
    assert first.endpoint.__qualname__.startswith(runs.fast_run_read.__name__)
    run_id = api.upload("items", items_csv(3)).json()["id"]
    assert api.client.get(f"/api/jobs/{run_id}", headers=api.auth()).status_code == 200


def test_it_answers_as_the_dependency_solved_route_does(api: Api) -> None:
    """Same bytes, same tag, same 404 for a run the caller may not see."""
    run_id = api.upload("items", items_csv(20, bad_every=5)).json()["id"]
    fast = api.client.get(f"/api/jobs/{run_id}", headers=api.auth("alice"))

    def as_header(x_user: str = Header(default="")) -> Principal:
        return Principal(x_user)

    host = FastAPI()
    install_problem_handlers(host)
    router = create_router(api.engine, principal=as_header)
    assert not any(type(route) is Route for route in router.routes)
    host.include_router(router)
    with TestClient(host) as client:
        solved = client.get(f"/api/jobs/{run_id}", headers={"X-User": "alice"})
        hidden = client.get(f"/api/jobs/{run_id}", headers={"X-User": "bob"})
    assert solved.status_code == fast.status_code == 200
    assert solved.content == fast.content
    assert solved.headers["etag"] == fast.headers["etag"]
    assert hidden.status_code == 404
    theirs = api.client.get(f"/api/jobs/{run_id}", headers=api.auth("bob"))
    assert theirs.status_code == 404
    assert theirs.json()["detail"] == hidden.json()["detail"]
    # With the tag a caller may not see the run with: still 404, never 304.
    tagged = {**api.auth("bob"), "If-None-Match": fast.headers["etag"]}
    assert api.client.get(f"/api/jobs/{run_id}", headers=tagged).status_code == 404


def test_wrong_tokens_on_the_run_read_count_towards_the_throttle(make_api: MakeApi) -> None:
    api = make_api(auth_failure_limit=3)
    run_id = api.upload("items", items_csv(3)).json()["id"]
    wrong = {"Authorization": "Bearer not-a-token"}
    for _ in range(3):
        refused = api.client.get(f"/api/jobs/{run_id}", headers=wrong)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
    throttled = api.client.get(f"/api/jobs/{run_id}", headers=wrong)
    assert throttled.status_code == 429
    assert throttled.headers["content-type"] == "application/problem+json"
    # The caller this process has just verified is not held up.
    assert api.client.get(f"/api/jobs/{run_id}", headers=api.auth()).status_code == 200
