"""The dashboard's webhooks pages: add (the secret shown once), pause, another user's 404."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from tests.api.conftest import Api
from tests.webhooks.conftest import Receiver

from jobport.server import create_app

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in(site: TestClient, token: str) -> str:
    csrf = CSRF.search(site.get("/signin").text)
    assert csrf is not None
    form = {"csrf_token": csrf.group(1), "token": token, "next": "/webhooks"}
    assert site.post("/signin", data=form, follow_redirects=False).status_code == 303
    page = CSRF.search(site.get("/webhooks").text)
    assert page is not None
    return page.group(1)


def test_the_dashboard_page_adds_shows_the_secret_once_and_pauses(
    api: Api, receiver: Receiver
) -> None:
    with TestClient(create_app(api.engine), base_url="https://dashboard.test") as site:
        csrf = sign_in(site, api.tokens["alice"])
        refused = site.post(
            "/webhooks/add", data={"csrf_token": csrf, "url": "gopher://x", "event": "run.failed"}
        )
        assert refused.status_code == 422
        assert "not an http:// or https:// URL" in refused.text
        form = {"csrf_token": csrf, "url": receiver.hook("page"), "event": ["run.completed"]}
        created = site.post("/webhooks/add", data=form)
        assert created.status_code == 201
        secret = re.search(r'id="webhook-secret">(whsec_[^<]+)<', created.text)
        assert secret is not None
        listing = site.get("/webhooks").text
        assert receiver.hook("page") in listing
        assert secret.group(1) not in listing  # shown once
        link = re.search(r'href="/webhooks/([0-9a-f-]{36})"', listing)
        assert link is not None
        hook = link.group(1)

        paused = site.post(f"/webhooks/{hook}/pause", data={"csrf_token": csrf})
        assert paused.status_code == 200  # after the redirect to its page
        assert "paused by alice" in paused.text
        forged = site.post(f"/webhooks/{hook}/resume", data={"csrf_token": "forged"})
        assert forged.status_code == 403

        csrf_bob = sign_in(site, api.tokens["bob"])
        assert site.get(f"/webhooks/{hook}").status_code == 404
        taken = site.post(f"/webhooks/{hook}/remove", data={"csrf_token": csrf_bob})
        assert taken.status_code == 404
