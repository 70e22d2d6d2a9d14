"""The import's mapping step, "Check the whole file" and "Import it" in headless Chromium.

One flow against ``jobport serve`` as a subprocess (the demo app, SQLite, the
local process pool): a file whose header says ``E-mail``, ``First Name``,
``Surname`` goes to the mapping step, which proposes ``email`` and
``first_name``, says that ``last_name`` is required and not chosen yet, and
flags a field chosen twice; the user picks ``last_name`` for ``Surname``; the
preview shows the first rows; "Check the whole file" runs a dry run whose page
says what it would create, update and leave unchanged while the table stays as
it was; "Import it" imports the stored upload. The step and the dry run are
photographed at 1280 and 390 px (``tests/e2e/screenshots/import-mapping-*.png``
and ``dry-run-*.png``; the copies in ``docs/images/`` come from there).

Waits are on page conditions (Playwright's ``expect``), never fixed sleeps.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.dashboard_server import (
    DashboardServer,
    chromium,
    require_browser,
    running_server,
    shoot,
    watch_errors,
)

pytestmark = pytest.mark.e2e

#: Already in the table before the file comes: 1 as the file has it, 2 with another name.
EXISTING = [
    (1, "ada@example.com", "Ada", "Lovelace", "GB", True),
    (2, "alan@example.com", "Alan", "Turin", "GB", True),
]
#: The file a person sends: their own column names, one row with a bad country.
PEOPLE = (
    "ID,E-mail,First Name,Surname,Country\n"
    "1,ada@example.com,Ada,Lovelace,GB\n"
    "2,alan@example.com,Alan,Turing,GB\n"
    "3,grace@example.com,Grace,Hopper,US\n"
    "4,linus@example.com,Linus,Torvalds,FI\n"
    "5,margaret@example.com,Margaret,Hamilton,US\n"
    "6,edsger@example.com,Edsger,Dijkstra,Netherlands\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardServer]:
    require_browser()
    with running_server(tmp_path_factory.mktemp("mapping"), bob=False) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as running:
        yield running


def customers(server: DashboardServer) -> list[tuple[Any, ...]]:
    with sqlite3.connect(server.folder / "jobport.db") as db:
        return db.execute("SELECT id, first_name, last_name FROM customers ORDER BY id").fetchall()


def test_map_the_columns_check_the_whole_file_then_import_it(
    browser: Any, server: DashboardServer
) -> None:
    from playwright.sync_api import expect

    with sqlite3.connect(server.folder / "jobport.db") as db:  # the server made the table
        db.executemany(
            "INSERT INTO customers (id, email, first_name, last_name, country, active) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            EXISTING,
        )
    before = customers(server)
    people = server.folder / "people.csv"
    people.write_text(PEOPLE, encoding="utf-8")

    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors = watch_errors(page)
    page.goto("/signin")
    page.get_by_label("API token").fill(server.tokens["admin"])
    page.get_by_label("API token").press("Enter")
    page.goto("/import?type=customers")
    page.get_by_label("File").set_input_files(str(people))
    page.get_by_role("button", name="Upload and preview").click()

    # The step: the proposal filled in, with how sure it is; Surname left to the user.
    expect(page.get_by_role("heading", name="Match the columns of people.csv")).to_be_visible()
    expect(page.get_by_label("E-mail", exact=True)).to_have_value("email")
    expect(page.get_by_label("First Name", exact=True)).to_have_value("first_name")
    expect(page.get_by_label("Surname", exact=True)).to_have_value("")
    expect(page.locator("#match-3")).to_have_text("no match")
    expect(page.locator("#match-1")).to_have_text("exact")
    missing = page.locator("#mapping-missing")
    expect(missing).to_be_visible()
    expect(missing).to_contain_text("no column fills yet: last_name")

    # A field chosen for two columns is flagged before anything is sent.
    page.get_by_label("First Name", exact=True).select_option("email")
    twice = page.locator("#mapping-twice")
    expect(twice).to_be_visible()
    expect(twice).to_contain_text("“email” is chosen for 2 columns (E-mail, First Name)")
    expect(page.get_by_label("E-mail", exact=True)).to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="Preview with this mapping").click()
    expect(twice).to_be_focused()
    expect(page).to_have_url(re.compile(r"/import/mapping\?"))
    page.get_by_label("First Name", exact=True).select_option("first_name")
    expect(twice).to_be_hidden()
    shoot(page, "import-mapping")

    page.get_by_label("Surname", exact=True).select_option("last_name")
    expect(missing).to_be_hidden()
    page.get_by_role("button", name="Preview with this mapping").click()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Columns matched as you chose")
    expect(preview).to_contain_text("Nothing has been written yet")
    expect(preview.locator("th", has_text="Surname")).to_contain_text("→ last_name")
    expect(preview.locator("td.cell-error")).to_have_count(1)  # Netherlands is no code

    # The whole file, checked: counts of what would happen, nothing written.
    page.get_by_role("button", name="Check the whole file").click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    dry_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("#live")).to_have_attribute("data-status", "completed_with_errors")
    expect(page.locator("#run-dry-run")).to_contain_text("Dry run — nothing was written")
    expect(page.locator("#run-total")).to_have_text("6")
    expect(page.locator("#run-valid")).to_have_text("5")
    expect(page.locator("#run-failed")).to_have_text("1")
    expect(page.locator("#run-counts")).to_have_text("Would create 3, update 1, leave 1 unchanged.")
    expect(page.locator("#failures")).to_contain_text("Netherlands")
    assert customers(server) == before
    shoot(page, "dry-run")

    # Import it: the stored upload, with the same mapping, without sending the file again.
    page.get_by_role("button", name="Import it").click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    real_id = page.url.rsplit("/", 1)[1]
    assert real_id != dry_id
    real = server.wait_finished(real_id)
    assert (real["status"], real["processed"], real["failed"]) == ("completed_with_errors", 6, 1)
    assert (real["created"], real["updated"], real["unchanged"]) == (3, 1, 1)
    expect(page.locator("#run-counts")).to_have_text("Created 3, updated 1, left 1 unchanged.")
    assert customers(server) == [
        (1, "Ada", "Lovelace"),
        (2, "Alan", "Turing"),
        (3, "Grace", "Hopper"),
        (4, "Linus", "Torvalds"),
        (5, "Margaret", "Hamilton"),
    ]
    page.goto(f"/runs/{dry_id}")
    expect(page.locator("#dry-run-note")).to_contain_text("imported as run")
    expect(page.get_by_role("button", name="Import it")).to_have_count(0)
    page.goto("/history")
    expect(page.locator("tr", has_text=dry_id[:8]).locator(".tag")).to_have_text("dry run")
    assert errors == []
    context.close()
