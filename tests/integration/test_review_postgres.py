"""The review grid's store on PostgreSQL: jsonb filters, upserts, keyset passes and claims.

The API tests run on SQLite; these run the dialect-specific parts (the
"errors in column" filter is a jsonb containment there, an edit an
``INSERT ... ON CONFLICT``) through :class:`FixService`, the application layer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.apps import tickets

from jobport import Jobport, Settings
from jobport.fixes import BulkFix, FixService, RowFilter
from jobport.principal import Principal
from jobport.service import ImportStart, JobService

pytestmark = pytest.mark.postgres

TICKETS = b"""code,title,amount,day
1,Alpha,10.50,2024-01-02
2,,3.20,2024-01-03
3,Gamma,"1.234,50",2024-01-04
4,Delta,7,31/12/2024
5,Epsilon,"2,5",02/01/2024
"""
ALICE = Principal("alice")


@pytest.fixture
def fixes(postgres_schema_url: str, tmp_path: Path) -> Iterator[FixService]:
    settings = Settings(
        database_url=postgres_schema_url,
        storage_url=str(tmp_path / "files"),
        app="tests.apps.tickets",
        executor="inline",
    )
    tickets.REFUSED.clear()
    with Jobport(settings) as engine:
        yield FixService(JobService(engine))


def lines(fixes: FixService, run_id: str, view: RowFilter) -> list[int | None]:
    return [row.line for row in fixes.page(ALICE, run_id, view, limit=50).rows]


def test_filters_edits_bulk_fixes_and_the_fix_run_on_postgres(
    fixes: FixService, tmp_path: Path
) -> None:
    source = tmp_path / "tickets.csv"
    source.write_bytes(TICKETS)
    service = fixes.service
    run = service.start_import_file(ALICE, source, ImportStart(type="tickets", source_key=""))
    assert service.wait(ALICE, run.id).failed == 4

    assert lines(fixes, run.id, RowFilter()) == [3, 4, 5, 6]
    assert lines(fixes, run.id, RowFilter(column="amount")) == [4, 6]  # jsonb containment
    assert lines(fixes, run.id, RowFilter(column="day")) == [5, 6]
    assert lines(fixes, run.id, RowFilter(contains="REQUIRED")) == [3]
    assert lines(fixes, run.id, RowFilter(descending=True)) == [6, 5, 4, 3]

    first = fixes.page(ALICE, run.id, RowFilter(), limit=1).rows[0]
    assert fixes.edit(ALICE, run.id, first.id, cells={"title": "Beta"}).state == "fixed"
    assert fixes.edit(ALICE, run.id, first.id, cells={"title": ""}).state == "open"  # upsert
    assert fixes.edit(ALICE, run.id, first.id, cells={"title": "Beta"}).state == "fixed"

    comma = BulkFix(column="amount", op="decimal_comma")
    assert fixes.bulk(ALICE, run.id, comma, RowFilter(), preview=False).changed == 2
    dates = BulkFix(column="day", op="date_format", date_format="%d/%m/%Y")
    done = fixes.bulk(ALICE, run.id, dates, RowFilter(column="day"), preview=False)
    assert (done.changed, done.valid) == (2, 2)
    assert lines(fixes, run.id, RowFilter(state="fixed")) == [3, 4, 5, 6]

    fix_run = service.wait(ALICE, fixes.start_fix_run(ALICE, run.id).id)
    assert (fix_run.retry_of, fix_run.processed, fix_run.failed) == (run.id, 4, 0)
    assert lines(fixes, run.id, RowFilter(state="imported")) == [3, 4, 5, 6]
    (summary,) = fixes.summary(ALICE, run.id).fixed_by
    assert (summary.fix_run_id, summary.fixed, summary.lines) == (fix_run.id, 4, [3, 4, 5, 6])
    with service.engine.database.connect() as conn:
        amounts = conn.execute(
            sa.select(tickets.tickets.c.code, tickets.tickets.c.amount).order_by("code")
        ).all()
    assert [str(amount) for _, amount in amounts] == ["10.50", "3.20", "1234.50", "7.00", "2.50"]
