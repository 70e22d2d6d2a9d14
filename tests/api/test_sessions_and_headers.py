"""Sign-out ends the session on the server, failed authentications are throttled per
client, every response carries security headers, and the docs follow JOBPORT_API_DOCS."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from tests.api.conftest import Api, MakeApi

from jobport.api import (
    Principal,
    Unauthorized,
    create_router,
    hash_token,
    install_problem_handlers,
)
from jobport.http.throttle import FailureThrottle
from jobport.store.tables import job_ended_sessions

#: Another client, as the ASGI scope names it (a documentation address: no traffic).
OTHER_CLIENT = ("203.0.113.7", 50000)


def other_client(api: Api) -> TestClient:
    client = TestClient(api.client.app, client=OTHER_CLIENT)
    return client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)


def sign_in(client: TestClient, token: str) -> str:
    """Sign in through the form; returns the signed-in session's CSRF token."""
    csrf = csrf_of(client.get("/signin").text)
    response = client.post(
        "/signin", data={"csrf_token": csrf, "token": token}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/history").text)


def assert_problem_429(response: object) -> int:
    assert response.status_code == 429, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    assert response.json()["status"] == 429  # type: ignore[attr-defined]
    retry_after = int(response.headers["retry-after"])  # type: ignore[attr-defined]
    assert 0 < retry_after <= 60
    return retry_after


# -- sign-out ---------------------------------------------------------------------------------


def test_a_signed_out_cookie_opens_nothing_and_other_sessions_stay(api: Api) -> None:
    csrf = sign_in(api.client, api.tokens["alice"])
    old_cookie = api.client.cookies["jobport_session"]
    elsewhere = other_client(api)
    sign_in(elsewhere, api.tokens["alice"])  # the same user on another computer

    signed_out = api.client.post("/signout", data={"csrf_token": csrf}, follow_redirects=False)
    assert signed_out.status_code == 303

    api.client.cookies.set("jobport_session", old_cookie)
    replayed = api.client.get("/history", follow_redirects=False)
    assert replayed.status_code == 303
    assert replayed.headers["location"].startswith("/signin?next=%2Fhistory")
    htmx = api.client.get("/fragments/active", headers={"HX-Request": "true"})
    assert htmx.status_code == 401
    assert elsewhere.get("/history", follow_redirects=False).status_code == 200


def test_signing_out_twice_is_harmless_and_expired_ends_are_forgotten(api: Api) -> None:
    store = api.engine.store
    later = datetime.now(UTC) + timedelta(hours=1)
    store.end_session("long-gone", datetime.now(UTC) - timedelta(seconds=1))
    store.end_session("current", later)
    store.end_session("current", later)

    token_hash = hash_token(api.tokens["bob"])
    assert store.user_by_session(token_hash, "current") is None
    assert store.user_by_session(token_hash, "another") is not None
    with api.engine.database.connect() as conn:
        ids = set(conn.execute(sa.select(job_ended_sessions.c.id)).scalars())
    assert ids == {"current"}


# -- throttling -------------------------------------------------------------------------------


def test_wrong_bearer_tokens_are_refused_with_429_but_known_callers_go_on(
    make_api: MakeApi,
) -> None:
    api = make_api(auth_failure_limit=5)
    assert api.client.get("/api/jobs", headers=api.auth("alice")).status_code == 200
    wrong = {"Authorization": "Bearer not-a-token"}
    for _ in range(5):
        assert api.client.get("/api/jobs", headers=wrong).status_code == 401

    assert_problem_429(api.client.get("/api/jobs", headers=wrong))
    # Not even a valid token this process has not just seen: no guess is checked...
    assert_problem_429(api.client.get("/api/jobs", headers=api.auth("bob")))
    # ...but a caller it has just verified is not held up, nor is another client.
    assert api.client.get("/api/jobs", headers=api.auth("alice")).status_code == 200
    elsewhere = other_client(api)
    assert elsewhere.get("/api/jobs", headers=api.auth("bob")).status_code == 200
    assert elsewhere.get("/api/jobs", headers=wrong).status_code == 401


def test_requests_without_a_token_are_not_counted(make_api: MakeApi) -> None:
    api = make_api(auth_failure_limit=2)
    for _ in range(10):
        assert api.client.get("/api/jobs").status_code == 401
    assert api.client.get("/api/jobs", headers=api.auth("bob")).status_code == 200


def test_wrong_sign_ins_are_refused_with_429(make_api: MakeApi) -> None:
    api = make_api(auth_failure_limit=3)
    csrf = csrf_of(api.client.get("/signin").text)
    for _ in range(3):
        wrong = api.client.post("/signin", data={"csrf_token": csrf, "token": "guess"})
        assert wrong.status_code == 401

    refused = api.client.post(
        "/signin", data={"csrf_token": csrf, "token": api.tokens["alice"]}, follow_redirects=False
    )
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert "Too many failed sign-ins" in refused.text
    assert "jobport_session" not in refused.headers.get("set-cookie", "")
    sign_in(other_client(api), api.tokens["alice"])


def test_the_throttle_forgets_after_its_window_and_stays_small() -> None:
    now = [1000.0]
    throttle = FailureThrottle(limit=2, window_seconds=30, max_keys=100, clock=lambda: now[0])
    throttle.failed("a")
    throttle.failed("a")
    assert throttle.retry_after("a") == 30
    now[0] += 29.5
    assert throttle.retry_after("a") == 1
    now[0] += 0.5
    assert throttle.retry_after("a") is None
    for n in range(10_000):  # an attacker cycling through addresses
        throttle.failed(f"10.{n}")
    assert len(throttle) == 100
    assert FailureThrottle(limit=0, window_seconds=1).retry_after("a") is None


def test_an_application_with_its_own_auth_is_not_throttled(make_api: MakeApi) -> None:
    api = make_api(auth_failure_limit=1)

    def host_principal() -> Principal:
        raise Unauthorized("sign in to the host application")

    host = FastAPI()
    install_problem_handlers(host, prefix="/api")
    host.include_router(create_router(api.engine, principal=host_principal))

    @host.get("/own")
    def own() -> dict[str, str]:
        raise HTTPException(418)

    with TestClient(host) as client:
        for _ in range(5):
            assert client.get("/api/jobs").status_code == 401
        assert client.get("/own").status_code == 418


# -- headers ----------------------------------------------------------------------------------


def assert_secured(response: object) -> str:
    headers = response.headers  # type: ignore[attr-defined]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    policy: str = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    return policy


def test_api_answers_problems_docs_and_pages_carry_security_headers(api: Api) -> None:
    data = api.client.get("/api/jobs", headers=api.auth("alice"))
    assert data.status_code == 200
    assert assert_secured(data).startswith("default-src 'none'")
    problem = api.client.get("/api/jobs/nope", headers=api.auth("alice"))
    assert problem.status_code == 404
    assert_secured(problem)
    assert_secured(api.client.get("/api/jobs"))  # 401
    assert_secured(api.client.get("/openapi.json"))
    page = api.client.get("/signin")
    assert "script-src 'self'" in assert_secured(page)  # the dashboard's own policy


def test_the_docs_policy_lets_exactly_the_swagger_page_run(api: Api) -> None:
    docs = api.client.get("/docs")
    assert docs.status_code == 200
    policy = assert_secured(docs)
    scripts = re.findall(r"<script>(.*?)</script>", docs.text, re.DOTALL)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    script_src = next(d for d in policy.split("; ") if d.startswith("script-src "))
    assert script_src.split() == ["script-src", "https://cdn.jsdelivr.net", f"'sha256-{digest}'"]
    assert "'/openapi.json'" in scripts[0]
    for source in re.findall(r'(?:src|href)="([^"]+)"', docs.text):
        assert source.startswith(("https://cdn.jsdelivr.net/", "data:")), source
    assert api.client.get("/redoc").status_code == 404


def test_the_schema_says_authenticated_routes_may_answer_429(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert "429" in spec["paths"]["/api/jobs"]["get"]["responses"]
    assert "429" not in spec["paths"]["/api/health"]["get"]["responses"]


# -- docs settings ----------------------------------------------------------------------------


def test_docs_off_answer_404(make_api: MakeApi) -> None:
    api = make_api(api_docs="off")
    assert api.client.get("/docs").status_code == 404
    assert api.client.get("/openapi.json").status_code == 404
    assert api.client.get("/api/jobs", headers=api.auth("alice")).status_code == 200


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
def test_docs_for_signed_in_callers_want_a_token_or_a_session(make_api: MakeApi, path: str) -> None:
    api = make_api(api_docs="signed-in")
    anonymous = api.client.get(path)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert api.client.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert api.client.get(path, headers=api.auth("bob")).status_code == 200

    browser = other_client(api)
    csrf = sign_in(browser, api.tokens["alice"])
    assert browser.get(path).status_code == 200
    browser.post("/signout", data={"csrf_token": csrf})
    assert browser.get(path).status_code == 401
