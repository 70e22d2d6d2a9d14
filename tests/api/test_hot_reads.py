"""The API's most polled read, GET /api/jobs/{id}: one query, a strong ETag, 304s.

Timings are the benchmark's (bench/api_load.py); these tests hold the
structural facts that make the read cheap, and that the cheap read is right.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from tests.api.conftest import Api, items_csv

from jobport.api.schemas import RunOut
from jobport.store.run_reads import lean_reads


@contextmanager
def statements(api: Api) -> Iterator[list[str]]:
    """The SQL statements the state database runs meanwhile (transaction control aside),
    through the store's engine or the API's lean run read (:mod:`jobport.store.run_reads`)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.split(None, 1)[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):
            seen.append(statement)

    engine = api.engine.store.engine
    reads = lean_reads(engine)
    sa.event.listen(engine, "before_cursor_execute", record)
    if reads is not None:
        reads.trace(lambda statement: record(None, None, statement))
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
        if reads is not None:
            reads.trace(None)


def test_a_run_read_is_one_query_even_with_retries(api: Api) -> None:
    first = api.upload("items", items_csv(20, bad_every=5)).json()
    retry = api.upload("items", items_csv(20), retry_of=first["id"]).json()
    api.run_json(first["id"])  # the token's user is looked up once, then remembered
    with statements(api) as seen:
        body = api.run_json(first["id"])
    assert body["retried_by"] == [retry["id"]]
    assert len(seen) == 1, seen


def test_the_body_is_what_the_validated_model_gives(api: Api) -> None:
    first = api.upload("items", items_csv(20, bad_every=5)).json()
    api.upload("items", items_csv(20), retry_of=first["id"])
    response = api.client.get(f"/api/jobs/{first['id']}", headers=api.auth())
    validated = RunOut.model_validate(response.json())
    assert response.content == validated.model_dump_json().encode()
    assert response.headers["content-type"] == "application/json"


def test_an_unchanged_run_answers_304_to_its_tag_and_200_once_changed(api: Api) -> None:
    run_id = api.upload("items", items_csv(20)).json()["id"]
    url = f"/api/jobs/{run_id}"
    first = api.client.get(url, headers=api.auth())
    tag = first.headers["etag"]
    assert tag.startswith('"')
    assert tag.endswith('"')
    assert first.headers["cache-control"] == "private, no-cache"

    again = api.client.get(url, headers={**api.auth(), "If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag
    listed = api.client.get(url, headers={**api.auth(), "If-None-Match": f'"x", W/{tag}'})
    assert listed.status_code == 304

    # A change that does not increment seq (an expired file's result) still changes the tag.
    api.engine.store.set_result(run_id, "", {"expired": True})
    changed = api.client.get(url, headers={**api.auth(), "If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.json()["result"] == {"expired": True}
    assert changed.headers["etag"] != tag


def test_a_tag_reveals_nothing_to_another_user(api: Api) -> None:
    run_id = api.upload("items", items_csv(5)).json()["id"]
    tag = api.client.get(f"/api/jobs/{run_id}", headers=api.auth()).headers["etag"]
    other = api.client.get(f"/api/jobs/{run_id}", headers={**api.auth("bob"), "If-None-Match": tag})
    assert other.status_code == 404


# -- history pages by keyset -------------------------------------------------------------------


def _history(api: Api, query: str) -> dict[str, Any]:
    response = api.client.get(f"/api/jobs?{query}", headers=api.auth())
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def test_history_pages_by_cursor_cover_every_run_once_newest_first(api: Api) -> None:
    started = [api.upload("items", items_csv(3)).json()["id"] for _ in range(5)]
    seen: list[str] = []
    page = _history(api, "limit=2")
    while True:
        seen += [run["id"] for run in page["items"]]
        if page["next"] is None:
            break
        page = _history(api, f"limit=2&after={page['next']}")
    assert seen == list(reversed(started))
    assert [run["id"] for run in _history(api, "limit=5&offset=1")["items"]] == seen[1:]


def test_the_total_of_a_cursor_page_counts_every_matching_run(api: Api) -> None:
    for _ in range(5):
        api.upload("items", items_csv(3))
    first = _history(api, "limit=2")
    second = _history(api, f"limit=2&after={first['next']}")
    assert (first["total"], second["total"]) == (5, 5)
    assert len(second["items"]) == 2


def test_offset_and_after_together_are_a_clear_422(api: Api) -> None:
    api.upload("items", items_csv(3))
    api.upload("items", items_csv(3))
    cursor = _history(api, "limit=1")["next"]
    for offset in (1, 0):
        response = api.client.get(f"/api/jobs?offset={offset}&after={cursor}", headers=api.auth())
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert "'offset'" in detail
        assert "'after'" in detail


def test_a_cursor_not_of_this_api_is_a_clear_422(api: Api) -> None:
    response = api.client.get("/api/jobs?after=not-a-cursor", headers=api.auth())
    assert response.status_code == 422
    assert "not a cursor of this API" in response.json()["detail"]


def test_a_keyset_page_is_found_through_an_index(api: Api) -> None:
    from datetime import UTC, datetime

    from jobport.store import RunFilter
    from jobport.store.runs import _page_of_runs, _run_conditions
    from jobport.store.tables import job_runs

    engine = api.engine.store.engine
    plans = []
    for owner in (None, "alice"):
        after = (datetime.now(UTC), "x")
        conditions = _run_conditions(RunFilter(owner=owner, after=after))
        query = (
            sa.select(job_runs.c.id)
            .where(*conditions)
            .order_by(job_runs.c.created_at.desc(), job_runs.c.id.desc())
            .limit(20)
        )
        sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
        with engine.connect() as conn:
            plans.append(
                " ".join(row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
            )
        with engine.connect() as conn:  # the store's own page query runs the same conditions
            _page_of_runs(conn, conditions, job_runs.c.created_at, 20, 0)
    assert "USING INDEX ix_job_runs_created_at (created_at<?)" in plans[0], plans[0]
    assert "ix_job_runs_owner_created_at (owner=? AND created_at<?)" in plans[1], plans[1]
