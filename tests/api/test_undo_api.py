"""Undo and the audit trail through the HTTP API (demo app, SQLite, inline executor)."""

from __future__ import annotations

from tests.api.conftest import MakeApi

FIRST = b"""id,email,last_name,country
1,ada@example.com,Lovelace,GB
2,bob@example.com,Babbage,GB
"""
SECOND = b"""id,email,last_name,country
2,robert@example.com,Babbage,GB
3,cy@example.com,Cyrus,FR
"""


def rows(api: object) -> list[tuple[object, ...]]:
    with api.engine.database.connect() as conn:  # type: ignore[attr-defined]
        return [tuple(r) for r in conn.exec_driver_sql("SELECT * FROM customers ORDER BY id")]


def test_undo_over_the_api_restores_the_table_and_is_audited(make_api: MakeApi) -> None:
    api = make_api(app="jobport.demo")
    assert api.upload("customers", FIRST, filename="a.csv").status_code == 202
    before = rows(api)
    second = api.upload("customers", SECOND, filename="b.csv").json()
    assert rows(api) != before

    preview = api.client.get(f"/api/jobs/{second['id']}/undo", headers=api.auth())
    assert preview.status_code == 200, preview.text
    assert (preview.json()["restored"], preview.json()["deleted"]) == (1, 1)
    assert (
        api.client.get(f"/api/jobs/{second['id']}/undo", headers=api.auth("bob")).status_code == 404
    )

    started = api.client.post(f"/api/jobs/{second['id']}/undo", headers=api.auth())
    assert started.status_code == 202, started.text
    assert api.run_json(started.json()["id"])["status"] == "completed"
    assert rows(api) == before
    again = api.client.post(f"/api/jobs/{second['id']}/undo", headers=api.auth())
    assert again.status_code == 409
    assert "undone already" in again.json()["detail"]

    assert api.client.get("/api/audit", headers=api.auth("alice")).status_code == 403
    trail = api.client.get("/api/audit", headers=api.auth("admin"))
    assert trail.status_code == 200
    undid = [e for e in trail.json() if e["action"] == "undid"]
    assert [(e["actor"], e["via"], e["run_id"]) for e in undid] == [("alice", "api", second["id"])]
    own = api.client.get(f"/api/audit?run={second['id']}", headers=api.auth("alice"))
    assert [e["action"] for e in own.json()] == ["undid", "started"]
