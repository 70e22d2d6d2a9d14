"""Uploads stream to storage and are refused with 413 while they are still being sent."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.api.conftest import Api, MakeApi, items_csv

from jobport.server import create_app

LIMIT = 64 * 1024
BOUNDARY = "jobport-test-boundary"


def _head(filename: str = "big.csv") -> bytes:
    return (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="options"\r\n\r\n'
        "{}\r\n"
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
        "id,name,qty\n"
    ).encode()


def _tail() -> bytes:
    return f"\r\n--{BOUNDARY}--\r\n".encode()


def _drive(app: Any, token: str, blocks: list[bytes], *, length: int | None) -> dict[str, Any]:
    """Send a request to the ASGI app block by block; report what it read and answered."""
    headers = [
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
    ]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/imports/items",
        "raw_path": b"/api/imports/items",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    state: dict[str, Any] = {"read": 0, "status": None, "body": b""}

    async def receive() -> dict[str, Any]:
        if state["read"] < len(blocks):
            block = blocks[state["read"]]
            state["read"] += 1
            return {
                "type": "http.request",
                "body": block,
                "more_body": state["read"] < len(blocks),
            }
        await asyncio.Event().wait()  # the client has nothing more: wait to be cancelled
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            state["status"] = message["status"]
        elif message["type"] == "http.response.body":
            state["body"] += message.get("body", b"")

    asyncio.run(app(scope, receive, send))
    return state


def _big_blocks(count: int) -> list[bytes]:
    row_block = b"".join(f"{n},item {n},1\n".encode() for n in range(1, 4000))
    return [_head(), *([row_block] * count), _tail()]


def test_an_oversized_upload_is_refused_while_streaming(make_api: MakeApi) -> None:
    api = make_api(max_upload_bytes=LIMIT)
    app = create_app(api.engine)
    blocks = _big_blocks(200)  # ~10 MB sent without a Content-Length
    state = _drive(app, api.tokens["alice"], blocks, length=None)
    assert state["status"] == 413
    assert b"larger than the limit of 65,536 bytes" in state["body"]
    # Decided after about the limit, not after the whole body.
    assert state["read"] < 10
    assert not api.engine.files.fs.find(api.engine.files.root)
    assert api.engine.store.list_runs()[1] == 0


def test_an_oversized_content_length_is_refused_before_reading_anything(
    make_api: MakeApi,
) -> None:
    api = make_api(max_upload_bytes=LIMIT)
    app = create_app(api.engine)
    blocks = _big_blocks(200)
    state = _drive(app, api.tokens["alice"], blocks, length=sum(map(len, blocks)))
    assert state["status"] == 413
    assert state["read"] == 0


def test_an_oversized_upload_through_the_test_client_is_a_413_problem(make_api: MakeApi) -> None:
    api = make_api(max_upload_bytes=LIMIT)
    response = api.upload("items", items_csv(20_000))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Limit exceeded"
    assert not api.engine.files.fs.find(api.engine.files.root)


def test_a_file_just_under_the_limit_is_accepted(make_api: MakeApi) -> None:
    api = make_api(max_upload_bytes=LIMIT)
    content = items_csv(10_000)[: LIMIT - 100]
    content = content[: content.rindex(b"\n") + 1]
    response = api.upload("items", content)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "completed"


def test_a_large_upload_streams_in_many_blocks_and_arrives_whole(make_api: MakeApi) -> None:
    api = make_api(gated=True)  # stored and planned, not run: the file is what is checked here
    blocks = _big_blocks(40)  # several MB, far more than the queue between request and storage
    state = _drive(create_app(api.engine), api.tokens["alice"], blocks, length=None)
    assert state["status"] == 202, state["body"]
    runs, _ = api.engine.store.list_runs()
    (run,) = runs
    assert run.source_key is not None
    stored = api.engine.files.size(run.source_key)
    assert stored == sum(map(len, blocks[1:-1])) + len(b"id,name,qty\n")


@pytest.mark.parametrize(
    "stem", ["x" * 5_000, "\u540d" * 5_000], ids=["5,000 ASCII", "5,000 CJK (15,000 bytes)"]
)
def test_a_long_upload_name_is_imported_and_kept_bounded_for_display(api: Api, stem: str) -> None:
    response = api.upload("items", items_csv(3), filename=f"{stem}.csv")
    assert response.status_code == 202, response.text
    run = response.json()
    assert (run["status"], run["processed"], run["format"]) == ("completed", 3, "csv")
    assert run["source_name"] == f"{stem}.csv"[-200:]


def test_a_part_header_far_beyond_any_file_name_is_a_bounded_refusal(api: Api) -> None:
    response = api.upload("items", items_csv(3), filename="x" * 200_000 + ".csv")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "header" in response.json()["detail"]
    assert not api.engine.files.fs.find(api.engine.files.root)
    assert api.engine.store.list_runs()[1] == 0


def test_an_unknown_form_field_is_refused_and_nothing_is_imported(api: Api) -> None:
    """A misspelt 'dry-run' ignored would import the file for real (it did: 202, written)."""
    response = api.upload("items", items_csv(3), **{"dry-run": "true"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    assert "unknown form field(s): dry-run" in detail
    assert "did you mean 'dry_run'" in detail
    assert api.engine.store.list_runs()[1] == 0
    assert not api.engine.files.fs.find(api.engine.files.root), "the upload is not kept"


def test_an_unknown_encoding_is_refused_at_the_request_naming_the_field(api: Api) -> None:
    response = api.upload("items", items_csv(3), encoding="klingon")
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "encoding" in detail
    assert "unknown encoding 'klingon'" in detail
    assert api.engine.store.list_runs()[1] == 0
    assert not api.engine.files.fs.find(api.engine.files.root), "the upload is not kept"
    assert api.upload("items", items_csv(3), encoding="Latin-1").status_code == 202


def test_a_form_of_thousands_of_fields_is_refused_while_streaming(api: Api) -> None:
    fields = {f"f{n}": "x" for n in range(5_000)}
    response = api.upload("items", items_csv(3), **fields)
    assert response.status_code == 413, response.text
    assert "more than 64 fields" in response.json()["detail"]
    assert api.engine.store.list_runs()[1] == 0
