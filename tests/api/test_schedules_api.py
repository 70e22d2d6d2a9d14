"""Schedules over HTTP (``/api/schedules``) and on the dashboard; busy types answer 409."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from tests.api.conftest import Api, MakeApi
from tests.unit.schedules_support import Clock, scheduler

from jobport.store.section import utcnow

APP = "tests.apps.scheduled"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def api(make_api: MakeApi) -> Api:
    return make_api(app=APP)


def _problem(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail: str = response.json()["detail"]
    return detail


def _add(api: Api, user: str = "alice", **body: Any) -> Any:
    return api.client.post("/api/schedules", headers=api.auth(user), json=body)


def test_schedules_are_added_listed_paused_resumed_and_removed(api: Api) -> None:
    added = _add(api, type="ticks", when="every 15m", name="quarterly", options={"source": "x"})
    assert added.status_code == 201, added.text
    body = added.json()
    assert (body["name"], body["owner"], body["enabled"], body["last"]) == (
        "quarterly",
        "alice",
        True,
        None,
    )
    assert body["next_run_at"].endswith(
        (":00:00+00:00", ":15:00+00:00", ":30:00+00:00", ":45:00+00:00")
    )

    def names(user: str) -> list[str]:
        listed = api.client.get("/api/schedules", headers=api.auth(user))
        assert listed.status_code == 200
        return [s["name"] for s in listed.json()["items"]]

    assert (names("alice"), names("bob"), names("admin")) == (["quarterly"], [], ["quarterly"])
    by_id = api.client.get(f"/api/schedules/{body['id']}", headers=api.auth("alice"))
    assert by_id.json()["name"] == "quarterly"
    hidden = api.client.get("/api/schedules/quarterly", headers=api.auth("bob"))
    assert "no schedule with the name or id 'quarterly'" in _problem(hidden, 404)

    paused = api.client.post("/api/schedules/quarterly/pause", headers=api.auth("alice"))
    assert (paused.json()["enabled"], paused.json()["next_run_at"]) == (False, None)
    resumed = api.client.post("/api/schedules/quarterly/resume", headers=api.auth("admin"))
    assert resumed.json()["enabled"] is True
    assert api.client.delete("/api/schedules/quarterly", headers=api.auth("bob")).status_code == 404
    assert (
        api.client.delete("/api/schedules/quarterly", headers=api.auth("alice")).status_code == 204
    )
    assert names("admin") == []


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"type": "ticks", "when": "every 5s"}, 422, "at most every minute"),
        ({"type": "ticks", "when": "0 25 * * *"}, 422, "neither a cron expression"),
        ({"type": "ticks", "when": "0 * * * *", "timezone": "Nowhere"}, 422, "unknown time zone"),
        ({"type": "tick", "when": "every 1h"}, 404, "unknown job type 'tick'"),
        ({"type": "ticks-restricted", "when": "every 1h"}, 403, "ops"),
        ({"type": "names", "when": "every 1h"}, 422, "needs a source"),
        ({"type": "names", "when": "every 1h", "source": "/tmp/x"}, 422, "only an admin"),
        ({"type": "ticks", "when": "every 1h", "options": {"pages": 7}}, 422, "pages"),
    ],
)
def test_a_schedule_refused_says_why(
    api: Api, body: dict[str, Any], status: int, says: str
) -> None:
    assert says in _problem(_add(api, **body), status)


def test_a_name_is_taken_once(api: Api) -> None:
    assert _add(api, type="ticks", when="every 1h").status_code == 201
    assert "named 'ticks' exists already" in _problem(_add(api, type="ticks", when="every 2h"), 422)


def test_the_last_run_of_a_schedule_is_shown_with_its_status(api: Api) -> None:
    added = _add(api, type="ticks", when="every 15m", options={"pages": 0}).json()
    fire = scheduler(api.engine, Clock(utcnow() + timedelta(minutes=16)))
    assert fire.sweep() == 1
    (listed,) = api.client.get("/api/schedules", headers=api.auth("alice")).json()["items"]
    assert listed["id"] == added["id"]
    assert (listed["last"]["outcome"], listed["last"]["status"]) == ("started", "completed")
    run = api.run_json(listed["last"]["run_id"])
    assert (run["type"], run["owner"]) == ("ticks", "alice")


def test_a_start_beyond_the_types_limit_is_refused_with_409(make_api: MakeApi) -> None:
    api = make_api(app=APP, gated=True)  # chunks are held: a started run stays active
    first = api.client.post("/api/syncs", headers=api.auth("alice"), json={"type": "ticks"})
    assert first.status_code == 202, first.text
    again = api.client.post("/api/syncs", headers=api.auth("bob"), json={"type": "ticks"})
    detail = _problem(again, 409)
    assert detail.startswith("'ticks' allows 1 active run at a time and has 1")
    assert first.json()["id"] in detail


def test_a_start_of_a_busy_type_that_queues_waits_and_can_be_cancelled(make_api: MakeApi) -> None:
    api = make_api(app=APP, gated=True)
    body = {"type": "ticks-queued"}
    assert api.client.post("/api/syncs", headers=api.auth("alice"), json=body).status_code == 202
    waiting = api.client.post("/api/syncs", headers=api.auth("alice"), json=body)
    assert waiting.status_code == 202, waiting.text
    run = api.run_json(waiting.json()["id"], user="alice")
    assert run["status"] == "queued"
    assert any("waiting for a run of 'ticks-queued'" in w for w in run["warnings"])
    assert api.client.get(f"/api/jobs/{run['id']}", headers=api.auth("bob")).status_code == 404
    cancelled = api.client.post(f"/api/jobs/{run['id']}/cancel", headers=api.auth("alice"))
    assert cancelled.json()["status"] == "cancelled"
    assert api.engine.dispatcher.gate.waiting(run["id"]) is None


def _sign_in(api: Api, user: str) -> str:
    csrf = CSRF.search(api.client.get("/signin").text)
    assert csrf is not None
    form = {"csrf_token": csrf.group(1), "token": api.tokens[user], "next": "/schedules"}
    page = api.client.post("/signin", data=form)
    assert page.status_code == 200
    token = CSRF.search(page.text)
    assert token is not None
    return token.group(1)


def test_the_dashboard_lists_schedules_and_pauses_one(api: Api) -> None:
    _add(api, type="ticks", when="0 9 * * *", name="morning", timezone="Europe/Paris")
    _add(api, user="bob", type="ticks-pair", when="every 1h", name="bobs")
    csrf = _sign_in(api, "alice")
    page = api.client.get("/schedules")
    assert page.status_code == 200
    assert "morning" in page.text
    assert "Europe/Paris" in page.text
    assert "bobs" not in page.text
    assert 'aria-current="page">Schedules<' in page.text
    paused = api.client.post(
        "/schedules/morning/pause", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert paused.status_code == 303
    assert "paused</span>" in api.client.get("/schedules").text
    refused = api.client.post("/schedules/morning/remove", data={"csrf_token": "forged"})
    assert refused.status_code == 403
