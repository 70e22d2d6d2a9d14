"""An export imported back: the neutralised text cells store the values they were made of."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import MakeJobport
from tests.kinds.support import result_bytes

from jobport import StartRequest
from jobport.demo import customers

#: Last names a spreadsheet would run, one already behind an apostrophe.
LAST_NAMES = ["=1+1", "+33 1 23", "-dash", "@SUM(A1)", "'=quoted", "O'Brien", "plain"]
BALANCES = ["-3.50", "-0.01", "12.00", "-100.25", "0.00", "7.10", "-1.00"]


def stored_customers(engine: Any) -> dict[int, tuple[str | None, str, Decimal | None]]:
    with engine.database.connect() as conn:
        rows = conn.execute(
            sa.select(
                customers.c.id, customers.c.first_name, customers.c.last_name, customers.c.balance
            )
        )
        return {row.id: (row.first_name, row.last_name, row.balance) for row in rows}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_imported_back_stores_the_same_values(
    make_jobport: MakeJobport, tmp_path: Path, fmt: str
) -> None:
    engine = make_jobport()
    with engine.database.begin() as conn:
        conn.execute(
            customers.insert(),
            [
                {
                    "id": n,
                    "email": f"c{n}@example.com",
                    "first_name": "=x" if n % 2 else None,
                    "last_name": last,
                    "country": "FR",
                    "balance": Decimal(balance),
                    "active": True,
                }
                for n, (last, balance) in enumerate(zip(LAST_NAMES, BALANCES, strict=True), 1)
            ],
        )
    before = stored_customers(engine)

    export = engine.run(engine.start(StartRequest(type="customers-export", format=fmt)).id)
    exported = tmp_path / f"export.{fmt}"
    exported.write_bytes(result_bytes(engine, export))
    with engine.database.begin() as conn:
        conn.execute(customers.delete())
    again = engine.import_file("customers", exported)
    assert (again.status, again.failed) == ("completed", 0), again.error
    after = stored_customers(engine)
    assert after == before
    assert [after[n][1] for n in range(1, 8)] == LAST_NAMES
    assert [after[n][2] for n in range(1, 8)] == [Decimal(b) for b in BALANCES]
