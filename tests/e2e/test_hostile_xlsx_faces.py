"""Hostile workbooks through the CLI and the dashboard's preview: a clear answer, never a crash.

A header cell at ``ZZZZZZ1`` once made ``jobport import`` allocate 5 GB, and a
cell reference that does not parse (``r="!1"``, ``r="abc"``) ended the CLI with
exit 70 and the dashboard's preview with a 500. Each is now a refused file
(exit 1, one line) or the failure of the one row it damages.
"""

from __future__ import annotations

import csv
import io
import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.test_cli import Cli, assert_one_line_error, make_cli
from tests.formats.crafted_xlsx import crafted_workbook, header_row, inline
from tests.hardening.support import MiB, peak_memory
from tests.unit.test_dashboard_pages import sign_in, site  # noqa: F401 (fixture)

HEADER = header_row("id", "email", "last_name", "country")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return make_cli(tmp_path)


def customer(row: int, key: int) -> str:
    """A valid demo customer at spreadsheet row ``row``."""
    cells = [f'<c r="A{row}"><v>{key}</v></c>']
    cells += [
        inline(f"{column}{row}", text)
        for column, text in zip("BCD", (f"c{key}@example.com", "Lovelace", "GB"), strict=True)
    ]
    return f'<row r="{row}">{"".join(cells)}</row>'


def far_header() -> bytes:
    """The 1.3 KB workbook whose header cell at ZZZZZZ1 took 5 GB to pad."""
    return crafted_workbook(HEADER[:-6] + inline("ZZZZZZ1", "far") + "</row>" + customer(2, 1))


def bounded_cli(cli: Cli, *args: str) -> Any:
    """The CLI with its address space capped at 1 GiB: a row padded to ZZZZZZ cannot fit."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run(
        [sys.executable, "-m", "jobport.cli", *args],
        cwd=cli.cwd,
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        preexec_fn=cap,
    )


def test_the_cli_refuses_a_header_past_the_last_column_in_one_line(cli: Cli) -> None:
    (cli.cwd / "far.xlsx").write_bytes(far_header())
    done = bounded_cli(cli, "--executor", "inline", "import", "customers", "far.xlsx")
    assert done.returncode == 1, done.stderr
    assert_one_line_error(done, "the cell reference 'ZZZZZZ1' is not a cell of a sheet")


@pytest.mark.parametrize("ref", ["!1", "abc"])
def test_the_cli_refuses_a_header_reference_that_does_not_parse(cli: Cli, ref: str) -> None:
    header = '<row r="1">' + inline(ref, "id") + "</row>"
    (cli.cwd / "bad.xlsx").write_bytes(crafted_workbook(header + customer(2, 1)))
    done = cli("--executor", "inline", "import", "customers", "bad.xlsx")
    assert done.returncode == 1, done.stderr
    assert_one_line_error(done, f"the cell reference '{ref}'")


@pytest.mark.parametrize("ref", ["!1", "abc"])
def test_the_cli_fails_only_the_row_whose_reference_does_not_parse(cli: Cli, ref: str) -> None:
    damaged = '<row r="3">' + inline(ref, "x") + "</row>"
    data = crafted_workbook(HEADER + customer(2, 1) + damaged + customer(4, 2))
    (cli.cwd / "rows.xlsx").write_bytes(data)
    done = cli("--executor", "inline", "import", "customers", "rows.xlsx", "--json")
    assert "Traceback" not in done.stderr
    run = json.loads(done.stdout)
    assert (run["status"], run["processed"], run["failed"]) == ("completed_with_errors", 3, 1)
    report = cli("failures", run["id"])
    assert report.returncode == 0, report.stderr
    [failure] = list(csv.DictReader(io.StringIO(report.stdout)))
    assert failure["line"] == "3"
    assert f"the cell reference '{ref}'" in failure["error"]


def xlsx_preview(client: Any, csrf: str, data: bytes) -> Any:
    return client.post(
        "/import/preview",
        data={"csrf_token": csrf, "type": "customers"},
        files={"file": ("hostile.xlsx", data, XLSX)},
        follow_redirects=True,
    )


@pytest.mark.parametrize(
    ("rows", "said"),
    [
        ('<row r="1">' + inline("!1", "id") + "</row>" + customer(2, 1), "the cell reference"),
        ('<row r="1">' + inline("abc", "id") + "</row>" + customer(2, 1), "the cell reference"),
        (HEADER[:-6] + inline("ZZZZZZ1", "far") + "</row>" + customer(2, 1), "ZZZZZZ1"),
    ],
    ids=["bang", "abc", "far"],
)
def test_the_dashboard_preview_says_why_a_header_cannot_be_read(
    site: Any,  # noqa: F811 (fixture)
    rows: str,
    said: str,
) -> None:
    csrf = sign_in(site, "bob")
    with peak_memory() as peak:
        shown = xlsx_preview(site, csrf, crafted_workbook(rows))
        used = peak()
    assert shown.status_code < 500, shown.text
    assert said in shown.text
    assert used < 32 * MiB, f"peak {used / MiB:.1f} MiB"


@pytest.mark.parametrize("ref", ["!1", "abc"])
def test_the_dashboard_preview_marks_the_row_whose_reference_does_not_parse(
    site: Any,  # noqa: F811 (fixture)
    ref: str,
) -> None:
    csrf = sign_in(site, "bob")
    damaged = '<row r="3">' + inline(ref, "x") + "</row>"
    shown = xlsx_preview(site, csrf, crafted_workbook(HEADER + customer(2, 1) + damaged))
    assert shown.status_code == 200, shown.text
    assert f"the cell reference &#39;{ref}&#39;" in shown.text or f"'{ref}'" in shown.text
