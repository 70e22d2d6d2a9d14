"""A job type may name its table by TableRef: imported on first use, checked when it is."""

from __future__ import annotations

import pytest

from jobport.demo import CUSTOMERS, Customer, registry
from jobport.errors import RegistryError
from jobport.kinds import Importer
from jobport.registry import JobType, TableRef


def test_the_demo_types_name_their_tables_and_give_them_when_asked() -> None:
    from jobport.demo import customers
    from jobport.demo.sync_source import orders

    tables = {t.type: (t.summary()["model"], t.table) for t in registry}
    assert tables == {
        "customers": ("customers", customers),
        "customers-export": ("customers", customers),
        "orders": ("orders", orders),
        "sales-report": ("orders", orders),
    }
    assert list(Customer.model_fields) == [c.name for c in customers.c]


@pytest.mark.parametrize(
    ("where", "problem"),
    [
        ("jobport.demo.tables:orders", "is the table 'orders', not 'customers'"),
        ("jobport.demo.tables:no_such_table", "cannot load jobport.demo.tables:no_such_table"),
        ("jobport.no_such_module:customers", "cannot load jobport.no_such_module"),
        ("jobport.demo:EMAIL_PATTERN", "is not a Table nor an ORM class"),
    ],
)
def test_a_wrong_reference_is_refused_when_its_table_is_first_needed(
    where: str, problem: str
) -> None:
    job_type = JobType(
        type="people",
        label="People",
        kind="import",
        model=TableRef("customers", where),
        handler=Importer(row=Customer, key="id"),
    )
    assert job_type.summary()["model"] == "customers"  # declared and listed: not loaded
    with pytest.raises(RegistryError, match=problem):
        _ = job_type.table


def test_a_table_ref_loads_its_table_once() -> None:
    assert CUSTOMERS.table is CUSTOMERS.table
