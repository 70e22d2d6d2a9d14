"""``jobport import`` of files as European spreadsheets write them, as a user runs the CLI:
a semicolon CSV with decimal commas and day-first dates, and a cp1252 export."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from tests.e2e.test_cli import make_cli

from jobport.store import make_engine


def stored(database_url: str) -> list[Any]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    sa.text("SELECT id, last_name, balance, signup_date FROM customers ORDER BY id")
                )
            )
    finally:
        engine.dispose()


def test_a_european_excel_csv_imports_with_its_locale(tmp_path: Path) -> None:
    cli = make_cli(tmp_path)
    (tmp_path / "kunden.csv").write_text(
        "id;email;last_name;country;balance;signup_date\n"
        "1;m@example.de;Müller;DE;963,16;31/12/2024\n"
        "2;f@example.fr;Dupont;FR;1.234,50;01/02/2024\n",
        encoding="utf-8",
    )
    done = cli(
        *("--executor", "inline", "import", "customers", "kunden.csv", "--json"),
        *("--decimal", ",", "--thousands", ".", "--date-format", "%d/%m/%Y"),
    )
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert (run["status"], run["processed"], run["failed"]) == ("completed", 2, 0)
    rows = [(r[0], r[1], Decimal(str(r[2])), str(r[3])) for r in stored(cli.database_url)]
    assert rows == [
        (1, "Müller", Decimal("963.16"), "2024-12-31"),
        (2, "Dupont", Decimal("1234.50"), "2024-02-01"),
    ]


def test_a_cp1252_export_imports_with_no_option(tmp_path: Path) -> None:
    cli = make_cli(tmp_path)
    (tmp_path / "export.csv").write_bytes(
        "id,email,last_name,country\n1,f@example.fr,François,FR\n2,p@example.es,Peña €,ES\n".encode(
            "cp1252"
        )
    )
    done = cli("--executor", "inline", "import", "customers", "export.csv", "--json")
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert (run["status"], run["failed"]) == ("completed", 0)
    assert [r[1] for r in stored(cli.database_url)] == ["François", "Peña €"]
    layout = run["params"]["layout"]  # the run keeps how its file was read
    assert (layout["file_encoding"], layout["encoding_detected"]) == ("cp1252", True)
