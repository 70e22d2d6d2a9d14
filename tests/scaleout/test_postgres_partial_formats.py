"""PostgreSQL: a file with fewer columns updates only those, from every format.

tests/unit/test_import_updates.py's check of CSV, XLSX, JSON Lines and
Parquet files of ``id,email,last_name,country`` over a full customers table,
run against PostgreSQL, where the rows land by COPY and the existing keys by
the staging table's merge.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import MakeJobport
from tests.unit import test_import_updates as updates

from jobport import Jobport
from jobport.targets import pgcopy

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl", "parquet"])
def test_a_file_with_fewer_columns_updates_only_those_on_postgres(
    make_jobport: MakeJobport, pg_url: str, tmp_path: Path, fmt: str
) -> None:
    def on_postgres(**overrides: object) -> Jobport:
        return make_jobport(database_url=pg_url, **overrides)

    pgcopy._conflicts.clear()
    updates.test_a_file_with_fewer_columns_updates_only_those(on_postgres, tmp_path, fmt)
    assert pgcopy._conflicts, "the existing key went through the staging merge"
