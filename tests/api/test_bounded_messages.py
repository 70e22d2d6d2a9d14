"""A header of megabytes through the HTTP API: the run's error and warnings, the 202 answer
and the run list stay a few KiB, since every message built from the file's names is bounded
(a 15 MB header once made a 15 MB error, 202 answer and run read; 5 MB shows the same at a
third of the cost)."""

from __future__ import annotations

from tests.api.conftest import MakeApi

#: 5,000 column names of 999 characters: a 5 MB header line.
NAMES = [f"c{i:05d}" + "x" * 993 for i in range(5_000)]
#: Far more than any message needs, far less than the header.
SMALL = 8_000


def csv_of(header: list[str]) -> bytes:
    return (",".join(header) + "\n" + ",".join("1" for _ in header) + "\n").encode()


def test_a_huge_header_gives_small_answers_errors_warnings_and_lists(make_api: MakeApi) -> None:
    # The column limit raised so that the header reaches the mapping and its messages.
    api = make_api(max_columns=10_000)
    missing = api.upload("items", csv_of(NAMES))
    assert missing.status_code == 202
    assert len(missing.content) < SMALL
    run = missing.json()
    assert run["status"] == "failed"
    assert run["error"].startswith("missing required column(s): id, name; the file has: c00000")
    assert run["error"].endswith("and 4,990 more")

    extra = api.upload("items", csv_of(["id", "name", "qty", *NAMES[:2_000]]))
    assert extra.status_code == 202
    assert len(extra.content) < SMALL
    assert extra.json()["status"] == "completed"
    [warning] = extra.json()["warnings"]
    assert "c00000" in warning
    assert len(warning) < 2_000

    listed = api.client.get("/api/jobs", headers=api.auth("admin"))
    assert listed.status_code == 200
    assert len(listed.content) < 2 * SMALL
    for run_id in (run["id"], extra.json()["id"]):
        read = api.client.get(f"/api/jobs/{run_id}", headers=api.auth("admin"))
        assert len(read.content) < SMALL
