"""Webhook subscriptions over HTTP: bearer tokens, problem+json, another user's is 404.

Deliveries are sent by a :class:`Deliverer` in the test's thread (``deliver``),
to the local receiver; the API manages subscriptions and reads the log.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.api.conftest import Api, MakeApi, items_csv
from tests.webhooks.conftest import Receiver, add, deliver, problem


def test_the_api_adds_lists_pauses_resumes_and_removes_a_subscription(
    api: Api, receiver: Receiver
) -> None:
    created = add(api, receiver, "alice", "a", events=["run.completed"], types=["items"])
    assert created["secret"].startswith("whsec_")
    assert (created["status"], created["owner"], created["events"]) == (
        "active",
        "alice",
        ["run.completed"],
    )
    hook = f"/api/webhooks/{created['id']}"
    listed = api.client.get("/api/webhooks", headers=api.auth()).json()
    assert [h["id"] for h in listed] == [created["id"]]
    assert "secret" not in listed[0]
    assert "secret" not in api.client.get(hook, headers=api.auth()).json()

    paused = api.client.post(f"{hook}/pause", headers=api.auth(), json={"reason": "moving"})
    assert paused.json()["status"] == "paused"
    assert paused.json()["paused_reason"] == "paused by alice: moving"
    resumed = api.client.post(f"{hook}/resume", headers=api.auth())
    assert (resumed.json()["status"], resumed.json()["paused_reason"]) == ("active", None)
    assert api.client.delete(hook, headers=api.auth()).status_code == 204
    problem(api.client.get(hook, headers=api.auth()), 404)


def test_another_users_subscription_answers_404_like_a_missing_one(
    api: Api, receiver: Receiver
) -> None:
    alices = add(api, receiver, "alice", "a")["id"]
    add(api, receiver, "bob", "b")
    missing = problem(api.client.get("/api/webhooks/nope", headers=api.auth("bob")), 404)
    for method, path in (
        ("GET", ""),
        ("POST", "/pause"),
        ("POST", "/resume"),
        ("DELETE", ""),
        ("GET", "/deliveries"),
        ("POST", "/deliveries/1/replay"),
    ):
        answer = api.client.request(
            method, f"/api/webhooks/{alices}{path}", headers=api.auth("bob")
        )
        assert problem(answer, 404) == missing.replace("nope", alices), (method, path)
    assert [
        h["owner"] for h in api.client.get("/api/webhooks", headers=api.auth("bob")).json()
    ] == ["bob"]
    everyone = api.client.get("/api/webhooks", headers=api.auth("admin")).json()
    assert sorted(h["owner"] for h in everyone) == ["alice", "bob"]
    assert api.client.get(f"/api/webhooks/{alices}", headers=api.auth("admin")).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"url": "ftp://example.com/"}, "not an http:// or https:// URL"),
        ({"url": "http://127.0.0.1:1/", "events": ["run.exploded"]}, "unknown event type"),
        ({"url": "http://127.0.0.1:1/", "types": ["nope"]}, "unknown job type"),
    ],
)
def test_a_bad_subscription_is_a_422_problem(api: Api, body: dict[str, Any], message: str) -> None:
    assert message in problem(api.client.post("/api/webhooks", headers=api.auth(), json=body), 422)


def test_private_addresses_are_refused_unless_allowed(make_api: MakeApi) -> None:
    api = make_api()  # JOBPORT_WEBHOOKS_ALLOW_PRIVATE off: the default
    answer = api.client.post(
        "/api/webhooks", headers=api.auth(), json={"url": "http://169.254.169.254/latest/"}
    )
    assert "link-local" in problem(answer, 422)


def test_the_deliveries_log_and_replays_through_the_api(api: Api, receiver: Receiver) -> None:
    hook = add(api, receiver, "alice", "log", events=["run.progress", "run.completed"])["id"]
    run = api.upload("items", items_csv(250)).json()  # three chunks: three events
    receiver.answer(500)
    assert deliver(api) == 1  # seq 1 failed: the run's others wait
    page = api.client.get(f"/api/webhooks/{hook}/deliveries", headers=api.auth()).json()
    assert page["total"] == 3
    first = next(d for d in page["items"] if d["seq"] == 1)
    assert (first["status"], first["status_code"], first["attempts"]) == ("pending", 500, 1)
    assert first["next_attempt_at"] is not None

    replayed = api.client.post(
        f"/api/webhooks/{hook}/deliveries/{first['id']}/replay", headers=api.auth()
    )
    assert replayed.status_code == 202
    assert (replayed.json()["attempts"], replayed.json()["status"]) == (0, "pending")
    assert deliver(api) == 3
    assert receiver.seqs("/log") == [1, 1, 2, 3]
    detail = api.client.get(
        f"/api/webhooks/{hook}/deliveries/{first['id']}", headers=api.auth()
    ).json()
    assert [a["status_code"] for a in detail["attempt_log"]] == [500, 204]
    assert detail["message"]["data"]["run_id"] == run["id"]

    again = api.client.post(
        f"/api/webhooks/{hook}/replay",
        headers=api.auth(),
        json={"run_id": run["id"], "since_seq": 3},
    )
    assert again.json() == {"replayed": 1}
    deliver(api)
    assert receiver.seqs("/log") == [1, 1, 2, 3, 3]
    bobs_view = api.client.post(
        f"/api/webhooks/{hook}/replay", headers=api.auth("bob"), json={"run_id": run["id"]}
    )
    problem(bobs_view, 404)
    unknown_status = api.client.get(
        f"/api/webhooks/{hook}/deliveries?status=lost", headers=api.auth()
    )
    assert "unknown delivery status" in problem(unknown_status, 422)
