"""The dashboard's pages without a browser: the rules each page follows, through the ASGI app.

SQLite and the inline executor: a run started here has ended when ``start``
returns, so states a live run passes through (a chunk still held by a worker
after a cancel, an export whose file is not recorded yet) are set in the state
tables directly, as a worker would leave them.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from jobport import Jobport, Settings
from jobport.api import create_user, hash_token
from jobport.demo.data import write_csv
from jobport.dispatch import StartRequest
from jobport.formats import FORMATS, Extra
from jobport.server import create_app
from jobport.store.tables import job_chunks, job_runs
from jobport.web.session import COOKIE_NAME, SessionSigner, installation_key

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Any]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        storage_url=str(tmp_path / "files"),
        app="jobport.demo",
        executor="inline",
    )
    engine = Jobport(settings)
    tokens = {
        name: create_user(engine.store, name, is_admin=name == "admin")[1]
        for name in ("admin", "bob")
    }
    with TestClient(create_app(engine), base_url="https://dashboard.test") as client:
        client.engine = engine
        client.tokens = tokens
        client.folder = tmp_path
        yield client
    engine.close()


def sign_in(client: Any, user: str, next_page: str = "/") -> str:
    """Sign ``user`` in through the form; returns the session's CSRF token."""
    csrf = CSRF.search(client.get("/signin").text)
    assert csrf is not None
    form = {"csrf_token": csrf.group(1), "token": client.tokens[user], "next": next_page}
    assert client.post("/signin", data=form, follow_redirects=False).status_code == 303
    token = CSRF.search(client.get("/history").text)
    assert token is not None
    return token.group(1)


def customers_file(client: Any, rows: int = 40, dirty: float = 0.0) -> Path:
    path = client.folder / f"customers-{rows}-{dirty}.csv"
    write_csv(path, rows, dirty=dirty, seed=7)
    return path


def preview(client: Any, csrf: str, content: bytes, **fields: str) -> Any:
    return client.post(
        "/import/preview",
        data={"csrf_token": csrf, "type": "customers", **fields},
        files={"file": ("customers.csv", content, "text/csv")},
        follow_redirects=False,
    )


def set_state(client: Any, run_id: str, run: dict[str, Any], chunks: dict[str, Any]) -> None:
    """Leave a run (and all its chunks) as a worker would at some moment of its life."""
    with client.engine.database.begin() as conn:
        if run:
            conn.execute(job_runs.update().where(job_runs.c.id == run_id).values(**run))
        if chunks:
            conn.execute(job_chunks.update().where(job_chunks.c.run_id == run_id).values(**chunks))


# -- sessions and addresses -------------------------------------------------------------------


def test_a_form_sent_after_the_session_ended_signs_in_back_to_the_form(site: Any) -> None:
    sign_in(site, "bob")
    signer = SessionSigner(
        installation_key(site.engine.settings), clock=lambda: time.time() - 13 * 3600
    )
    old = signer.new(hash_token(site.tokens["bob"]))  # signed in 13 hours ago: expired
    site.cookies.set(COOKIE_NAME, signer.dumps(old), domain="dashboard.test")

    sent = preview(site, old.csrf, b"id,email\n1,a@b.c\n")
    assert sent.status_code == 303
    assert sent.headers["location"] == "/signin?next=%2Fimport&expired=1"
    page = site.get(sent.headers["location"])
    assert "Your session has ended" in page.text
    csrf = CSRF.search(page.text)
    assert csrf is not None
    form = {"csrf_token": csrf.group(1), "token": site.tokens["bob"], "next": "/import"}
    signed_in = site.post("/signin", data=form)
    assert signed_in.status_code == 200
    assert signed_in.url.path == "/import"
    assert 'id="import-form"' in signed_in.text

    # A first visit is no ended session; a GET of a form's address opens its form.
    site.cookies.clear()
    assert site.get("/history", follow_redirects=False).headers["location"] == (
        "/signin?next=%2Fhistory"
    )
    assert "Your session has ended" not in site.get("/signin?next=/history").text
    sign_in(site, "bob")
    for address, page_path in (("/import/start", "/import"), ("/export/start", "/export")):
        opened = site.get(address, follow_redirects=False)
        assert (opened.status_code, opened.headers["location"]) == (303, page_path)


def test_unknown_pages_answer_an_html_404_and_the_api_keeps_problem_json(site: Any) -> None:
    sign_in(site, "bob")
    page = site.get("/no/such/page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "there is no page at /no/such/page" in page.text
    assert 'href="/history"' in page.text  # the menu: not a dead end
    api = site.get("/api/no-such-thing", headers={"Authorization": "Bearer x"})
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"
    assert site.get("/api").headers["content-type"] == "application/problem+json"
    wrong_method = site.delete("/api/health")
    assert wrong_method.status_code == 405


# -- import -----------------------------------------------------------------------------------


def test_the_preview_is_a_page_of_its_own_so_back_after_the_start_shows_it(site: Any) -> None:
    csrf = sign_in(site, "bob")
    sent = preview(site, csrf, customers_file(site).read_bytes(), **{"option.x": "1"})
    assert sent.status_code == 303
    location = sent.headers["location"]
    assert location.startswith("/import/preview?")
    assert "csrf_token" not in location
    shown = site.get(location)
    assert shown.status_code == 200
    assert "Nothing has been written yet" in shown.text
    staged = re.search(r'name="staged" value="([^"]+)"', shown.text)
    assert staged is not None
    start = {"csrf_token": csrf, "type": "customers", "staged": staged.group(1), "format": "csv"}
    started = site.post("/import/start", data=start, follow_redirects=False)
    assert started.status_code == 303
    assert started.headers["location"].startswith("/runs/")
    assert site.get(location).status_code == 200  # Back: the preview again, no resubmission

    forged = site.get("/import/preview?type=customers&staged=nope")
    assert "the previewed file is no longer known; upload it again" in forged.text
    assert 'id="import-form"' in forged.text


def test_an_empty_file_is_said_in_the_form(site: Any) -> None:
    csrf = sign_in(site, "bob")
    sent = preview(site, csrf, b"", delimiter=";")
    assert sent.status_code == 422
    assert 'id="import-form"' in sent.text
    assert "the file is empty; choose a file with a header and rows" in sent.text
    assert 'name="delimiter" value=";"' in sent.text  # what was sent is kept
    assert list((site.folder / "files").rglob("*.csv")) == []


def test_formats_whose_extra_is_missing_are_not_offered(
    site: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    parquet = FORMATS.by_name["parquet"]
    lacking = dataclasses.replace(parquet, extra=Extra("no_such_module_here", "parquet"))
    monkeypatch.setitem(FORMATS.by_name, "parquet", lacking)
    csrf = sign_in(site, "bob")
    export = site.get("/export?type=customers-export").text
    assert 'value="parquet"' not in export
    assert 'value="csv"' in export
    assert "PARQUET needs the <code>parquet</code> extra" in export
    imports = site.get("/import?type=customers").text
    assert 'value="parquet"' not in imports
    assert "PARQUET needs the <code>parquet</code> extra" in imports
    refused = site.post(
        "/export/start", data={"csrf_token": csrf, "type": "customers-export", "format": "parquet"}
    )
    assert refused.status_code == 422
    assert "PARQUET files need the &#39;parquet&#39; extra on this server" in refused.text


# -- a run's page -----------------------------------------------------------------------------


def test_the_live_section_carries_the_rejected_rows_from_the_same_read(site: Any) -> None:
    run = site.engine.import_file("customers", customers_file(site, 60, 0.2), owner="bob")
    assert run.failed > 0
    sign_in(site, "bob")
    live = site.get(f"/runs/{run.id}/live", headers={"HX-Request": "true"}).text
    assert f'<span class="figure" id="run-failed">{run.failed:,}</span>' in live
    failures = live[live.index('<section id="failures"') :]
    assert 'hx-swap-oob="true"' in failures.split(">", 1)[0]
    assert f'<span class="muted">({run.failed:,})</span>' in failures
    assert failures.count("<tr><td") == min(25, run.failed)
    counts = re.findall(r"(\d+) (\w+)</span>", live[live.index('id="chunk-counts"') :])
    assert sum(int(n) for n, _ in counts) == run.chunks_total


def test_the_run_page_says_the_runs_warnings(site: Any) -> None:
    """What the CLI and the API say of a file without refusing it, the run page says too."""
    path = site.folder / "twice.csv"
    path.write_bytes(b"id,email,last_name,country\n1,a@example.com,A,GB\n1,b@example.com,B,GB\n")
    run = site.engine.import_file("customers", path, owner="bob")
    assert run.warnings
    sign_in(site, "bob")
    live = site.get(f"/runs/{run.id}/live", headers={"HX-Request": "true"}).text
    assert 'id="run-warnings"' in live
    assert "1 row of the file was replaced by a later row with the same key" in live


def test_a_stopped_run_shows_its_held_chunks_stopping_until_they_end(site: Any) -> None:
    run = site.engine.import_file("customers", customers_file(site), owner="bob")
    set_state(site, run.id, {"status": "cancelled"}, {"status": "running"})
    sign_in(site, "bob")
    live = site.get(f"/runs/{run.id}/live").text
    counts = live[live.index('id="chunk-counts"') :].split("</p>", 1)[0]
    assert "running" not in counts
    assert f"{run.chunks_total} stopping" in counts
    assert 'hx-trigger="every 1s"' in live  # the page updates until they end

    set_state(site, run.id, {}, {"status": "cancelled"})
    live = site.get(f"/runs/{run.id}/live").text
    assert 'hx-trigger="every 1s"' not in live
    assert "Resume" in live
    assert "Retry failed chunks" not in live  # nothing failed: only one way on
    assert "runs every chunk not done yet" in live


def test_a_failed_chunk_shows_its_error_and_attempts_to_admins_only(site: Any) -> None:
    run = site.engine.import_file("customers", customers_file(site), owner="bob")
    error = "ValueError: the target refused the row\n  (second line of the message)"
    set_state(
        site,
        run.id,
        {"status": "failed", "error": "chunk 0 failed after 3 attempt(s)"},
        {"status": "failed", "attempts": 3, "errors": 3, "error": error},
    )
    sign_in(site, "bob")
    mine = site.get(f"/runs/{run.id}").text
    assert "Chunk errors" not in mine
    assert "Retry failed chunks" in mine
    assert '<button type="submit" class="secondary" aria-describedby="hint-resume">' not in mine
    sign_in(site, "admin")
    admin = site.get(f"/runs/{run.id}").text
    assert "Chunk errors" in admin
    assert "ValueError: the target refused the row\n  (second line of the message)" in admin
    assert '<td class="num" data-label="Attempts">3 of 3</td>' in admin


def test_exports_and_reports_show_no_rejected_rows_or_rate_and_a_report_its_totals(
    site: Any,
) -> None:
    site.engine.start(StartRequest(type="orders", owner="bob", options={"count": 300}))
    export = site.engine.start(StartRequest(type="customers-export", owner="bob"))
    report = site.engine.start(StartRequest(type="sales-report", owner="bob"))
    summary = (report.result or {})["summary"]
    sign_in(site, "bob")
    for run in (export, report):
        page = site.get(f"/runs/{run.id}").text
        assert 'id="failures"' not in page
        assert "rows/s" not in page
        assert "rejected" not in page
    page = site.get(f"/runs/{report.id}").text
    totals = page[page.index('id="report-summary"') :].split("</dl>", 1)[0]
    assert f"<dt>Orders</dt><dd>{summary['totals']['orders']:,}</dd>" in totals
    assert f"<dt>Revenue</dt><dd>{summary['totals']['revenue']:,.2f}</dd>" in totals


def test_an_export_prepares_its_file_before_it_reads_completed(site: Any) -> None:
    export = site.engine.start(StartRequest(type="customers-export", owner="bob"))
    set_state(site, export.id, {"result_key": None, "result": None}, {})
    sign_in(site, "bob")
    live = site.get(f"/runs/{export.id}/live").text
    status = live[live.index('id="run-status"') :].split("</span></span>", 1)[0]
    assert "Preparing the file" in status
    assert 'class="spinner"' in status
    assert "Completed" not in status
    assert "download-result" not in live
    assert 'hx-trigger="every 1s"' in live

    set_state(site, export.id, {"result_key": "", "result": {"error": "disk full"}}, {})
    live = site.get(f"/runs/{export.id}/live").text
    assert "The file could not be made: disk full. Start the export again." in live
    assert 'hx-trigger="every 1s"' not in live


# -- the frame --------------------------------------------------------------------------------


def test_the_user_badge_and_the_failure_tile(site: Any) -> None:
    site.engine.import_file("customers", customers_file(site), owner="admin")
    sign_in(site, "admin")
    home = site.get("/").text
    who = home[home.index('<span class="user">') :].split("</form>", 1)[0]
    assert "admin admin" not in re.sub(r"<[^>]+>|\s+", " ", who).replace("  ", " ")
    assert "<strong>admin</strong>" in who
    assert ">Administrator</span>" in who
    assert '<span class="tile-value">0%</span><span class="tile-label">failed</span>' in home
    sign_in(site, "bob")
    assert ">Administrator</span>" not in site.get("/").text


# -- pages as modules -------------------------------------------------------------------------


def test_two_dashboards_in_one_process_each_serve_their_own_engine(
    site: Any, tmp_path: Path
) -> None:
    """The page handlers are module-level: what a page reads (its engine, its users, its
    templates) comes from its own router's dependency, never from the last router built."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'other.db'}",
        storage_url=str(tmp_path / "other-files"),
        app="jobport.demo",
        executor="inline",
    )
    other = Jobport(settings)
    try:
        _, carol_token = create_user(other.store, "carol", is_admin=True)
        run = other.start(StartRequest(type="customers-export", owner="carol"))
        with TestClient(create_app(other), base_url="https://other.test") as second:
            second.tokens = {"carol": carol_token}
            sign_in(second, "carol")
            assert second.get(f"/runs/{run.id}").status_code == 200
            sign_in(site, "admin")  # the first dashboard, built before the second
            assert site.get(f"/runs/{run.id}").status_code == 404
            assert run.id not in site.get("/history").text
            assert run.id in second.get("/history").text
            assert "<strong>carol</strong>" in second.get("/").text
            assert "<strong>admin</strong>" in site.get("/").text
    finally:
        other.close()
