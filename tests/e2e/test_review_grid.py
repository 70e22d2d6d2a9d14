"""The review grid in headless Chromium: fix a dirty demo file's rejected rows and import them.

One flow, against ``jobport serve`` as a subprocess (the demo app, SQLite, the
local process pool): an import of a small customers file with seven bad rows;
the run page's link to the grid; three cells fixed with the keyboard (arrow
keys, Enter, typing, Escape); the email column fixed with one find/replace
after its preview; a row dropped; the fixes imported as a linked run; then
the customers table and both runs' counts checked. The grid is photographed
at 1280 and 390 px (``tests/e2e/screenshots/review-grid-*.png``; the copies in
``docs/images/`` come from there).

Waits are on page conditions (Playwright's ``expect``), never fixed sleeps.
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
    SCREENSHOTS,
    VIEWPORTS,
    DashboardServer,
    chromium,
    require_browser,
    running_server,
    watch_errors,
)

from jobport.demo.data import COLUMNS, generate

pytestmark = pytest.mark.e2e

#: Line -> (column, bad value) of the dirty file; every other line is clean.
DEFECTS = {
    3: ("email", "ada.lovelace2 at example.com"),
    4: ("country", "France"),
    5: ("email", "grace.hopper4 at mail.test"),
    6: ("age", "150"),
    7: ("last_name", ""),
    8: ("active", "maybe"),
    9: ("email", "linus.torvalds8 at corp.example"),
}
ROWS = 12


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardServer]:
    require_browser()
    with running_server(tmp_path_factory.mktemp("review"), bob=False) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as running:
        yield running


def dirty_file(folder: Path) -> Path:
    """Twelve demo customers, seven of them broken in one cell each (``DEFECTS``)."""
    path = folder / "customers-dirty.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in generate(ROWS, seed=5):
            values = list(row.values)
            if row.line in DEFECTS:
                column, bad = DEFECTS[row.line]
                values[COLUMNS.index(column)] = bad
            writer.writerow(values)
    return path


def cell(page: Any, line: int, column: str) -> Any:
    """The grid's input of ``column`` on the row of ``line`` (by its accessible name)."""
    return page.get_by_role("textbox", name=f"{column}, line {line}", exact=True)


def row(page: Any, line: int) -> Any:
    return page.locator("tr.grid-row").filter(has=cell(page, line, "id"))


def photograph(page: Any) -> None:
    """The grid at 1280 px (the whole page) and at 390 px (the screen a phone shows, the
    grid scrolled sideways: a full-page capture does not draw sticky cells where they stick)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "review-grid-1280.png"), full_page=True)
    page.set_viewport_size(VIEWPORTS["390"])
    page.locator(".grid-card").evaluate("card => card.scrollIntoView({block: 'start'})")
    page.locator(".grid-wrap").evaluate("grid => { grid.scrollLeft = 330; }")
    page.screenshot(path=str(SCREENSHOTS / "review-grid-390.png"))
    page.locator(".grid-wrap").evaluate("grid => { grid.scrollLeft = 0; }")
    page.set_viewport_size(VIEWPORTS["1280"])


def test_fix_rows_in_the_grid_and_import_them_as_a_linked_run(
    browser: Any, server: DashboardServer
) -> None:
    from playwright.sync_api import expect

    with server.api() as client, dirty_file(server.folder).open("rb") as handle:
        started = client.post(
            "/api/imports/customers", files={"file": ("customers.csv", handle, "text/csv")}
        )
    assert started.status_code == 202, started.text
    original = server.wait_finished(started.json()["id"])
    assert (original["processed"], original["failed"]) == (ROWS, len(DEFECTS))

    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors = watch_errors(page)
    page.goto("/signin")
    page.get_by_label("API token").fill(server.tokens["admin"])
    page.get_by_label("API token").press("Enter")
    page.goto(f"/runs/{original['id']}")
    page.get_by_role("link", name="Review 7 rejected rows").click()
    expect(page.get_by_role("heading", name=re.compile("Review rejected rows"))).to_be_visible()
    expect(cell(page, 4, "country")).to_have_attribute("aria-invalid", "true")

    # A failing cell off to the right of its row: the row's "in active" links to it.
    active = cell(page, 8, "active")
    expect(active).not_to_be_in_viewport()
    row(page, 8).get_by_role("link", name="Go to active, line 8").click()
    expect(active).to_be_focused()
    expect(active).to_be_in_viewport()

    # Keyboard: a cell is selected, Enter edits, Escape puts the text back.
    country = cell(page, 4, "country")
    country.focus()
    page.keyboard.press("Enter")
    page.keyboard.type("XX")
    page.keyboard.press("Escape")
    expect(country).to_have_value("France")
    # Typing replaces the text; Enter saves and moves down to the same column.
    page.keyboard.type("FR")
    page.keyboard.press("Enter")
    expect(cell(page, 5, "country")).to_be_focused()
    expect(row(page, 4)).to_have_class(re.compile("state-fixed"))
    # Arrow keys move; a click edits at once; leaving the cell (Tab) saves it.
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(cell(page, 6, "age")).to_be_focused()
    page.keyboard.type("40")
    page.keyboard.press("Tab")
    expect(row(page, 6)).to_have_class(re.compile("state-fixed"))
    last_name = cell(page, 7, "last_name")
    last_name.click()
    page.keyboard.type("Smith")
    page.keyboard.press("Enter")
    expect(row(page, 7)).to_have_class(re.compile("state-fixed"))
    expect(page.locator("#review-status")).to_have_text("Line 7 fixed.")
    expect(page.locator("#import-fixes")).to_have_text("Import the 3 fixed rows")
    photograph(page)

    # Bulk find/replace over the email column, after its preview count.
    page.get_by_label("Column", exact=True).select_option("email")
    page.get_by_label("Fix", exact=True).select_option("replace")
    page.get_by_label("Find", exact=True).fill(" at ")
    page.get_by_label("Replace with").fill("@")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#bulk-result")).to_contain_text("changes 3 of the 7 rows in view")
    page.get_by_role("button", name="Apply to 3 rows").click()
    expect(
        page.get_by_role("status").filter(has_text="The bulk fix changed 3 rows.")
    ).to_be_visible()
    expect(row(page, 9)).to_have_class(re.compile("state-fixed"))

    # Drop the row that cannot be fixed here.
    row(page, 8).get_by_role("button", name="Drop line 8").click()
    expect(row(page, 8)).to_have_class(re.compile("state-dropped"))
    expect(page.locator("#import-fixes")).to_have_text("Import the 6 fixed rows")

    page.locator("#import-fixes").click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}$"), timeout=20_000)
    fix_run = server.wait_finished(page.url.rsplit("/", 1)[1])
    assert fix_run["retry_of"] == original["id"]
    assert (fix_run["status"], fix_run["processed"], fix_run["failed"]) == ("completed", 6, 0)
    again = server.wait_finished(original["id"])
    assert (again["processed"], again["failed"]) == (ROWS, len(DEFECTS))
    assert again["retried_by"] == [fix_run["id"]]

    page.goto(f"/runs/{original['id']}")
    expect(page.locator(".fixed-by")).to_contain_text("6 rows (lines 3, 4, 5, 6, 7, 9)")
    expect(page.locator(".fixed-by")).to_contain_text("1 dropped")

    database = sa.create_engine(f"sqlite:///{server.folder / 'jobport.db'}")
    with database.connect() as conn:
        customers = {
            r.id: r
            for r in conn.execute(
                sa.text("SELECT id, email, country, age, last_name FROM customers")
            )
        }
    database.dispose()
    assert sorted(customers) == [n for n in range(1, ROWS + 1) if n != 7]  # line 8: id 7
    assert customers[3].country == "FR"
    assert customers[5].age == 40
    assert customers[6].last_name == "Smith"
    assert "@" in customers[2].email
    assert " at " not in customers[8].email
    assert errors == []
    context.close()
