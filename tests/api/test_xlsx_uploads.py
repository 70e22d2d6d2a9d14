"""Hostile workbooks uploaded over HTTP: a clear answer, never a 500, the server's memory flat.

A workbook refused while planning is a run that failed with the reason (202,
as any refused file); a damaged row fails that row alone. Either way the
request never ends in a 500, and the server never holds a row as long as a
column reference claims.
"""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, MakeApi
from tests.formats.crafted_xlsx import crafted_workbook, header_row, inline
from tests.hardening.support import MiB, peak_memory

HEADER = header_row("id", "email", "last_name", "country")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CUSTOMER = (
    '<row r="2"><c r="A2"><v>1</v></c>'
    + inline("B2", "a@example.com")
    + inline("C2", "Lovelace")
    + inline("D2", "GB")
    + "</row>"
)


def upload(api: Api, data: bytes) -> Any:
    return api.client.post(
        "/api/imports/customers",
        headers=api.auth(),
        files={"file": ("hostile.xlsx", data, XLSX)},
    )


def test_a_header_past_the_last_column_fails_the_run_with_the_reason(make_api: MakeApi) -> None:
    """The 1.3 KB workbook that grew the API server from 151 MB to 5 GB."""
    api = make_api(app="jobport.demo")
    data = crafted_workbook(HEADER[:-6] + inline("ZZZZZZ1", "far") + "</row>" + CUSTOMER)
    with peak_memory() as peak:
        response = upload(api, data)
        used = peak()
    assert response.status_code == 202, response.text
    run = response.json()
    assert run["status"] == "failed"
    assert "the cell reference 'ZZZZZZ1' is not a cell of a sheet" in run["error"]
    assert used < 32 * MiB, f"peak {used / MiB:.1f} MiB"


def test_a_reference_that_does_not_parse_fails_its_row_not_the_request(
    make_api: MakeApi,
) -> None:
    api = make_api(app="jobport.demo")
    damaged = '<row r="3">' + inline("!1", "x") + "</row>"
    response = upload(api, crafted_workbook(HEADER + CUSTOMER + damaged))
    assert response.status_code == 202, response.text
    run = api.run_json(response.json()["id"])
    assert (run["status"], run["processed"], run["failed"]) == ("completed_with_errors", 2, 1)
    failures = api.client.get(f"/api/jobs/{run['id']}/failures", headers=api.auth("admin"))
    [failure] = failures.json()["items"]
    assert failure["line"] == 3
    assert "the cell reference '!1'" in failure["message"]


def test_a_header_that_does_not_parse_is_refused_not_a_500(make_api: MakeApi) -> None:
    api = make_api(app="jobport.demo")
    header = '<row r="1">' + inline("abc", "id") + "</row>"
    response = upload(api, crafted_workbook(header + CUSTOMER))
    assert response.status_code == 202, response.text
    assert "the cell reference 'abc'" in response.json()["error"]
