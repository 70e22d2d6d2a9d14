"""The report kind: an aggregate query's file, downloadable like an export, with a summary."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.conftest import MakeJobport
from tests.kinds.support import result_bytes, rows_of, sha256

from jobport import StartRequest
from jobport.demo.sync_source import orders


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl", "parquet"])
def test_sales_report_by_country_and_month(
    make_jobport: MakeJobport, tmp_path: Path, fmt: str
) -> None:
    engine = make_jobport()
    engine.start(StartRequest(type="orders", options={"count": 1500}))
    run = engine.run(engine.start(StartRequest(type="sales-report", format=fmt)).id)
    assert run.status == "completed", run.error
    with engine.database.connect() as conn:
        paid = conn.execute(
            sa.select(sa.func.count(), sa.func.sum(orders.c.amount)).where(
                orders.c.status == "paid"
            )
        ).one()
        groups = conn.execute(
            sa.select(
                sa.func.count(
                    sa.distinct(
                        orders.c.country
                        + sa.func.substr(sa.cast(orders.c.ordered_at, sa.String), 1, 7)
                    )
                )
            ).where(orders.c.status == "paid")
        ).scalar_one()
    data = result_bytes(engine, run)
    rows = rows_of(fmt, data, tmp_path)
    assert len(rows) == groups
    assert sum(int(r["orders"]) for r in rows) == paid[0]
    assert sum(Decimal(str(r["revenue"])) for r in rows).quantize(Decimal("0.01")) == paid[1]
    result = run.result or {}
    assert result["summary"]["rows"] == groups
    assert result["summary"]["totals"]["orders"] == paid[0]
    assert result["summary"]["totals"]["revenue"] == pytest.approx(float(paid[1]))
    assert result["checksum"] == sha256(data)
    assert result["filename"].startswith("sales-report-")


def test_report_options_filter(make_jobport: MakeJobport, tmp_path: Path) -> None:
    engine = make_jobport()
    engine.start(StartRequest(type="orders", options={"count": 1500}))
    run = engine.run(engine.start(StartRequest(type="sales-report", options={"year": "2024"})).id)
    rows = rows_of("csv", result_bytes(engine, run), tmp_path)
    assert rows
    assert {r["year"] for r in rows} == {"2024"}
