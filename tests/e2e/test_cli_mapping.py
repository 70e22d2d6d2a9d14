"""``jobport import`` with a person's headers: the mapping said, ``--map``, strict columns,
and the mapping saved by one run applied to the next, as a user runs the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli import assert_one_line_error, make_cli

#: A file as people send them: no header is a field's own name.
PEOPLE = (
    "Customer Ref,E-mail,First Name,Surname,Country,Score (0-100),Notes\n"
    "1,ada@example.com,Ada,Lovelace,GB,91.5,x\n"
    "2,alan@example.com,Alan,Turing,GB,88,y\n"
)


def test_a_persons_file_imports_with_no_option_then_strict_columns_refuses_it(
    tmp_path: Path,
) -> None:
    cli = make_cli(tmp_path)
    plain = (
        "id,E-mail,First Name,last_name,country,Score (0-100),Notes\n1,a@example.com,Ada,L,GB,9,x\n"
    )
    (tmp_path / "plain.csv").write_text(plain, encoding="utf-8")
    done = cli("--executor", "inline", "import", "customers", "plain.csv", "--json")
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert (run["status"], run["processed"], run["failed"]) == ("completed", 1, 0)
    assert done.stderr.splitlines() == [
        "mapping: id → id, E-mail → email, First Name → first_name, last_name → last_name, "
        "country → country, Score (0-100) → score (fuzzy 95)",
        "warning: 'Score (0-100)' → score (fuzzy 95)",
        "warning: 1 column matches no field of 'customers' and was ignored: Notes",
    ]

    refused = cli("--executor", "inline", "import", "customers", "plain.csv", "--strict-columns")
    assert_one_line_error(refused, "column(s) Notes feed no field of 'customers'")


def test_map_is_used_saved_and_applied_to_the_next_file_with_that_header(
    tmp_path: Path,
) -> None:
    cli = make_cli(tmp_path)
    (tmp_path / "people.csv").write_text(PEOPLE, encoding="utf-8")
    first = cli(
        *("--executor", "inline", "import", "customers", "people.csv", "--json"),
        *("--map", "Customer Ref=id", "--map", "Surname=last_name", "--map", "Notes="),
    )
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["processed"] == 2
    assert first.stderr.splitlines()[0] == (
        "mapping: Customer Ref → id (user), E-mail → email, First Name → first_name, "
        "Surname → last_name (user), Country → country, Score (0-100) → score (fuzzy 95), "
        "Notes → (ignored) (user)"
    )

    (tmp_path / "more.csv").write_text(
        PEOPLE.replace("1,ada", "3,ada").replace("2,alan", "4,alan"), encoding="utf-8"
    )
    second = cli("--executor", "inline", "import", "customers", "more.csv", "--json")
    assert second.returncode == 0, second.stderr
    run = json.loads(second.stdout)
    assert (run["status"], run["processed"]) == ("completed", 2)
    assert "Customer Ref → id (saved)" in second.stderr.splitlines()[0]
    assert any(
        line.startswith("warning: used the mapping saved on ") and line.endswith(" for this header")
        for line in second.stderr.splitlines()
    )
