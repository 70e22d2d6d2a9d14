"""Templates: an import type's columns in model order, required ones marked, an example row
from the row model that imports as it is."""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pytest
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from python_calamine import CalamineWorkbook
from tests.conftest import MakeJobport

from jobport import Importer, JobRegistry, JobType, StartRequest
from jobport.demo import Customer, customers
from jobport.demo import registry as demo_registry
from jobport.errors import InputError
from jobport.kinds.template import TemplateNotFound, build_template, template_columns


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Gadget(BaseModel):
    """Every kind of field, none with an example but ``code`` and ``label``."""

    model_config = ConfigDict(use_enum_values=True)

    code: str = Field(examples=["G-1"], description="The gadget's code.")
    label: str = Field(json_schema_extra={"examples": ["Sprocket"]})
    made_on: dt.date
    checked_at: dt.datetime | None = None
    count: int = Field(ge=5, le=9)
    weight: float = Field(gt=0)
    price: Decimal | None = Field(default=None, max_digits=6, decimal_places=2)
    size: Literal["S", "M", "L"] = "M"
    colour: Colour | None = None
    fragile: bool = False
    note: str | None = Field(default=None, min_length=12, max_length=20)


gadgets = sa.Table(
    "gadgets",
    sa.MetaData(),
    sa.Column("code", sa.String(20), primary_key=True),
    sa.Column("label", sa.String(50)),
    sa.Column("made_on", sa.Date),
    sa.Column("checked_at", sa.DateTime),
    sa.Column("count", sa.Integer),
    sa.Column("weight", sa.Float),
    sa.Column("price", sa.Numeric(6, 2)),
    sa.Column("size", sa.String(1)),
    sa.Column("colour", sa.String(10)),
    sa.Column("fragile", sa.Boolean),
    sa.Column("note", sa.String(20)),
)


def gadget_registry() -> JobRegistry:
    registry = JobRegistry()
    registry.add(
        JobType(
            type="gadgets",
            label="Gadgets",
            kind="import",
            model=gadgets,
            handler=Importer(row=Gadget, key="code"),
            formats=("csv", "xlsx"),
        )
    )
    return registry


def customers_id_description() -> str:
    return Customer.model_fields["id"].description or ""


def test_columns_come_in_model_order_with_examples_or_placeholders() -> None:
    columns = template_columns(Gadget)
    assert [c.name for c in columns] == list(Gadget.model_fields)
    assert {c.name: c.required for c in columns} == {
        name: info.is_required() for name, info in Gadget.model_fields.items()
    }
    assert {c.name: c.example for c in columns} == {
        "code": "G-1",  # Field(examples=...)
        "label": "Sprocket",  # json_schema_extra={"examples": ...}
        "made_on": "2024-12-31",
        "checked_at": "2024-12-31T12:00:00",
        "count": 5,  # 0, raised to the minimum
        "weight": 0.5,  # over an exclusive minimum of 0
        "price": 0,
        "size": "S",
        "colour": "red",
        "fragile": True,
        "note": "Notexxxxxxxx",  # the field's name, padded to its minimum length
    }
    kinds = {c.name: c.kind for c in columns}
    assert kinds["count"] == "whole number, at least 5, at most 9"
    assert kinds["size"] == "one of: S, M, L"
    assert columns[0].description == "The gadget's code."


def test_the_csv_template_is_the_header_and_the_example_row() -> None:
    template = build_template(demo_registry.get("customers"), "csv")
    assert (template.filename, template.media_type) == (
        "customers-template.csv",
        "text/csv; charset=utf-8",
    )
    rows = list(csv.reader(io.StringIO(template.content.decode("utf-8"))))
    assert rows == [
        [c.name for c in customers.c],
        [
            "1",
            "ada@example.com",
            "Ada",
            "Lovelace",
            "GB",
            "2024-12-31",
            "120.50",
            "true",
            "18",
            "0",
        ],
    ]


def test_the_xlsx_template_marks_required_columns_and_describes_each(tmp_path: Path) -> None:
    template = build_template(demo_registry.get("customers"), "XLSX")
    path = tmp_path / template.filename
    path.write_bytes(template.content)
    book = CalamineWorkbook.from_path(str(path))
    assert book.sheet_names == ["Customers", "About"]
    data = book.get_sheet_by_name("Customers").to_python()
    assert data[0] == [c.name for c in customers.c]
    about = book.get_sheet_by_name("About").to_python()
    assert about[2] == ["Column", "Required", "Holds", "Description"]
    assert about[3] == [
        "id",
        "yes",
        "whole number, at least 1",
        "Customer number; rows are matched on it.",
    ]
    assert about[5][:2] == ["first_name", "no"]
    with zipfile.ZipFile(io.BytesIO(template.content)) as archive:
        comments = archive.read("xl/comments1.xml").decode()
    assert "Required: whole number, at least 1." in comments
    assert "Optional: date (YYYY-MM-DD)." in comments


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("app", ["demo", "gadgets"])
def test_the_template_imports_as_it_is(
    make_jobport: MakeJobport, tmp_path: Path, fmt: str, app: str
) -> None:
    """The example row validates and is stored: examples where given, placeholders else."""
    engine = make_jobport() if app == "demo" else make_jobport(app=None, registry=gadget_registry())
    type_ = "customers" if app == "demo" else "gadgets"
    template = build_template(engine.registry.get(type_), fmt)
    path = tmp_path / template.filename
    path.write_bytes(template.content)
    run = engine.start(StartRequest(type=type_, source_name=path.name), path=path)
    run = engine.run(run.id)
    assert (run.status, run.total, run.failed) == ("completed", 1, 0), run.error
    table = engine.registry.get(type_).table
    assert table is not None
    with engine.database.connect() as conn:
        [stored] = conn.execute(sa.select(table)).mappings().all()
    expected: dict[str, Any] = (
        {"id": 1, "email": "ada@example.com", "balance": Decimal("120.50"), "active": True}
        if app == "demo"
        else {"code": "G-1", "made_on": dt.date(2024, 12, 31), "count": 5, "colour": "red"}
    )
    assert {k: stored[k] for k in expected} == expected


def test_only_import_types_have_templates_in_the_formats_they_take() -> None:
    with pytest.raises(TemplateNotFound, match="'customers-export' is an export type"):
        build_template(demo_registry.get("customers-export"), "csv")
    with pytest.raises(InputError, match="a template comes as csv or xlsx, not 'jsonl'"):
        build_template(demo_registry.get("customers"), "jsonl")
    only_csv = JobType(
        type="csv-only",
        label="CSV only",
        kind="import",
        model=gadgets,
        handler=Importer(row=Gadget, key="code"),
    )
    with pytest.raises(InputError, match="'csv-only' takes csv files; its template comes as csv"):
        build_template(only_csv, "xlsx")
