"""The error report through every face: cells a spreadsheet would run are neutralised, and a
corrected report imports back as the values it was made of."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.api.conftest import Api
from tests.api.live_app import items
from typer.testing import CliRunner

from jobport.cli import app as cli_app
from jobport.formats.cells import FORMULA_TRIGGERS
from jobport.reports import report_cell
from jobport.server import create_app

#: Names a spreadsheet would run as formulas (the item model strips the white space of the
#: last two, so those are left out of what is stored).
DANGEROUS_NAMES = ["=1+1", "+1", "-1", "@SUM(A1)", "=cmd|' /C calc'!A0", "\tx", "\rx"]
KEPT_WHOLE = DANGEROUS_NAMES[:5]


def upload_with_rejected_rows(api: Api) -> str:
    """Alice's import whose every row is refused (a negative quantity); returns its id."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "name", "qty"])
    writer.writerows([n, name, "-3"] for n, name in enumerate(DANGEROUS_NAMES, start=1))
    run = api.upload("items", out.getvalue().encode()).json()
    assert run["failed"] == len(DANGEROUS_NAMES), run
    return str(run["id"])


def assert_neutralised(report: str, *, bom: bool = True) -> list[list[str]]:
    """The report's cells are neutralised; a file starts with a UTF-8 byte order mark, which
    makes a spreadsheet read it as UTF-8."""
    assert report.startswith("\ufeff") is bom
    rows = list(csv.reader(io.StringIO(report.removeprefix("\ufeff"), newline="")))
    assert rows[0] == ["id", "name", "qty", "line", "error"]
    cells = [cell for row in rows for cell in row]
    assert not [cell for cell in cells if cell.startswith(FORMULA_TRIGGERS)]
    assert [row[1] for row in rows[1:]] == ["'" + name for name in DANGEROUS_NAMES]
    assert {row[2] for row in rows[1:]} == {"'-3"}
    return rows


def test_the_api_report_neutralises_cells_a_spreadsheet_would_run(api: Api) -> None:
    run_id = upload_with_rejected_rows(api)
    response = api.client.get(f"/api/jobs/{run_id}/failures?format=csv", headers=api.auth("admin"))
    assert response.status_code == 200
    assert_neutralised(response.text)


def test_the_cli_report_neutralises_cells_a_spreadsheet_would_run(api: Api, tmp_path: Path) -> None:
    run_id = upload_with_rejected_rows(api)
    settings = api.engine.settings
    out = tmp_path / "report.csv"
    options = ["--app", "tests.api.live_app", "--database-url", settings.database_url]
    options += ["--storage-url", settings.storage_url]
    result = CliRunner().invoke(cli_app, [*options, "failures", run_id, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert_neutralised(out.read_bytes().decode("utf-8"))


def test_the_dashboard_report_an_admin_downloads_is_neutralised(api: Api) -> None:
    run_id = upload_with_rejected_rows(api)
    with TestClient(create_app(api.engine), base_url="https://dashboard.test") as site:
        form = site.get("/signin").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert csrf is not None
        signed = site.post(
            "/signin",
            data={"csrf_token": csrf.group(1), "token": api.tokens["admin"], "next": "/history"},
            follow_redirects=False,
        )
        assert signed.status_code == 303, signed.text
        report = site.get(f"/runs/{run_id}/report.csv")
    assert report.status_code == 200
    assert_neutralised(report.text)


def test_a_corrected_report_imports_the_original_values(api: Api) -> None:
    run_id = upload_with_rejected_rows(api)
    report = api.client.get(f"/api/jobs/{run_id}/failures?format=csv", headers=api.auth())
    rows = assert_neutralised(report.text)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(rows[0])
    writer.writerows([*row[:2], "4", *row[3:]] for row in rows[1:])  # the quantity fixed
    retry = api.upload("items", out.getvalue().encode(), retry_of=run_id).json()
    assert (retry["status"], retry["failed"]) == ("completed", 0), retry
    with api.engine.database.connect() as conn:
        stored = {row.id: row.name for row in conn.execute(sa.select(items.c.id, items.c.name))}
    assert [stored[n] for n in range(1, len(KEPT_WHOLE) + 1)] == KEPT_WHOLE
    assert not [name for name in stored.values() if name.startswith("'")]


def test_report_cells_of_typed_and_missing_values() -> None:
    # A value the row lacked (a blank XLSX cell) is a blank, not "None"; numbers from a
    # typed source are numbers, which no spreadsheet runs.
    assert [report_cell(v) for v in (None, 12, -1.5, True, "=x", "-3.50")] == [
        "",
        "12",
        "-1.5",
        "true",
        "'=x",
        "'-3.50",
    ]
