"""The web dashboard in headless Chromium, against ``jobport serve`` run as a subprocess.

A user signs in with a token, uploads the demo customers file, checks the
dry run, starts the import and watches the bar reach 100 %, reads the
rejected rows and downloads the error report; queues an export and downloads
it; filters the history; and sees the dashboard's charts. Every page is
photographed at 1280 and 390 px into ``tests/e2e/screenshots/`` (git-ignored).

Waits are on page conditions (Playwright's ``expect`` and
``wait_for_function``), never fixed sleeps.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect
from tests.e2e.dashboard_server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DashboardServer,
    require_browser,
    running_server,
    shoot,
    watch_errors,
)

from jobport.demo.data import generate, write_csv
from jobport.store.records import FINAL_STATUSES

pytestmark = pytest.mark.e2e

ROWS = 30_000
DIRTY = 0.02  # as `jobport demo`
WAIT_MS = 120_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardServer]:
    require_browser()
    with running_server(tmp_path_factory.mktemp("dashboard")) as running:
        yield running


@pytest.fixture(scope="module")
def sample(server: DashboardServer) -> Path:
    """The demo's customers file, seeded so that its dry run (first rows) shows bad cells."""
    seed = next(
        s
        for s in range(1, 1000)
        if sum(r.defect is not None for r in generate(20, dirty=DIRTY, seed=s)) >= 2
    )
    path = server.folder / "customers.csv"
    write_csv(path, ROWS, dirty=DIRTY, seed=seed)
    return path


@pytest.fixture(scope="module")
def seeded(server: DashboardServer, sample: Path) -> Any:
    """A finished import of the sample by the admin, made through the API."""
    with server.api() as client, sample.open("rb") as handle:
        response = client.post(
            "/api/imports/customers", files={"file": ("customers.csv", handle, "text/csv")}
        )
    assert response.status_code == 202, response.text
    return server.wait_finished(response.json()["id"])


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def new_page(browser: Any, server: DashboardServer, user: str | None = "admin") -> Any:
    """A fresh browser context (its own cookies), signed in as ``user`` through the form."""
    from playwright.sync_api import expect

    context = browser.new_context(
        base_url=server.url, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.js_errors = watch_errors(page)
    if user is not None:
        page.goto("/signin")
        page.get_by_label("API token").fill(server.tokens[user])
        page.get_by_label("API token").press("Enter")
        expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    return page


def nav(page: Any, name: str) -> None:
    """Follow a link of the main navigation."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()


def no_js_errors(page: Any) -> None:
    assert page.js_errors == [], page.js_errors


# -- sign in ----------------------------------------------------------------------------------


def test_sign_in_keeps_the_session_in_an_http_only_cookie(
    browser: Any, server: DashboardServer
) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, server, user=None)
    page.goto("/history")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Fhistory$"))
    shoot(page, "signin")

    page.get_by_label("API token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("matches no user")

    page.get_by_label("API token").fill(server.tokens["admin"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="History", level=1)).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "jobport_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert server.tokens["admin"] not in cookie["value"]

    # The first Tab reaches the skip link; the main navigation follows.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/signin"))
    no_js_errors(page)
    page.context.close()


# -- import -----------------------------------------------------------------------------------


def test_upload_preview_import_progress_failures_and_error_report(
    browser: Any, server: DashboardServer, sample: Path
) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, server)
    sockets: list[Any] = []
    frames: list[str] = []

    def watch(socket: Any) -> None:
        sockets.append(socket)
        socket.on("framereceived", lambda payload: frames.append(str(payload)))

    page.on("websocket", watch)
    nav(page, "Import")
    expect(page.get_by_role("heading", name="Import a file")).to_be_visible()
    expect(page.get_by_label("Job type")).to_have_value("customers")
    expect(page.locator("#type-fields")).to_contain_text("Customer records")
    shoot(page, "import")

    page.get_by_label("File").set_input_files(str(sample))
    page.get_by_role("button", name="Upload and preview").click()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Nothing has been written yet")
    expect(preview.locator("tbody tr").first).to_be_visible()
    assert preview.locator("td.cell-error").count() >= 1, "the dirty sample shows no bad cell"
    expect(preview.locator("td.cell-error .cell-message").first).not_to_be_empty()
    shoot(page, "import-preview")

    page.get_by_role("button", name="Start the import").click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    run_id = page.url.rsplit("/", 1)[1]
    live_at_load = page.locator("[data-ws]").count() == 1

    # The bar reaches 100 % (live over the WebSocket while the run goes on).
    page.wait_for_function(
        "() => { const b = document.getElementById('run-progress');"
        " return b && b.max > 0 && b.value === b.max; }",
        timeout=WAIT_MS,
    )
    expect(page.locator("#run-percent")).to_have_text("100%", timeout=WAIT_MS)
    expect(page.locator("#run-status")).to_contain_text("Completed with errors", timeout=WAIT_MS)
    if live_at_load:  # the page followed the run over its WebSocket to the end
        assert any(ws.url.endswith(f"/runs/{run_id}/ws") for ws in sockets), sockets
        # The script drops data-ws once the terminal event has come through the socket.
        expect(page.locator("#run-live-host")).not_to_have_attribute("data-ws", re.compile(""))
        # The end came as an event, or, when the run ended before the socket was
        # open (30,000 rows take under a second), as the socket's first snapshot.
        ended = [json.loads(frame) for frame in frames if frame.startswith("{")]
        assert any(
            message.get("event") == "JobCompleted"
            or (message.get("event") == "JobSnapshot" and message.get("status") in FINAL_STATUSES)
            for message in ended
        ), frames[-3:]
    expect(page.locator(".chunk-grid .chunk.done").first).to_be_visible()
    assert page.locator(".chunk-grid .chunk:not(.done)").count() == 0

    run = server.wait_finished(run_id)
    assert run["status"] == "completed_with_errors"
    assert run["processed"] == ROWS
    failures = page.locator("#failures")
    expect(failures.get_by_role("heading")).to_contain_text(f"({run['failed']:,})")
    # The list and the bar's figure come from one read: they agree.
    expect(page.locator("#run-failed")).to_have_text(f"{run['failed']:,}")
    expect(failures.locator("tbody tr").first).to_be_visible()
    assert failures.locator("tbody tr").count() == min(25, run["failed"])
    shoot(page, "run-import")

    # Paging the rejected rows swaps the table in place.
    if run["failed"] > 25:
        first_line = failures.locator("tbody tr td").first.inner_text()
        failures.get_by_role("link", name="Next →").click()
        expect(failures).to_contain_text("Page 2 of")
        assert failures.locator("tbody tr td").first.inner_text() != first_line

    with page.expect_download() as download_info:
        page.locator("#download-report").click()
    download = download_info.value
    assert download.suggested_filename.endswith("-failures.csv")
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text())))
    assert rows[0][-2:] == ["line", "error"]
    assert len(rows) - 1 == run["failed"]

    # Back shows the preview again (it has an address of its own), never the browser's
    # "confirm form resubmission" page.
    page.go_back()
    expect(page).to_have_url(re.compile(r"/import/preview\?"))
    expect(page.locator("#preview")).to_contain_text("Nothing has been written yet")
    no_js_errors(page)
    page.context.close()


def test_a_form_sent_after_the_session_ended_signs_in_back_to_the_form(
    browser: Any, server: DashboardServer, sample: Path
) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, server, user="bob")
    nav(page, "Import")
    cookie = next(c for c in page.context.cookies() if c["name"] == "jobport_session")
    page.context.add_cookies([{**cookie, "value": "ended.session"}])  # no longer valid
    page.get_by_label("File").set_input_files(str(sample))
    page.get_by_role("button", name="Upload and preview").click()
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Fimport&expired=1$"))
    expect(page.get_by_role("status")).to_contain_text("Your session has ended")
    shoot(page, "signin-session-ended")
    page.get_by_label("API token").fill(server.tokens["bob"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Import a file")).to_be_visible()
    expect(page.locator(".who")).to_contain_text("Signed in as bob")
    no_js_errors(page)
    page.context.close()


def test_an_unknown_page_is_an_html_404_with_the_menu(
    browser: Any, server: DashboardServer
) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, server)
    response = page.goto("/no-such-page")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.locator(".who")).to_contain_text("Administrator")
    shoot(page, "not-found")
    page.context.close()


# -- export and downloads ---------------------------------------------------------------------


def test_queue_an_export_and_download_it(
    browser: Any, server: DashboardServer, seeded: Any
) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, server)
    nav(page, "Export")
    expect(page.get_by_role("heading", name="Export or report")).to_be_visible()
    # Choosing a type swaps in its formats and filters (htmx), built from its schema.
    page.get_by_label("Job type").select_option("sales-report")
    expect(page.locator("#type-fields")).to_contain_text("Paid orders")
    expect(page.get_by_label("Year")).to_have_attribute("type", "number")
    page.get_by_label("Job type").select_option("customers-export")
    expect(page.locator("#type-fields")).to_contain_text("Every customer")
    expect(page.get_by_label("Signed Up Since")).to_have_attribute("type", "date")
    page.get_by_label("CSV").check()
    page.get_by_label("Active").select_option("true")
    shoot(page, "export")
    page.get_by_role("button", name="Start").click()

    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    link = page.locator("#download-result")
    expect(link).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#run-status")).to_contain_text("Completed")
    shoot(page, "run-export")
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    exported = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    assert exported, "the export is empty"
    assert {row["active"].lower() for row in exported} <= {"true", "1"}, exported[:3]
    assert len(exported) < seeded["processed"]

    nav(page, "Downloads")
    table = page.locator("table.downloads")
    expect(table.get_by_role("link", name=download.suggested_filename)).to_be_visible()
    expect(table).to_contain_text("Customers (export)")
    shoot(page, "downloads")
    no_js_errors(page)
    page.context.close()


def test_a_polling_report_shows_its_final_state(browser: Any, server: DashboardServer) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, server)
    page.goto("/export?type=sales-report")
    page.get_by_label("Year").fill("1800")
    page.get_by_role("button", name="Start").click()
    expect(page.locator(".error-text")).to_contain_text("greater than or equal to 1900")
    expect(page.get_by_label("Year")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Year").fill("")
    page.get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    expect(page.locator(".facts.card")).to_contain_text("checked every second")
    expect(page.locator("#run-status")).to_contain_text("Completed", timeout=WAIT_MS)
    expect(page.locator("#run-percent")).to_have_text("100%")
    expect(page.locator("#report-summary")).to_contain_text("Revenue")
    expect(page.locator("#failures")).to_have_count(0)
    expect(page.locator("#live")).not_to_contain_text("rows/s")
    shoot(page, "run-report")
    no_js_errors(page)
    page.context.close()


# -- history and ownership --------------------------------------------------------------------


def test_history_filters_and_each_row_opens_its_run(
    browser: Any, server: DashboardServer, seeded: Any
) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, server)
    nav(page, "History")
    expect(page.locator("table.runs tbody tr").first).to_be_visible()
    page.get_by_label("Kind").select_option("import")
    page.get_by_label("Status").select_option("completed_with_errors")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"kind=import.*status=completed_with_errors"))
    rows = page.locator("table.runs tbody tr")
    expect(rows.first).to_be_visible()
    for n in range(rows.count()):
        expect(rows.nth(n).locator(".badge")).to_have_text("Completed with errors")
    shoot(page, "history")
    rows.first.click()  # anywhere on the row opens the run (the link covers the row)
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    expect(page.locator("#run-status")).to_contain_text("Completed with errors")

    # Bob is no admin: he sees none of the admin's runs, and not by their address either.
    bob = new_page(browser, server, user="bob")
    bob.goto("/history")
    expect(bob.get_by_role("heading", name="0 runs")).to_be_visible()
    response = bob.goto(page.url)
    assert response is not None
    assert response.status == 404
    no_js_errors(page)
    page.context.close()
    bob.context.close()


# -- dashboard --------------------------------------------------------------------------------


def test_the_dashboard_charts_render(browser: Any, server: DashboardServer, seeded: Any) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, server)
    charts = page.locator("svg.chart:visible")  # each is drawn twice: wide and narrow
    expect(charts).to_have_count(4)
    for n in range(4):
        box = charts.nth(n).bounding_box()
        assert box is not None
        assert box["width"] > 200
        assert box["height"] > 40
        assert charts.nth(n).locator("rect").count() >= 1
        assert charts.nth(n).get_attribute("role") == "img"
    volume = page.get_by_role("img", name=re.compile("Runs per day")).first
    assert volume.locator("rect[class^='series-']").count() >= 1
    expect(page.locator(".legend").first).to_contain_text("Customers")
    expect(page.locator("table.data")).to_contain_text("Customers")
    expect(page.locator(".tiles")).to_contain_text("rows processed")
    shoot(page, "dashboard")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(charts).to_have_count(4)
    assert charts.first.get_attribute("viewBox", timeout=1000).startswith("0 0 340 ")
    no_js_errors(page)
    page.context.close()


# -- without a browser: the rules behind the pages (ASGI client, inline executor) -------------


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from jobport import Jobport, Settings
    from jobport.api import create_user
    from jobport.server import create_app

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
        yield client
    engine.close()


def sign_in(client: Any, user: str) -> str:
    """Sign ``user`` in through the form; returns the session's CSRF token."""
    form = client.get("/signin").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf is not None
    response = client.post(
        "/signin",
        data={"csrf_token": csrf.group(1), "token": client.tokens[user], "next": "/history"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/history"
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/history").text)
    assert token is not None
    return token.group(1)


def test_the_session_cookie_is_signed_http_only_and_secure_over_https(site: Any) -> None:
    sign_in(site, "admin")
    cookie = next(c for c in site.cookies.jar if c.name == "jobport_session")
    assert cookie.secure
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.get_nonstandard_attr("SameSite") == "lax"
    assert site.tokens["admin"] not in cookie.value
    page = site.get("/")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"

    # A tampered cookie is no session; neither is one whose token was replaced.
    body, signature = cookie.value.split(".")
    site.cookies.set("jobport_session", f"{body}x.{signature}", domain=cookie.domain)
    assert site.get("/", follow_redirects=False).status_code == 303
    sign_in(site, "admin")
    from jobport.api import hash_token

    site.engine.store.set_user_token("admin", hash_token("a-new-token"))
    response = site.get("/history", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=%2Fhistory&expired=1"
    htmx = site.get("/fragments/active", headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.status_code == 401
    assert htmx.headers["hx-redirect"].startswith("/signin?next=")


def test_posts_need_the_session_csrf_token(site: Any) -> None:
    csrf = sign_in(site, "admin")
    refused = site.post("/export/start", data={"type": "customers-export", "format": "csv"})
    assert refused.status_code == 403
    assert "reload the page" in refused.text
    refused = site.post(
        "/export/start", data={"type": "customers-export", "csrf_token": csrf + "x"}
    )
    assert refused.status_code == 403
    started = site.post(
        "/export/start",
        data={"type": "customers-export", "format": "csv", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert started.status_code == 303
    assert started.headers["location"].startswith("/runs/")
    # htmx sends the token as a header instead of a field.
    run_id = started.headers["location"].rsplit("/", 1)[1]
    answer = site.post(f"/runs/{run_id}/cancel", headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 409  # done already: the inline executor ran it
    # The sign-in form is protected too (no login CSRF).
    site.cookies.clear()
    login = site.post("/signin", data={"token": site.tokens["bob"]}, follow_redirects=False)
    assert login.status_code == 403


def test_users_see_and_act_on_their_own_runs_and_admins_on_all(site: Any, tmp_path: Path) -> None:
    from jobport.dispatch import StartRequest

    sample = tmp_path / "customers.csv"
    write_csv(sample, 50, dirty=0.2)
    admin_run = site.engine.import_file("customers", sample, owner="admin")
    bob_run = site.engine.start(StartRequest(type="customers-export", owner="bob"))

    csrf = sign_in(site, "bob")
    assert site.get(f"/runs/{bob_run.id}").status_code == 200
    for path in ("", "/live", "/failures", "/report.csv", "/download"):
        assert site.get(f"/runs/{admin_run.id}{path}").status_code == 404, path
    assert site.post(f"/runs/{admin_run.id}/retry", data={"csrf_token": csrf}).status_code == 404
    history = site.get("/history?owner=admin").text
    assert bob_run.id[:8] in history
    assert admin_run.id[:8] not in history
    assert "Customers (export)" in site.get("/downloads").text
    with (
        pytest.raises(WebSocketDisconnect),
        site.websocket_connect(f"/runs/{admin_run.id}/ws", headers=ws_headers(site)) as socket,
    ):
        socket.receive_json()

    sign_in(site, "admin")
    assert site.get(f"/runs/{bob_run.id}").status_code == 200
    report = site.get(f"/runs/{admin_run.id}/report.csv")
    assert report.status_code == 200
    assert report.text.splitlines()[0].endswith(",line,error")
    history = site.get("/history").text
    assert bob_run.id[:8] in history
    assert admin_run.id[:8] in history


def test_the_run_websocket_wants_this_origin_and_the_cookie(site: Any) -> None:
    from jobport.dispatch import StartRequest

    run = site.engine.start(StartRequest(type="customers-export", owner="admin"))
    sign_in(site, "admin")
    with site.websocket_connect(f"/runs/{run.id}/ws", headers=ws_headers(site)) as socket:
        message = socket.receive_json()
    assert message["event"] == "JobCompleted"
    assert message["snapshot"] is True
    for headers in (
        ws_headers(site, origin="https://evil.test"),  # a cross-site page with the cookie
        ws_headers(site, origin=None),
        ws_headers(site, cookie=False),
    ):
        with (
            pytest.raises(WebSocketDisconnect),
            site.websocket_connect(f"/runs/{run.id}/ws", headers=headers) as socket,
        ):
            socket.receive_json()


def ws_headers(site: Any, *, origin: str | None = "http://testserver", cookie: bool = True) -> Any:
    """Handshake headers (the test client's WebSocket goes to ws://testserver, cookie-less)."""
    headers = {"origin": origin} if origin else {}
    if cookie:
        headers["cookie"] = f"jobport_session={site.cookies.get('jobport_session')}"
    return headers


def test_a_previewed_upload_cannot_be_swapped_for_another(site: Any, tmp_path: Path) -> None:
    csrf = sign_in(site, "bob")
    sample = tmp_path / "customers.csv"
    write_csv(sample, 30, dirty=0.0)
    preview = site.post(
        "/import/preview",
        data={"csrf_token": csrf, "type": "customers", "option.x": "1"},
        files={"file": ("customers.csv", sample.read_bytes(), "text/csv")},
    )
    assert preview.status_code == 200, preview.text
    staged = re.search(r'name="staged" value="([^"]+)"', preview.text)
    assert staged is not None
    forged = {"csrf_token": csrf, "type": "customers", "options": "{}", "format": "csv"}
    refused = site.post("/import/start", data={**forged, "staged": "uploads/abc.csv"})
    assert refused.status_code == 422
    assert "upload it again" in refused.text
    started = site.post(
        "/import/start", data={**forged, "staged": staged.group(1)}, follow_redirects=False
    )
    assert started.status_code == 303
    run = site.engine.run(started.headers["location"].rsplit("/", 1)[1])
    assert run.owner == "bob"
    assert run.processed == 30
    # Another user cannot start bob's staged upload.
    csrf = sign_in(site, "admin")
    stolen = site.post(
        "/import/start", data={**forged, "csrf_token": csrf, "staged": staged.group(1)}
    )
    assert stolen.status_code == 422


def test_the_sync_form_starts_a_sync_and_opens_its_run(site: Any) -> None:
    import sqlalchemy as sa

    from jobport.demo.sync_source import orders
    from jobport.store import RunFilter

    csrf = sign_in(site, "bob")
    page = site.get("/sync")
    assert page.status_code == 200
    assert '<a href="/sync" aria-current="page">Sync</a>' in page.text
    assert '<option value="orders" selected>' in page.text
    assert 'name="option.count"' in page.text  # the options form, from the type's schema
    assert 'name="full" value="true" aria-describedby' in page.text  # unchecked
    fragment = site.get("/sync/fields?type=orders", headers={"HX-Request": "true"})
    assert 'id="sync-full"' in fragment.text
    assert "<html" not in fragment.text

    assert site.post("/sync/start", data={"type": "orders"}).status_code == 403  # no CSRF token
    invalid = site.post(
        "/sync/start",
        data={"csrf_token": csrf, "type": "orders", "option.count": "-1", "full": "true"},
    )
    assert invalid.status_code == 422
    assert 'id="opt-count-error"' in invalid.text
    assert 'name="full" value="true" checked' in invalid.text  # the form keeps what was sent
    other_kind = site.post("/sync/start", data={"csrf_token": csrf, "type": "customers"})
    assert other_kind.status_code == 404
    assert site.engine.store.list_runs(RunFilter(), limit=10)[1] == 0

    form = {"csrf_token": csrf, "type": "orders", "option.count": "1500"}
    started = site.post("/sync/start", data=form)  # follows the 303 to the run's page
    assert started.status_code == 200
    assert started.history[0].status_code == 303
    assert started.url.path.startswith("/runs/")
    assert "Orders (sync from the shop API)" in started.text
    assert '<dd id="sync-from">after the last page synced</dd>' in started.text
    assert "<dt>Format</dt>" not in started.text  # a sync reads no file
    first = site.engine.run(started.url.path.rsplit("/", 1)[1])
    assert (first.kind, first.owner, first.status) == ("sync", "bob", "completed_with_errors")
    assert (first.chunks_total, first.processed) == (2, 1500)
    with site.engine.database.connect() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(orders)).scalar_one()
    assert rows == first.processed - first.failed

    again = site.post("/sync/start", data=form, follow_redirects=False)
    assert again.status_code == 303
    nothing_new = site.engine.run(again.headers["location"].rsplit("/", 1)[1])
    assert (nothing_new.status, nothing_new.chunks_total) == ("completed", 0)

    full = site.post("/sync/start", data={**form, "full": "true"})
    assert '<dd id="sync-from">from the beginning</dd>' in full.text
    restarted = site.engine.run(full.url.path.rsplit("/", 1)[1])
    assert (restarted.chunks_total, restarted.processed) == (2, 1500)
    assert restarted.params["read"] == {"full": True}


@contextlib.contextmanager
def bob_signed_in(tmp_path: Path, app: str | None, registry: Any = None) -> Iterator[Any]:
    """A dashboard over another registry than the demo's, with bob signed in."""
    from fastapi.testclient import TestClient

    from jobport import Jobport, Settings
    from jobport.api import create_user
    from jobport.server import create_app

    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'other.db'}",
        storage_url=str(tmp_path / "other-files"),
        app=app,
        executor="inline",
    )
    engine = Jobport(settings, registry=registry)
    try:
        with TestClient(create_app(engine), base_url="https://dashboard.test") as client:
            client.engine = engine
            client.tokens = {"bob": create_user(engine.store, "bob")[1]}
            client.csrf = sign_in(client, "bob")
            yield client
    finally:
        engine.close()


def test_without_a_sync_type_the_menu_has_no_sync_page(tmp_path: Path) -> None:
    with bob_signed_in(tmp_path, "tests.apps.people") as client:
        assert 'href="/sync"' not in client.get("/").text
        assert "There is no sync type you may start." in client.get("/sync").text


def test_a_sync_that_deletes_missing_rows_always_starts_from_the_beginning(
    tmp_path: Path,
) -> None:
    import dataclasses

    from jobport import JobRegistry, Syncer
    from jobport.demo.sync_source import DemoShopApi, Order, orders_sync_type

    registry = JobRegistry()
    handler = Syncer(source=DemoShopApi(), row=Order, key="id", delete_missing=True)
    registry.add(dataclasses.replace(orders_sync_type(), handler=handler))
    with bob_signed_in(tmp_path, None, registry) as client:
        form = client.get("/sync").text
        assert 'name="full" value="true" checked disabled' in form
        assert "always reads its whole source" in form
        data = {"csrf_token": client.csrf, "type": "orders", "option.count": "10"}
        run_page = client.post("/sync/start", data=data)  # no "full" field: it is disabled
        assert '<dd id="sync-from">from the beginning</dd>' in run_page.text


def test_options_forms_follow_the_schema() -> None:
    from jobport.demo.exports import CustomerExportOptions
    from jobport.web import forms

    schema = CustomerExportOptions.model_json_schema()
    fields = {f.name: f for f in forms.form_fields(schema)}
    assert fields["country"].widget == "text"
    assert fields["active"].widget == "select"  # optional boolean: any / yes / no
    assert [value for value, _ in fields["active"].choices] == ["", "true", "false"]
    assert fields["signed_up_since"].widget == "date"
    form = {"option.country": " fr ", "option.active": "false", "option.signed_up_since": ""}
    options = forms.read_options(schema, form)
    assert options == {"country": "fr", "active": False}
    assert forms.validate(CustomerExportOptions, options) == {}
    errors = forms.validate(CustomerExportOptions, {"signed_up_since": "yesterday"})
    assert set(errors) == {"signed_up_since"}


def test_run_stats_count_rates_and_percentiles_per_type(site: Any) -> None:
    from datetime import UTC, datetime, timedelta

    import sqlalchemy as sa

    from jobport.store.tables import job_runs

    # Midday of the current UTC day: runs placed an hour "before now" stay on their day
    # whatever the time the suite runs (an hour before 00:30 is yesterday).
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    rows = []
    for n, seconds in enumerate([1, 2, 3, 4, 100]):
        rows.append(("customers", "completed", seconds, 1000, n))
    rows.append(("customers", "failed", 5, 0, 5))
    rows.append(("customers", "completed_with_errors", 10, 500, 6))
    rows.append(("orders", "cancelled", 1, 10, 7))
    rows.append(("orders", "running", None, 10, 8))
    with site.engine.database.begin() as conn:
        for type_, status, seconds, processed, n in rows:
            started = now - timedelta(days=n % 3, hours=1)
            conn.execute(
                job_runs.insert().values(
                    id=f"00000000-0000-0000-0000-{n:012d}",
                    type=type_,
                    kind="import" if type_ == "customers" else "sync",
                    status=status,
                    strategy="polling",
                    broadcast=True,
                    processed=processed,
                    failed=0,
                    owner="bob" if n == 8 else "admin",
                    params={},
                    created_at=started,
                    started_at=started,
                    finished_at=None if seconds is None else started + timedelta(seconds=seconds),
                    chunks_total=1,
                    chunks_done=1,
                    seq=1,
                    max_attempts=3,
                )
            )
        assert conn.execute(sa.select(sa.func.count()).select_from(job_runs)).scalar_one() == 9

    stats = site.engine.store.run_stats(until=now + timedelta(seconds=1))
    assert len(stats.days) == 14
    assert stats.runs == 9
    assert not stats.truncated
    assert sum(stats.volume["customers"]) == 7
    assert stats.volume["customers"][-1] == 3  # n = 0, 3, 6 were created today
    customers = next(t for t in stats.types if t.type == "customers")
    assert (customers.completed, customers.with_errors, customers.failed) == (5, 1, 1)
    assert customers.success_rate == pytest.approx(6 / 7)
    assert customers.failure_rate == pytest.approx(1 / 7)
    # Durations of the completed runs: 1, 2, 3, 4, 10, 100 seconds.
    assert customers.p50_seconds == pytest.approx(3.5)
    assert customers.p95_seconds == pytest.approx(10 + (100 - 10) * 0.75)
    assert customers.rows_per_second == pytest.approx(5500 / 120)
    orders = next(t for t in stats.types if t.type == "orders")
    assert (orders.active, orders.cancelled, orders.p50_seconds) == (1, 1, None)
    assert orders.failure_rate == 0.0

    mine = site.engine.store.run_stats(owner="bob", until=now + timedelta(seconds=1))
    assert [t.type for t in mine.types] == ["orders"]
    capped = site.engine.store.run_stats(until=now + timedelta(seconds=1), window=4)
    assert capped.truncated
    assert capped.runs == 4
