"""JobType validation, the registry's look-ups and schemas, and loading app modules."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from jobport import (
    ConfigurationError,
    Importer,
    JobportError,
    JobRegistry,
    JobType,
    NoOptions,
    RegistryError,
    UnknownJobType,
    load_app,
)
from jobport.demo import Customer, customers
from jobport.errors import DuplicateJobType

metadata = sa.MetaData()
items = sa.Table(
    "items",
    metadata,
    sa.Column("sku", sa.String(20), primary_key=True),
    sa.Column("price", sa.Numeric(10, 2)),
)


class Item(BaseModel):
    sku: str = Field(description="Stock keeping unit")
    price: float | None = None
    qty: int = 0


class Base(DeclarativeBase):
    pass


class Widget(Base):
    __tablename__ = "widgets"
    id: Mapped[int] = mapped_column(primary_key=True)


def job(**overrides: Any) -> JobType:
    values: dict[str, Any] = {
        "type": "items",
        "label": "Items",
        "kind": "import",
        "model": items,
        "handler": Importer(row=Item, key="sku"),
    }
    values.update(overrides)
    return JobType(**values)


# -- JobType validation ------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "has space", "semi;colon", "slash/type", "dot.ted"])
def test_bad_type_key_is_refused(key: str) -> None:
    with pytest.raises(RegistryError, match="must be letters, digits"):
        job(type=key)


@pytest.mark.parametrize("key", ["items", "Items2", "my-items", "my_items", "a"])
def test_good_type_keys_are_accepted(key: str) -> None:
    assert job(type=key).type == key


def test_bad_kind_is_refused_and_lists_the_kinds() -> None:
    with pytest.raises(RegistryError, match="kind must be one of import, export, sync, report"):
        job(kind="transmogrify")


def test_bad_strategy_is_refused_and_lists_the_strategies() -> None:
    with pytest.raises(RegistryError, match="strategy must be one of polling, websocket, none"):
        job(strategy="carrier-pigeon")


@pytest.mark.parametrize("size", [0, -1])
def test_chunk_size_below_one_is_refused(size: int) -> None:
    with pytest.raises(RegistryError, match="chunk_size must be at least 1"):
        job(chunk_size=size)


def test_max_attempts_below_one_is_refused() -> None:
    with pytest.raises(RegistryError, match="max_attempts"):
        job(max_attempts=0)


def test_registry_errors_are_jobport_errors() -> None:
    with pytest.raises(JobportError):
        job(kind="nope")


def test_model_may_be_a_table_or_an_orm_class() -> None:
    assert job().table is items
    assert job(model=Widget).table is Widget.__table__
    assert job(model=None).table is None


def test_model_of_another_sort_is_refused() -> None:
    with pytest.raises(RegistryError, match="model must be a Table or an ORM class"):
        _ = job(model="items").table


# -- the registry -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("people.XLSX", "xlsx"),  # the suffix picks a format the type takes, in any case
        ("people.tsv", "csv"),  # another suffix of the CSV reader
        ("people.parquet", "csv"),  # a format the type does not take: its first
        ("people", "csv"),
        (None, "csv"),
    ],
)
def test_a_files_name_suggests_a_format_the_type_takes(name: str | None, expected: str) -> None:
    """The one rule every face and the dispatcher read a file's format by."""
    assert job(formats=("csv", "xlsx")).format_for(name) == expected


def test_duplicate_registration_is_refused() -> None:
    registry = JobRegistry()
    registry.add(job())
    with pytest.raises(DuplicateJobType, match="'items' is registered twice"):
        registry.add(job(label="Other label"))
    assert registry.get("items").label == "Items"
    assert len(registry) == 1


def test_unknown_type_lists_the_known_types() -> None:
    registry = JobRegistry()
    registry.add(job(type="zeta"))
    registry.add(job(type="alpha"))
    with pytest.raises(UnknownJobType) as caught:
        registry.get("gamma")
    assert caught.value.message == "unknown job type 'gamma'; known types: alpha, zeta"
    assert caught.value.status_code == 404


def test_unknown_type_in_an_empty_registry_says_none_registered() -> None:
    with pytest.raises(UnknownJobType, match="none registered"):
        JobRegistry().get("anything")


def test_lookups_by_type() -> None:
    importer = Importer(row=Item, key="sku")
    registry = JobRegistry()
    registry.add(job(handler=importer, broadcast=False))
    registry.add(job(type="widgets", model=Widget, kind="export", handler=object()))
    assert registry.kind("items") == "import"
    assert registry.kind("widgets") == "export"
    assert registry.job("items") is importer
    assert registry.model("items") is items
    assert registry.model("widgets") is Widget.__table__
    assert registry.should_broadcast("items") is False
    assert registry.should_broadcast("widgets") is True
    assert "items" in registry
    assert "nope" not in registry
    for lookup in (registry.kind, registry.job, registry.model, registry.should_broadcast):
        with pytest.raises(UnknownJobType):
            lookup("nope")


def test_grouped_by_kind_keeps_every_kind_and_registration_order() -> None:
    registry = JobRegistry()
    registry.add(job(type="b-import"))
    registry.add(job(type="report-1", kind="report", handler=None))
    registry.add(job(type="a-import"))
    registry.add(job(type="export-1", kind="export", handler=None))
    grouped = registry.grouped()
    assert list(grouped) == ["import", "export", "sync", "report"]
    assert [t.type for t in grouped["import"]] == ["b-import", "a-import"]
    assert [t.type for t in grouped["export"]] == ["export-1"]
    assert grouped["sync"] == []
    assert [t.type for t in grouped["report"]] == ["report-1"]
    assert [t.type for t in registry.of_kind("export", "report")] == ["report-1", "export-1"]


def test_listeners_are_kept_in_order_and_listen_works_as_a_decorator() -> None:
    registry = JobRegistry()
    calls: list[str] = []

    @registry.listen
    def first(event: object) -> None:
        calls.append("first")

    def second(event: object) -> None:
        calls.append("second")

    registry.listen(second)
    assert registry.listeners == [first, second]
    assert first.__name__ == "first"  # the decorator returns the function itself


# -- schemas ------------------------------------------------------------------------------------


def test_default_options_schema_refuses_anything() -> None:
    schema = job().options_json_schema()
    assert schema["additionalProperties"] is False
    assert schema.get("properties", {}) == {}
    assert job().options is NoOptions


def test_options_schema_comes_from_the_options_model() -> None:
    class Options(BaseModel):
        limit: int = Field(ge=1)
        dry_run: bool = False

    schema = job(options=Options).options_json_schema()
    assert schema["required"] == ["limit"]
    assert schema["properties"]["limit"]["minimum"] == 1
    assert schema["properties"]["dry_run"]["default"] is False


def test_row_json_schema_is_the_row_model_schema() -> None:
    schema = job().row_json_schema()
    assert schema is not None
    assert set(schema["properties"]) == {"sku", "price", "qty"}
    assert schema["required"] == ["sku"]
    assert job(handler=object()).row_json_schema() is None


def test_columns_name_type_required_and_description() -> None:
    assert job().columns() == [
        {"name": "sku", "type": "string", "required": True, "description": "Stock keeping unit"},
        {"name": "price", "type": "number", "required": False, "description": ""},
        {"name": "qty", "type": "integer", "required": False, "description": ""},
    ]


def test_columns_of_the_demo_customers_type() -> None:
    columns = {c["name"]: c for c in job(handler=Importer(row=Customer, key="id")).columns()}
    assert list(columns) == list(Customer.model_fields)
    assert columns["id"]["type"] == "integer"
    assert columns["id"]["required"] is True
    assert columns["signup_date"]["type"] == "string:date"
    assert columns["signup_date"]["required"] is False
    assert columns["active"]["type"] == "boolean"
    assert columns["country"]["description"] == "ISO 3166 alpha-2 code"


def test_columns_without_a_row_model_is_empty() -> None:
    assert job(handler=object()).columns() == []


def test_summary_names_the_table() -> None:
    summary = job(model=customers, roles=frozenset({"b", "a"})).summary()
    assert summary["model"] == "customers"
    assert summary["roles"] == ["a", "b"]
    assert summary["formats"] == ["csv"]


# -- loading an app -----------------------------------------------------------------------------


def test_load_app_by_module_finds_its_registry() -> None:
    registry = load_app("tests.apps.people")
    assert "people" in registry
    assert registry.get("people").origin == "tests.apps.people"
    assert registry.get("people-options").roles == frozenset({"importer", "admin"})


def test_load_app_returns_a_copy() -> None:
    from tests.apps import people

    loaded = load_app("tests.apps.people")
    loaded.add(job(type="extra"))
    assert "extra" not in people.registry


def test_load_app_by_attribute() -> None:
    registry = load_app("tests.apps.factory:other")
    assert [t.type for t in registry] == ["other-things"]


def test_load_app_by_attribute_calls_a_factory() -> None:
    registry = load_app("tests.apps.factory:make_registry")
    assert [t.type for t in registry] == ["things"]
    assert registry.get("things").origin == "tests.apps.factory:make_registry"


def test_load_app_of_the_demo() -> None:
    demo = load_app("jobport.demo")
    assert demo.get("customers").kind == "import"
    assert demo.model("customers") is customers


def test_module_without_registry_is_a_clear_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_app("tests.apps.no_registry")
    message = caught.value.message
    assert "'tests.apps.no_registry' holds no JobRegistry" in message
    assert "registry = JobRegistry()" in message
    assert caught.value.exit_code == 2


def test_attribute_that_is_no_registry_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="holds no JobRegistry"):
        load_app("tests.apps.factory:not_a_registry")
    with pytest.raises(ConfigurationError, match="holds no JobRegistry"):
        load_app("tests.apps.factory:missing_attribute")


def test_module_that_cannot_be_imported_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"cannot import app module 'tests\.apps\.nope'"):
        load_app("tests.apps.nope")
