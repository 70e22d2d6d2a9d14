"""A file named with 5,000 characters uploads through the dashboard as through the API
(docs/bad-input.md says both): previewed, imported, its name kept bounded for display."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.unit.test_dashboard_pages import customers_file, sign_in, site

__all__ = ["site"]  # the fixture, used by name


@pytest.mark.parametrize("stem", ["x" * 5_000, "\u540d" * 5_000], ids=["ascii", "cjk"])
def test_a_long_file_name_is_previewed_and_imported(site: Any, stem: str) -> None:
    csrf = sign_in(site, "bob")
    sent = site.post(
        "/import/preview",
        data={"csrf_token": csrf, "type": "customers"},
        files={"file": (f"{stem}.csv", customers_file(site).read_bytes(), "text/csv")},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    shown = site.get(sent.headers["location"])
    staged = re.search(r'name="staged" value="([^"]+)"', shown.text)
    assert staged is not None, shown.text
    start = {"csrf_token": csrf, "type": "customers", "staged": staged.group(1), "format": "csv"}
    started = site.post("/import/start", data=start, follow_redirects=False)
    assert started.status_code == 303
    run_id = started.headers["location"].rsplit("/", 1)[1]
    run = site.engine.store.get_run(run_id)
    assert (run.status, run.processed) == ("completed", 40)
    assert run.source_name == f"{stem}.csv"[-200:]
