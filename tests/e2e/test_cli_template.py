"""``jobport template`` as a user runs it: the file written, its format from ``--out``, and a
type without a template refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook
from tests.e2e.test_cli import assert_one_line_error, make_cli

pytestmark = pytest.mark.e2e


def test_the_template_command_writes_the_file_and_refuses_an_export_type(tmp_path: Path) -> None:
    cli = make_cli(tmp_path)
    done = cli("template", "customers", "--out", "to-fill.xlsx")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("wrote to-fill.xlsx (")
    book = CalamineWorkbook.from_path(str(tmp_path / "to-fill.xlsx"))
    assert book.sheet_names == ["Customers", "About"]
    assert book.get_sheet_by_index(0).to_python()[0][:2] == ["id", "email"]

    refused = cli("template", "customers-export", "--format", "csv")
    assert_one_line_error(refused, "'customers-export' is an export type")
    assert not (tmp_path / "customers-export-template.csv").exists()
