"""The dashboard's rate tiles: a failed run is never shown as "0%" (red or not), nor a
period with one as "100%" succeeded, however many runs went well beside it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from tests.unit.test_dashboard_pages import customers_file, sign_in, site

from jobport.store.tables import job_runs
from jobport.web.filters import percent

__all__ = ["site"]  # the fixture, used by name


@pytest.mark.parametrize(
    ("share", "shown"),
    [
        (None, "—"),
        (0.0, "0%"),
        (1 / 300, "<1%"),
        (0.005, "<1%"),
        (0.006, "1%"),
        (0.5, "50%"),
        (0.994, "99%"),
        (299 / 300, ">99%"),
        (1.0, "100%"),
    ],
)
def test_a_share_that_is_some_never_reads_none_or_all(share: float | None, shown: str) -> None:
    assert percent(share) == shown


def copies_of(site: Any, run_id: str, count: int, status: str) -> None:
    """``count`` more finished runs like ``run_id`` (the tiles count runs, not their rows)."""
    with site.engine.database.begin() as conn:
        row = dict(
            conn.execute(sa.select(job_runs).where(job_runs.c.id == run_id)).mappings().one()
        )
        conn.execute(
            job_runs.insert(),
            [{**row, "id": str(uuid.uuid4()), "status": status} for _ in range(count)],
        )


def test_one_failed_run_in_300_reads_under_1_percent_in_red(site: Any) -> None:
    run = site.engine.import_file("customers", customers_file(site), owner="admin")
    assert run.status == "completed"
    copies_of(site, run.id, 298, "completed")
    copies_of(site, run.id, 1, "failed")
    sign_in(site, "admin")
    home = site.get("/").text
    tiles = home[home.index('aria-label="Totals"') :].split("</ul>", 1)[0]
    failed = '<span class="tile-value bad">&lt;1%</span><span class="tile-label">failed</span>'
    succeeded = '<span class="tile-value ok">&gt;99%</span><span class="tile-label">succeeded'
    assert failed in tiles
    assert succeeded in tiles
