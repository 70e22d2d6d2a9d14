"""Fix-and-retry in rounds: each round's error report imports again and says what is wrong now."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.hardening.support import (
    DEMO_COLUMNS,
    DEMO_HEADER,
    customer,
    failures,
    import_bytes,
    make_engine,
)

from jobport import Jobport, StartRequest
from jobport.kinds.columns import is_report_column
from jobport.reports import write_report


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Jobport]:
    jobport = make_engine(tmp_path)
    yield jobport
    jobport.close()


def report(engine: Jobport, run_id: str) -> list[dict[str, str]]:
    out = io.StringIO()
    write_report(engine.store, engine.run(run_id), out)
    out.seek(0)
    reader = csv.DictReader(out)
    assert reader.fieldnames is not None
    assert len(reader.fieldnames) == len(set(reader.fieldnames)), reader.fieldnames
    return list(reader)


def as_file(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def test_each_round_of_fixes_has_one_error_column_saying_what_is_wrong_now(
    engine: Jobport, tmp_path: Path
) -> None:
    first = import_bytes(engine, tmp_path, DEMO_HEADER + customer(1) + customer(2, age="7"))
    assert failures(engine, first.id) == [(3, "age: must be at least 18")]

    # Round 1: the age is fixed, the country broken instead.
    [row] = report(engine, first.id)
    assert (row["line"], row["error"]) == ("3", "age: must be at least 18")
    row.update(age="40", country="ZZ")
    second = import_bytes(engine, tmp_path, as_file([row]), retry_of=first.id)
    assert second.warnings == []  # the report's own columns are not news
    [row] = report(engine, second.id)
    assert list(row)[-2:] == ["line", "error"]
    assert [name for name in row if is_report_column(name)] == ["line", "error"]
    assert (row["line"], row["error"]) == (
        "2",
        "country: 'ZZ' is not an ISO 3166 alpha-2 country code",
    )

    # Round 2: fixed; the report of round 1 imports again (it was refused: two
    # jobport_line columns) and completes the retry.
    row.update(country="GB")
    third = import_bytes(engine, tmp_path, as_file([row]), retry_of=second.id)
    assert (third.status, third.failed, third.processed) == ("completed", 0, 1)


def test_a_report_comes_back_even_with_strict_columns(engine: Jobport, tmp_path: Path) -> None:
    first = import_bytes(engine, tmp_path, DEMO_HEADER + customer(1, age="7"))
    [row] = report(engine, first.id)
    row["age"] = "40"
    again = import_bytes(
        engine, tmp_path, as_file([row]), retry_of=first.id, read={"strict_columns": True}
    )
    assert (again.status, again.failed) == ("completed", 0)


def test_which_names_are_report_columns() -> None:
    assert is_report_column(" Error ")
    assert is_report_column("jobport_line")
    assert is_report_column("error (the first 1,000 of 5,000 failures)")
    assert not is_report_column("errors")
    assert not is_report_column("line_no")


def test_a_semicolon_file_gets_its_report_in_semicolons(engine: Jobport, tmp_path: Path) -> None:
    """A European Excel writes semicolons and splits only those into columns: the report
    it opens to fix comes back in the file's own delimiter, and imports again."""
    lines = [DEMO_HEADER, customer(1, last_name="Müller"), customer(2, age="7")]
    data = b"".join(line.replace(b",", b";") for line in lines)
    first = import_bytes(engine, tmp_path, data)
    out = io.StringIO()
    write_report(engine.store, engine.run(first.id), out)
    text = out.getvalue()
    assert text.splitlines()[0] == ";".join([*DEMO_COLUMNS, "line", "error"])
    [row] = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert (row["last_name"], row["age"], row["line"]) == ("Lovelace", "7", "3")
    row["age"] = "40"
    fixed = io.StringIO()
    writer = csv.DictWriter(fixed, fieldnames=list(row), delimiter=";")
    writer.writeheader()
    writer.writerow(row)
    again = import_bytes(engine, tmp_path, fixed.getvalue().encode(), retry_of=first.id)
    assert (again.status, again.failed, again.processed) == ("completed", 0, 1)


def test_a_sync_report_carries_the_values_of_its_rows(engine: Jobport) -> None:
    """A sync reads no file, so it has no header: its report's columns are its rows'."""
    run = engine.run(engine.start(StartRequest(type="orders", options={"count": 1000})).id)
    assert run.failed > 0
    rows = report(engine, run.id)
    assert len(rows) == run.failed
    assert list(rows[0])[-2:] == ["line", "error"]
    assert {"id", "customer_id", "amount"} <= set(rows[0])
    assert all(row["id"] for row in rows)
