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


@contextmanager
def statements(api: Api) -> Iterator[list[str]]:
    """The SQL statements the state database runs meanwhile (transaction control aside)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.split(None, 1)[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):
            seen.append(statement)

    engine = api.engine.store.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


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
