"""The review grid on a run with 100,000 rejected rows: how long its first page takes.

A real import of the demo's customers type (one bad row) gives a run with the
params, header and mapping a grid needs; its failures are then multiplied in
SQL to ``--failures`` rows (``INSERT ... SELECT generate_series``), each like
one the validation writes (line, column, message, errors and raw values as
JSON), spread over the columns: seven columns share them evenly, ``score``
has only 20 (a sparse filter), and 1,000 rows carry an edit of the user's.

Every figure is the median of ``--repeat`` reads, against a floor measured in
the same run: the bare ``SELECT`` of 50 failures of the run in line order.

- ``FixService.page`` (what the API and the page call): page 1 with no filter,
  with "errors in column" (dense and sparse), with "message contains", with
  the "fixed" state, and page 2,000 (offset 99,950);
- the same first page through HTTP: ``GET /api/jobs/{id}/review/rows`` and the
  dashboard's ``GET /runs/{id}/review`` (rendered, 50 rows x 10 cells);
- the query plan of the first page (the ``(run_id, line)`` index, or not).

    .venv/bin/python bench/review_bench.py                      # 100k failures, PostgreSQL
    .venv/bin/python bench/review_bench.py --failures 20000 --repeat 9

Needs PostgreSQL (``--postgres``, default ``postgresql://postgres@127.0.0.1:5432/test``;
a scratch database is created there and dropped). The target of 300 ms is for
the first page.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlalchemy as sa

from jobport import Jobport, Settings
from jobport.api import create_user
from jobport.fixes import FixService, RowFilter
from jobport.principal import Principal
from jobport.service import ImportStart, JobService
from pg_bench import scratch_database

TARGET_MS = 300.0
PAGE = 50
ONE_BAD_ROW = (
    "id,email,first_name,last_name,country,signup_date,balance,active,age,score\n"
    "1,ada at example.com,Ada,Lovelace,GB,2020-01-01,1.00,true,36,1.5\n"
)
DENSE = ("email", "last_name", "country", "signup_date", "balance", "active", "age")

SEED = """
INSERT INTO job_failures (run_id, chunk_no, line, "column", message, errors, raw)
SELECT :run, g / 20000, g + 2, c.name, c.name || ': ' || c.msg,
       jsonb_build_array(jsonb_build_object('column', c.name, 'message', c.msg)),
       jsonb_build_object('id', (g + 1)::text, 'email', 'user' || g || ' at example.com',
                          'first_name', 'Ada', 'last_name', 'Lovelace', 'country', 'GB',
                          'signup_date', '2020-01-01', 'balance', '1.00', 'active', 'true',
                          'age', '36', 'score', '1.5')
FROM generate_series(1, :n) AS g
CROSS JOIN LATERAL (
  SELECT CASE WHEN g % 5000 = 0 THEN 'score' ELSE (CAST(:dense AS text[]))[1 + g % 7] END AS name,
         CASE WHEN g % 5000 = 0 THEN 'must be a number' ELSE 'is not in the expected format'
         END AS msg
) AS c
"""
EDITS = """
INSERT INTO job_fix_edits (run_id, owner, failure_id, cells, dropped, valid, errors, updated_at)
SELECT run_id, :owner, id, '{"email": "fixed@example.com"}'::jsonb, false, true, '[]'::jsonb, now()
FROM job_failures WHERE run_id = :run ORDER BY line LIMIT :n
"""


def median_ms(read: Callable[[], Any], repeat: int) -> float:
    read()  # warm: plans, caches, the first connection
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        read()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def seed(engine: Jobport, who: Principal, failures: int, folder: Path) -> str:
    source = folder / "one-bad-row.csv"
    source.write_text(ONE_BAD_ROW)
    service = JobService(engine)
    run = service.start_import_file(who, source, ImportStart(type="customers", source_key=""))
    run = service.wait(who, run.id)
    assert run.failed == 1, run
    with engine.store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM job_failures WHERE run_id = :run"), {"run": run.id})
        conn.execute(sa.text(SEED), {"run": run.id, "n": failures, "dense": list(DENSE)})
        conn.execute(sa.text(EDITS), {"run": run.id, "owner": who.name, "n": 1_000})
        conn.execute(
            sa.text("UPDATE job_runs SET failed = :n, total = :n, processed = :n WHERE id = :run"),
            {"run": run.id, "n": failures},
        )
        conn.exec_driver_sql("ANALYZE job_failures")
        conn.exec_driver_sql("ANALYZE job_fix_edits")
    return run.id


def floor_read(engine: Jobport, run_id: str) -> Callable[[], Any]:
    query = sa.text(
        'SELECT id, line, "column", message, errors, raw FROM job_failures '
        "WHERE run_id = :run ORDER BY line LIMIT 50"
    )

    def read() -> Any:
        with engine.store.engine.connect() as conn:
            return conn.execute(query, {"run": run_id}).all()

    return read


def plan(engine: Jobport, run_id: str) -> str:
    """The plan of the first page's query as the store sends it (its nodes, in short)."""
    from jobport.store.fixes import _rows

    with engine.store.engine.connect() as conn:
        query = _rows(conn, run_id, "bench", RowFilter())
        query = query.order_by(sa.text("line"), sa.text("id")).limit(PAGE)
        compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
        lines = conn.exec_driver_sql(f"EXPLAIN ANALYZE {compiled}").scalars().all()
    nodes = [re.sub(r"\s+", " ", line.split("(cost")[0]).strip() for line in lines]
    return " / ".join(n for n in nodes if n.startswith("->") or n[:1].isupper())[:400]


def http_reads(engine: Jobport, run_id: str) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """The API's first page and the dashboard's, through the ASGI app (no network)."""
    from fastapi.testclient import TestClient

    from jobport.server import create_app

    _, token = create_user(engine.store, "bench-http")
    with engine.store.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE job_runs SET owner = 'bench-http' WHERE id = :r"), {"r": run_id}
        )
    client = TestClient(create_app(engine), base_url="https://bench.test")
    client.__enter__()
    csrf = re.compile(r'name="csrf_token" value="([^"]+)"')
    found = csrf.search(client.get("/signin").text)
    assert found is not None
    client.post("/signin", data={"csrf_token": found.group(1), "token": token, "next": "/"})
    api_headers = {"Authorization": f"Bearer {token}"}

    def api() -> Any:
        answer = client.get(f"/api/jobs/{run_id}/review/rows", headers=api_headers)
        assert answer.status_code == 200, answer.text[:300]

    def page() -> Any:
        answer = client.get(f"/runs/{run_id}/review")
        assert answer.status_code == 200, answer.text[:300]
        assert "review-grid" in answer.text

    return api, page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--failures", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with scratch_database(args.postgres) as url, tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            app="jobport.demo",
            database_url=url,
            storage_url=folder,
            executor="inline",
            secret_key="review-bench-secret-0123456789",  # the dashboard's sign-in on PostgreSQL
        )
        with Jobport(settings) as engine:
            who = Principal("bench")
            started = time.perf_counter()
            run_id = seed(engine, who, args.failures, Path(folder))
            print(f"seeded {args.failures:,} failures in {time.perf_counter() - started:.1f} s")
            fixes = FixService(JobService(engine))

            def page(view: RowFilter, offset: int = 0) -> Callable[[], Any]:
                return lambda: fixes.page(who, run_id, view, limit=PAGE, offset=offset)

            floor = median_ms(floor_read(engine, run_id), args.repeat)
            figures = {
                "page 1, no filter": page(RowFilter()),
                "page 1, errors in email (1/7 of rows)": page(RowFilter(column="email")),
                "page 1, errors in score (20 rows)": page(RowFilter(column="score")),
                "page 1, message contains 'number'": page(RowFilter(contains="number")),
                "page 1, state fixed (1,000 rows)": page(RowFilter(state="fixed")),
                f"page {args.failures // PAGE:,} (offset {args.failures - PAGE:,})": page(
                    RowFilter(), args.failures - PAGE
                ),
            }
            print(f"floor: bare SELECT of 50 failures in line order: {floor:.1f} ms")
            print(f"{'FixService.page':<44} {'ms':>8} {'x floor':>8}")
            for name, read in figures.items():
                ms = median_ms(read, args.repeat)
                print(f"{name:<44} {ms:8.1f} {ms / floor:8.1f}")
            print(f"plan of page 1: {plan(engine, run_id)}")
            api, dashboard = http_reads(engine, run_id)
            for name, read in (
                ("GET /api/.../review/rows", api),
                ("GET /runs/.../review", dashboard),
            ):
                ms = median_ms(read, args.repeat)
                verdict = "under" if ms < TARGET_MS else "OVER"
                print(f"{name:<44} {ms:8.1f} ms  ({verdict} the {TARGET_MS:.0f} ms target)")


if __name__ == "__main__":
    main()
