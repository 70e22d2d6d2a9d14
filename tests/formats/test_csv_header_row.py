"""CSV with title lines above the header: ``header_row`` skips them, and lines keep their
numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.formats.support import read_all, stored

from jobport.errors import InputError
from jobport.files import FileStore

REPORT = 'Customers, March\n\n"a note\nover two lines"\nid;name\n1;Ada\n2;Grace\n'


def test_the_header_on_a_later_line_is_read_and_lines_keep_their_numbers(
    files: FileStore, tmp_path: Path
) -> None:
    path = tmp_path / "report.csv"
    path.write_text(REPORT, encoding="utf-8")
    header, records, _ = read_all(files, "csv", stored(files, path), header_row=5)
    assert header == ["id", "name"]  # the delimiter sniffed on the header's line
    assert records == [(6, ["1", "Ada"]), (7, ["2", "Grace"])]


def test_a_header_row_past_the_end_is_refused(files: FileStore, tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text("id\n1\n", encoding="utf-8")
    with pytest.raises(InputError, match="the file has no line 9: there is no header there"):
        read_all(files, "csv", stored(files, path), header_row=9)
