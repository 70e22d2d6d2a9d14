"""Undo an import from its run page in headless Chromium, through the confirmation.

Against ``jobport serve`` as a subprocess (the demo app, SQLite, the local
process pool): a few customers are imported, then a demo file that updates
some of them and adds others; its run page's "Undo this import" leads to the
confirmation (one row updated, the rest inserted), whose button starts the
undo run and shows its page. The customers table is then exactly as it was
before the demo file, and the imported run's Activity says who started and
who undid it, from where. Waits are on page conditions, never fixed sleeps.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.e2e.dashboard_server import (
    DashboardServer,
    chromium,
    require_browser,
    running_server,
    watch_errors,
)

from jobport.demo.data import COLUMNS, generate

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardServer]:
    require_browser()
    with running_server(tmp_path_factory.mktemp("undo"), bob=False) as running:
        yield running


def demo_file(folder: Path, name: str, rows: int, seed: int) -> Path:
    path = folder / name
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in generate(rows, seed=seed):
            writer.writerow(row.values)
    return path


def import_file(server: DashboardServer, path: Path) -> Any:
    with server.api() as client, path.open("rb") as handle:
        started = client.post(
            "/api/imports/customers", files={"file": (path.name, handle, "text/csv")}
        )
    assert started.status_code == 202, started.text
    run = server.wait_finished(started.json()["id"])
    assert (run["status"], run["failed"]) == ("completed", 0), run
    return run


def customers(server: DashboardServer) -> list[tuple[Any, ...]]:
    database = sa.create_engine(f"sqlite:///{server.folder / 'jobport.db'}")
    try:
        with database.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text("SELECT * FROM customers ORDER BY id"))]
    finally:
        database.dispose()


def test_undo_an_import_from_its_run_page(server: DashboardServer) -> None:
    from playwright.sync_api import expect

    import_file(server, demo_file(server.folder, "first.csv", 3, seed=1))
    before = customers(server)
    run = import_file(server, demo_file(server.folder, "customers.csv", 8, seed=7))
    assert customers(server) != before

    with chromium() as browser:
        page = browser.new_page(base_url=server.url)
        page.set_default_timeout(15_000)
        errors = watch_errors(page)
        page.goto("/signin")
        page.get_by_label("API token").fill(server.tokens["admin"])
        page.get_by_label("API token").press("Enter")
        page.goto(f"/runs/{run['id']}")
        page.get_by_role("link", name="Undo this import").click()

        expect(page.get_by_role("heading", name="Undo this import")).to_be_visible()
        expect(page.locator("#undo-restored")).to_have_text("3")
        expect(page.locator("#undo-deleted")).to_have_text("5")
        expect(page.get_by_label("Restore anyway")).not_to_be_checked()
        page.get_by_role("button", name="Undo the import").click()
        expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
        undo_id = page.url.rsplit("/", 1)[1]
        assert undo_id != run["id"]
        expect(page.locator("#run-status")).to_have_text(re.compile("Completed", re.I))
        undone = server.wait_finished(undo_id)
        assert (undone["kind"], undone["status"], undone["failed"]) == ("undo", "completed", 0)
        assert customers(server) == before

        page.goto(f"/runs/{run['id']}")
        activity = page.locator("#activity tr.activity-entry")
        expect(activity).to_have_count(2)
        expect(activity.nth(0)).to_contain_text("undid it")
        expect(activity.nth(0)).to_contain_text("dashboard")
        expect(activity.nth(0)).to_contain_text("admin")
        expect(activity.nth(1)).to_contain_text("started the import")
        expect(activity.nth(1)).to_contain_text("api")
        expect(page.locator("#undo-refusal")).to_contain_text("undone already")
        assert errors == []
