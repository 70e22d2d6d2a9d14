"""Every REST endpoint through the ASGI test client."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from tests.api.conftest import Api, MakeApi, items_csv
from tests.api.live_app import CHUNK_SIZE, items

from jobport.store import NewRun


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:jobport:problem:")
    assert body["detail"]
    return body


def _count(api: Api, table: sa.Table) -> int:
    with api.engine.database.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


# -- job types --------------------------------------------------------------------------------


def test_job_types_describe_everything_a_form_needs(api: Api) -> None:
    response = api.client.get("/api/job-types", headers=api.auth())
    assert response.status_code == 200
    types = {t["type"]: t for t in response.json()}
    assert set(types) == {
        "items",
        "items-polling",
        "items-quiet",
        "items-private",
        "items-restricted",
    }
    items_type = types["items"]
    assert items_type["label"] == "Items"
    assert items_type["kind"] == "import"
    assert "csv" in items_type["formats"]
    assert items_type["strategy"] == "websocket"
    assert items_type["broadcast"] is True
    assert types["items-private"]["broadcast"] is False
    assert types["items-polling"]["strategy"] == "polling"
    assert items_type["options_schema"]["properties"]["note"]["description"] == "Kept with the run."
    assert items_type["columns"] == [
        {"name": "id", "type": "integer", "required": True, "description": "Matched on this."},
        {"name": "name", "type": "string", "required": True, "description": ""},
        {"name": "qty", "type": "integer", "required": False, "description": ""},
    ]
    one = api.client.get("/api/job-types/items", headers=api.auth()).json()
    assert one == items_type
    _problem(api.client.get("/api/job-types/nope", headers=api.auth()), 404)


# -- imports ----------------------------------------------------------------------------------


def test_an_import_is_accepted_with_202_and_its_run(api: Api) -> None:
    response = api.upload("items", items_csv(250, bad_every=50), options='{"note": "hi"}')
    assert response.status_code == 202, response.text
    run = response.json()
    assert response.headers["location"] == f"/api/jobs/{run['id']}"
    assert run["type"] == "items"
    assert run["owner"] == "alice"
    assert run["options"] == {"note": "hi"}
    assert run["source_name"] == "items.csv"
    # The inline executor has run it by now.
    assert run["status"] == "completed_with_errors"
    assert (run["total"], run["processed"], run["failed"]) == (250, 250, 5)
    assert run["chunks_total"] == 250 // CHUNK_SIZE + 1
    assert run["links"] == {
        "self": f"/api/jobs/{run['id']}",
        "failures": f"/api/jobs/{run['id']}/failures",
        "events": f"/api/jobs/{run['id']}/events",
        "ws": f"/api/jobs/{run['id']}/ws",
        "download": None,
    }
    assert _count(api, items) == 245
    assert api.run_json(run["id"])["seq"] == run["seq"]


def test_a_run_links_only_the_routes_that_serve_it(api: Api) -> None:
    polled = api.upload("items-polling", items_csv(3)).json()
    links = polled["links"]
    assert (links["events"], links["ws"]) == (None, None)
    assert links["failures"] == f"/api/jobs/{polled['id']}/failures"
    _problem(api.client.get(f"/api/jobs/{polled['id']}/events", headers=api.auth()), 409)
    quiet = api.upload("items-quiet", items_csv(3)).json()
    assert (quiet["links"]["events"], quiet["links"]["ws"]) == (None, None)
    export = _finished_export(api, "alice", b"id\n1\n")
    links = api.run_json(export)["links"]
    assert (links["failures"], links["events"], links["ws"]) == (None, None, None)
    assert links["download"] == f"/api/exports/{export}/download"
    spec = api.client.get("/openapi.json").json()["components"]["schemas"]["RunLinks"]
    for name in ("failures", "events", "ws", "download"):
        assert {"type": "null"} in spec["properties"][name]["anyOf"], name
    assert "self" in spec["required"]


def test_an_unknown_type_is_a_404_problem(api: Api) -> None:
    body = _problem(api.upload("nope", items_csv(3)), 404)
    assert body["title"] == "Unknown job type"
    assert "known types: items" in body["detail"]
    assert body["instance"] == "/api/imports/nope"


def test_invalid_options_are_refused_and_the_upload_is_not_kept(api: Api) -> None:
    body = _problem(api.upload("items", items_csv(3), options='{"bogus": 1}'), 422)
    assert "invalid options for 'items'" in body["detail"]
    assert "bogus" in body["detail"]
    _problem(api.upload("items", items_csv(3), options="[1, 2]"), 422)
    _problem(api.upload("items", items_csv(3), options="{not json"), 422)
    assert not api.engine.files.fs.find(api.engine.files.root)
    assert api.client.get("/api/jobs", headers=api.auth()).json()["total"] == 0


def test_an_upload_needs_multipart_with_a_file_field(api: Api) -> None:
    wrong_type = api.client.post(
        "/api/imports/items", headers={**api.auth(), "Content-Type": "text/csv"}, content=b"id\n1\n"
    )
    assert "multipart/form-data" in _problem(wrong_type, 415)["detail"]
    no_file = api.client.post(
        "/api/imports/items", headers=api.auth(), files={"other": ("x.csv", b"id\n1\n")}
    )
    assert "'file'" in _problem(no_file, 422)["detail"]
    only_fields = api.client.post(
        "/api/imports/items",
        headers=api.auth(),
        data={"options": "{}"},
        files={"ignored": (None, b"x")},
    )
    _problem(only_fields, 422)


def test_a_malformed_file_becomes_a_failed_run_and_nothing_is_written(api: Api) -> None:
    garbage = b"PK\x03\x04" + bytes(range(256)) * 40
    response = api.upload("items", garbage, filename="items.csv")
    assert response.status_code == 202, response.text
    run = response.json()
    assert run["status"] == "failed"
    assert "CSV" in run["error"] or "csv" in run["error"]
    assert run["processed"] == 0
    assert run["chunks_total"] == 0
    assert _count(api, items) == 0
    failures = api.client.get(f"/api/jobs/{run['id']}/failures", headers=api.auth()).json()
    assert failures["total"] == 0


def test_a_missing_required_column_fails_the_run_before_any_row(api: Api) -> None:
    run = api.upload("items", b"id,qty\n1,2\n2,3\n").json()
    assert run["status"] == "failed"
    assert "name" in run["error"]
    assert _count(api, items) == 0


def test_an_import_of_another_type_kind_is_refused_clearly(api: Api) -> None:
    # Every type of the test app is an import; the export route says so.
    body = _problem(
        api.client.post("/api/exports", headers=api.auth(), json={"type": "items"}), 422
    )
    assert "'items' is an import type, not an export" in body["detail"]
    _problem(api.client.post("/api/exports", headers=api.auth(), json={"type": "nope"}), 404)
    _problem(api.client.post("/api/exports", headers=api.auth(), json={"typo": "x"}), 422)


def test_retry_of_links_the_new_run_to_a_visible_original(api: Api) -> None:
    first = api.upload("items", items_csv(20, bad_every=5)).json()
    report = api.client.get(f"/api/jobs/{first['id']}/failures?format=csv", headers=api.auth())
    fixed = report.text.replace(",,", ",fixed,")
    second = api.upload("items", fixed.encode(), retry_of=first["id"]).json()
    assert second["retry_of"] == first["id"]
    assert second["status"] == "completed"
    assert api.run_json(first["id"])["retried_by"] == [second["id"]]
    # Someone else's run cannot be named as the original: refused as a missing one is.
    others = _problem(api.upload("items", fixed.encode(), user="bob", retry_of=first["id"]), 422)
    missing = _problem(api.upload("items", fixed.encode(), user="bob", retry_of="no-such"), 422)
    assert "'retry_of'" in others["detail"]
    assert others["detail"] == missing["detail"].replace("no-such", first["id"])
    assert others["type"] == missing["type"]


# -- history ----------------------------------------------------------------------------------


def test_history_is_filtered_paginated_and_newest_first(api: Api) -> None:
    ids = [api.upload("items", items_csv(5)).json()["id"] for _ in range(3)]
    failed = api.upload("items-polling", b"id,qty\n1,2\n").json()["id"]
    page = api.client.get("/api/jobs?limit=2", headers=api.auth()).json()
    assert (page["total"], page["limit"], page["offset"]) == (4, 2, 0)
    assert [item["id"] for item in page["items"]] == [failed, ids[2]]
    rest = api.client.get("/api/jobs?limit=2&offset=2", headers=api.auth()).json()
    assert [item["id"] for item in rest["items"]] == [ids[1], ids[0]]

    def listed(query: str) -> list[str]:
        response = api.client.get(f"/api/jobs?{query}", headers=api.auth())
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert listed("status=failed") == [failed]
    assert listed("type=items-polling") == [failed]
    assert listed("kind=import") == [failed, *reversed(ids)]
    assert listed("kind=export") == []
    now = datetime.now(UTC)
    assert (
        len(listed(f"since={(now - timedelta(hours=1)).isoformat().replace('+00:00', 'Z')}")) == 4
    )
    assert listed(f"until={(now - timedelta(hours=1)).isoformat().replace('+00:00', 'Z')}") == []
    _problem(api.client.get("/api/jobs?status=bogus", headers=api.auth()), 422)
    _problem(api.client.get("/api/jobs?limit=0", headers=api.auth()), 422)


def test_history_refuses_an_unknown_kind_or_type_naming_the_known_ones(api: Api) -> None:
    api.upload("items", items_csv(3))
    kind = _problem(api.client.get("/api/jobs?kind=imports", headers=api.auth()), 422)
    assert "unknown kind 'imports'" in kind["detail"]
    assert "import, export, sync, report, undo" in kind["detail"]
    typo = _problem(api.client.get("/api/jobs?type=itemz", headers=api.auth()), 422)
    assert "unknown job type 'itemz'" in typo["detail"]
    assert "items, items-polling" in typo["detail"]
    assert api.client.get("/api/jobs?kind=undo", headers=api.auth()).json()["total"] == 0


def test_history_still_filters_by_the_type_of_runs_whose_type_is_gone(api: Api) -> None:
    run = api.engine.store.create_run(
        NewRun("retired", "import", "polling", True, "alice", {}, 1), []
    )
    response = api.client.get("/api/jobs?type=retired", headers=api.auth())
    assert response.status_code == 200, response.text
    assert [item["id"] for item in response.json()["items"]] == [run.id]


def test_one_run(api: Api) -> None:
    run = api.upload("items", items_csv(5)).json()
    got = api.client.get(f"/api/jobs/{run['id']}", headers=api.auth()).json()
    assert got["id"] == run["id"]
    assert got["status"] == "completed"
    assert got["processed"] == 5


# -- failures ---------------------------------------------------------------------------------


def test_failures_are_paginated_json_with_line_and_values(api: Api) -> None:
    run = api.upload("items", items_csv(100, bad_every=10)).json()
    page = api.client.get(
        f"/api/jobs/{run['id']}/failures?limit=3&offset=1", headers=api.auth()
    ).json()
    assert (page["total"], page["limit"], page["offset"]) == (10, 3, 1)
    assert [item["line"] for item in page["items"]] == [21, 31, 41]
    first = page["items"][0]
    assert first["column"] == "name"
    assert first["raw"] == {"id": "20", "name": "", "qty": str(20 % 7)}
    assert first["message"]
    # Its id is the one the review routes take: a UI links the failure to its fix.
    row = api.client.get(
        f"/api/jobs/{run['id']}/review/rows/{first['id']}", headers=api.auth()
    ).json()
    assert (row["id"], row["line"]) == (first["id"], 21)


def test_the_error_report_downloads_as_csv(api: Api) -> None:
    run = api.upload("items", items_csv(30, bad_every=10)).json()
    response = api.client.get(f"/api/jobs/{run['id']}/failures?format=csv", headers=api.auth())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content.startswith(b"\xef\xbb\xbf")  # UTF-8, for a spreadsheet
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["id", "name", "qty", "line", "error"]
    assert [row[0] for row in rows[1:]] == ["10", "20", "30"]
    assert [row[3] for row in rows[1:]] == ["11", "21", "31"]


# -- actions ----------------------------------------------------------------------------------


def test_cancel_then_resume_a_queued_run(make_api: MakeApi) -> None:
    api = make_api(gated=True)
    run = api.upload("items", items_csv(250)).json()
    assert run["status"] == "queued"
    cancelled = api.client.post(f"/api/jobs/{run['id']}/cancel", headers=api.auth())
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    again = _problem(api.client.post(f"/api/jobs/{run['id']}/cancel", headers=api.auth()), 409)
    assert "already cancelled" in again["detail"]
    _problem(api.client.post(f"/api/jobs/{run['id']}/retry", headers=api.auth()), 409)
    resumed = api.client.post(f"/api/jobs/{run['id']}/resume", headers=api.auth())
    assert resumed.status_code == 202, resumed.text
    assert resumed.json()["status"] == "queued"
    assert api.gate is not None
    api.gate.release()
    done = api.run_json(run["id"])
    assert done["status"] == "completed"
    assert done["processed"] == 250
    assert _count(api, items) == 250


def test_retry_and_resume_of_a_completed_run_are_conflicts(api: Api) -> None:
    run = api.upload("items", items_csv(5)).json()
    for action in ("retry", "resume"):
        body = _problem(api.client.post(f"/api/jobs/{run['id']}/{action}", headers=api.auth()), 409)
        assert "completed" in body["detail"]


# -- exports ----------------------------------------------------------------------------------


def _finished_export(api: Api, owner: str, content: bytes, **result: Any) -> str:
    """An export run as the export kind leaves it: completed, with a result file."""
    store = api.engine.store
    run = store.create_run(
        NewRun(
            type="items-export",
            kind="export",
            strategy="polling",
            broadcast=True,
            owner=owner,
            params={"options": {}},
            max_attempts=1,
            format="csv",
        ),
        [],
    )
    key = api.engine.files.new_key("results", ".csv")
    with api.engine.files.open(key, "wb") as handle:
        handle.write(content)
    store.set_result(run.id, key, {"rows": 2, "size": len(content), **result})
    return run.id


def test_exports_list_the_callers_finished_exports_with_size_rows_and_expiry(api: Api) -> None:
    content = b"id,name\n1,a\n2,b\n"
    mine = _finished_export(api, "alice", content, filename="items.csv")
    _finished_export(api, "bob", content)
    page = api.client.get("/api/exports", headers=api.auth()).json()
    assert page["total"] == 1
    (export,) = page["items"]
    assert export["id"] == mine
    assert (export["size"], export["rows"], export["filename"]) == (len(content), 2, "items.csv")
    assert export["expired"] is False
    expires = datetime.fromisoformat(export["expires_at"])
    finished = datetime.fromisoformat(export["finished_at"])
    assert expires - finished == timedelta(hours=api.engine.settings.export_ttl_hours)
    assert export["download"] == f"/api/exports/{mine}/download"
    assert api.run_json(mine)["links"]["download"] == export["download"]


def test_an_export_downloads_as_an_attachment(api: Api) -> None:
    content = b"id,name\n1,a\n2,b\n"
    run_id = _finished_export(api, "alice", content, filename="items 2024.csv")
    response = api.client.get(f"/api/exports/{run_id}/download", headers=api.auth())
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["x-content-type-options"] == "nosniff"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="items_2024.csv"')
    assert "filename*=UTF-8''items%202024.csv" in disposition
    _problem(api.client.get(f"/api/exports/{run_id}/download", headers=api.auth("bob")), 404)


def test_a_signed_link_downloads_without_a_token_until_altered(api: Api) -> None:
    content = b"id,name\n1,a\n"
    run_id = _finished_export(api, "alice", content)
    _problem(api.client.post(f"/api/exports/{run_id}/link", headers=api.auth("bob")), 404)
    shared = api.client.post(f"/api/exports/{run_id}/link?ttl=60", headers=api.auth())
    assert shared.status_code == 200, shared.text
    url = shared.json()["url"]
    assert url.startswith(f"/api/exports/{run_id}/shared?expires=")
    response = api.client.get(url)  # no Authorization header
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-disposition"].startswith("attachment")
    expires = int(url.split("expires=")[1].split("&")[0])
    _problem(api.client.get(url.replace(f"expires={expires}", f"expires={expires + 60}")), 403)
    _problem(api.client.get(url[:-2] + ("AA" if not url.endswith("AA") else "BB")), 403)
    _problem(api.client.get(f"/api/exports/{run_id}/shared"), 403)


def test_a_link_is_refused_for_a_run_that_has_no_file_to_share(api: Api) -> None:
    imported = api.upload("items", items_csv(3)).json()["id"]
    problem = _problem(api.client.post(f"/api/exports/{imported}/link", headers=api.auth()), 422)
    assert f"run {imported} is an import run and left no file" in problem["detail"]
    running = api.engine.store.create_run(
        NewRun(
            type="items-export",
            kind="export",
            strategy="polling",
            broadcast=True,
            owner="alice",
            params={"options": {}},
            max_attempts=1,
            format="csv",
        ),
        [{"rows": 2}],  # a chunk to do: the export is still queued
    ).id
    problem = _problem(api.client.post(f"/api/exports/{running}/link", headers=api.auth()), 409)
    assert "download it when done" in problem["detail"]


def test_an_expired_signed_link_is_refused(api: Api) -> None:
    from jobport.signing import LinkSigner

    run_id = _finished_export(api, "alice", b"x\n")
    clock = [1_000_000.0]
    link = LinkSigner.from_settings(api.engine.settings, clock=lambda: clock[0]).sign(run_id, 1)
    problem = _problem(api.client.get(f"/api/exports/{run_id}/shared?{link.query()}"), 403)
    assert "expired" in problem["detail"]


def test_an_expired_export_is_gone(api: Api) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    run_id = _finished_export(api, "alice", b"x\n", expires_at=past)
    assert api.client.get("/api/exports", headers=api.auth()).json()["items"][0]["expired"]
    _problem(api.client.get(f"/api/exports/{run_id}/download", headers=api.auth()), 410)


def test_a_run_without_a_file_has_no_download(api: Api) -> None:
    run = api.upload("items", items_csv(3)).json()
    _problem(api.client.get(f"/api/exports/{run['id']}/download", headers=api.auth()), 422)


# -- documentation ----------------------------------------------------------------------------


def test_openapi_documents_every_endpoint_and_the_problem_shape(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    paths = spec["paths"]
    expected = {
        "/api/health": ["get"],
        "/api/health/ready": ["get"],
        "/api/job-types": ["get"],
        "/api/job-types/{type}": ["get"],
        "/api/imports/{type}": ["post"],
        "/api/exports": ["get", "post"],
        "/api/syncs": ["post"],
        "/api/jobs": ["get"],
        "/api/jobs/{run_id}": ["get"],
        "/api/jobs/{run_id}/failures": ["get"],
        "/api/jobs/{run_id}/cancel": ["post"],
        "/api/jobs/{run_id}/retry": ["post"],
        "/api/jobs/{run_id}/resume": ["post"],
        "/api/jobs/{run_id}/events": ["get"],
        "/api/exports/{run_id}/download": ["get"],
    }
    for path, methods in expected.items():
        assert sorted(paths[path]) == methods, path
        for method in methods:
            assert paths[path][method]["summary"], (path, method)
    upload = paths["/api/imports/{type}"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert "413" in upload["responses"]
    assert "application/problem+json" in upload["responses"]["413"]["content"]
    assert (
        "text/event-stream"
        in paths["/api/jobs/{run_id}/events"]["get"]["responses"]["200"]["content"]
    )
    assert "Problem" in spec["components"]["schemas"]


# -- a real export, through the engine --------------------------------------------------------


def test_an_export_runs_lists_and_downloads_end_to_end(make_api: MakeApi, tmp_path: Any) -> None:
    from jobport.demo.data import write_csv

    api = make_api(app="jobport.demo")
    write_csv(tmp_path / "c.csv", 300, dirty=0.0)
    imported = api.upload("customers", (tmp_path / "c.csv").read_bytes(), filename="c.csv")
    assert imported.json()["status"] == "completed", imported.text
    started = api.client.post(
        "/api/exports",
        headers=api.auth(),
        json={"type": "customers-export", "format": "csv", "options": {"active": None}},
    )
    assert started.status_code == 202, started.text
    run = started.json()
    assert run["kind"] == "export"
    assert run["owner"] == "alice"
    assert api.run_json(run["id"])["status"] == "completed"
    (export,) = api.client.get("/api/exports", headers=api.auth()).json()["items"]
    assert export["id"] == run["id"]
    assert export["rows"] == 300
    assert export["expired"] is False
    download = api.client.get(export["download"], headers=api.auth())
    assert download.status_code == 200
    assert len(download.content) == export["size"]
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    lines = download.text.splitlines()
    assert lines[0].startswith("id,email,")
    assert len(lines) == 301
    # Bad requests of an export type are problems, and nothing starts.
    bad_format = {"type": "customers-export", "format": "docx"}
    _problem(api.client.post("/api/exports", headers=api.auth(), json=bad_format), 422)
    bad_options = {"type": "customers-export", "options": {"colour": "red"}}
    body = _problem(api.client.post("/api/exports", headers=api.auth(), json=bad_options), 422)
    assert "colour" in body["detail"]
    assert api.client.get("/api/jobs?kind=export", headers=api.auth()).json()["total"] == 1
