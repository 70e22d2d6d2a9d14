"""``jobport export`` and ``report`` choose the format from ``--out`` as ``template`` does.

Without ``--format``, the extension of ``--out`` names the format (one the
type does not write is refused, naming those it writes); a ``--format`` the
extension contradicts is refused, saying both and how to make them agree.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from tests.e2e.test_cli import make_cli

from jobport.cli.exports import chosen_format
from jobport.demo import customers
from jobport.demo.exports import customers_export_type
from jobport.errors import InputError

EXPORT = customers_export_type(customers)


@pytest.mark.parametrize(
    ("fmt", "out", "chosen"),
    [
        (None, None, None),  # the type's own format, the file named after it
        (None, "plain", None),  # no extension: the type's own format
        (None, "guess.xlsx", "xlsx"),
        (None, "GUESS.XLSX", "xlsx"),
        (None, "rows.ndjson", "jsonl"),
        (None, "rows.txt", "csv"),
        ("xlsx", None, "xlsx"),
        ("xlsx", "book.xlsx", "xlsx"),
        ("csv", "dump.dat", "csv"),  # an extension no format claims says nothing
    ],
)
def test_the_format_is_the_one_given_or_the_one_out_names(
    fmt: str | None, out: str | None, chosen: str | None
) -> None:
    assert chosen_format(EXPORT, fmt, None if out is None else Path(out)) == chosen


def test_an_extension_the_type_does_not_write_is_refused_naming_its_formats() -> None:
    with pytest.raises(InputError) as refused:
        chosen_format(EXPORT, None, Path("guess.pdf"))
    message = refused.value.message
    assert "--out guess.pdf" in message
    assert "csv, xlsx, jsonl, parquet" in message
    assert "--format" in message


def test_a_format_the_type_does_not_write_by_extension_is_refused() -> None:
    only_csv = replace(EXPORT, type="orders-export", formats=("csv",))
    with pytest.raises(InputError) as refused:
        chosen_format(only_csv, None, Path("orders.xlsx"))
    assert "'orders-export' does not write .xlsx files; its formats: csv" in refused.value.message


def test_a_format_the_out_extension_contradicts_is_refused_saying_both() -> None:
    with pytest.raises(InputError) as refused:
        chosen_format(EXPORT, "xlsx", Path("out.csv"))
    message = refused.value.message
    assert "--format xlsx" in message
    assert "--out out.csv" in message
    assert "out.xlsx" in message  # how to fix it: an --out of the format asked for
    assert "without --format" in message  # or the format --out names


@pytest.mark.e2e
def test_export_writes_the_format_its_out_names(tmp_path: Path) -> None:
    cli = make_cli(tmp_path)
    done = cli("--executor", "inline", "export", "customers-export", "--out", "guess.xlsx")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "guess.xlsx").read_bytes()[:2] == b"PK"  # a zip: an XLSX workbook
    refused = cli(
        "--executor", "inline", "export", "customers-export", "-f", "xlsx", "--out", "o.csv"
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: --format xlsx")
    assert not (tmp_path / "o.csv").exists()
