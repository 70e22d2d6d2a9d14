"""Runs of every kind store their params and chunk specs in the JSON shape the store
has always held, so databases written before the params were typed keep loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from tests.conftest import MakeJobport
from tests.kinds.support import load_customers

from jobport import StartRequest
from jobport.store.tables import job_chunks, job_runs


def stored(engine: Any, run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run's params and its chunks' specs as the database holds them."""
    with engine.store.engine.connect() as conn:
        params = conn.execute(
            sa.select(job_runs.c.params).where(job_runs.c.id == run_id)
        ).scalar_one()
        specs = conn.execute(
            sa.select(job_chunks.c.spec)
            .where(job_chunks.c.run_id == run_id)
            .order_by(job_chunks.c.no)
        ).scalars()
        return params, list(specs)


def test_an_export_stores_its_format_parts_and_key_ranges(
    make_jobport: MakeJobport, tmp_path: Path
) -> None:
    engine = make_jobport()
    load_customers(engine, tmp_path, rows=250)
    run = engine.start(StartRequest(type="customers-export", format="csv"))
    params, specs = stored(engine, run.id)
    assert list(params) == ["options", "read", "parts", "parts_meta", "format"]
    assert params["format"] == "csv"
    assert len(params["parts"]) == len(params["parts_meta"]) == 1
    assert specs == [{"after": None, "upto": None, "rows": 250}]
    assert engine.run(run.id).status == "completed"


def test_a_report_stores_its_file_params_and_one_empty_spec(make_jobport: MakeJobport) -> None:
    engine = make_jobport()
    run = engine.start(StartRequest(type="sales-report", format="jsonl"))
    params, specs = stored(engine, run.id)
    assert list(params) == ["options", "read", "parts", "parts_meta", "format"]
    assert specs == [{}]


def test_a_sync_stores_where_it_started_and_its_pages(make_jobport: MakeJobport) -> None:
    engine = make_jobport()
    run = engine.start(StartRequest(type="orders", options={"count": 2500}))
    params, specs = stored(engine, run.id)
    assert params == {
        "options": {"count": 2500, "seed": 7},
        "read": {},
        "full": False,
        "after": None,
        "seen": [],
    }
    assert [list(spec) for spec in specs] == [["page", "first", "rows"]] * 3
    assert [spec["first"] for spec in specs] == [1, 1001, 2001]
