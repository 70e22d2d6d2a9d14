"""PostgreSQL: a value its column cannot hold fails its own row from every format.

The same rows as tests/unit/test_capacity_formats.py, landed by the COPY path:
an id over ``integer`` (3,000,000,000, which a spreadsheet's number holds
exactly), a string over ``VARCHAR(5)``, a number over ``NUMERIC(6, 2)``, and
NaN and infinity, which a ``double precision`` column would take but the row
model does not allow. Each fails its row at its line and column; the chunk
and the run go on.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import MakeJobport
from tests.unit.test_capacity_formats import FORMATS, check, registry

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("big", [3_000_000_000, 10**20], ids=["over-integer", "over-bigint"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_value_the_column_cannot_hold_fails_its_row_in_every_format(
    make_jobport: MakeJobport, pg_url: str, tmp_path: Path, fmt: str, big: int
) -> None:
    engine = make_jobport(registry=registry(), database_url=pg_url)
    check(engine, tmp_path, fmt, big)
