"""The preview tells the truth: its rows are read and validated as the run's chunks read
them (read options, locale, encoding, field limits, the run's own warnings), and it says
what it noticed: the encoding, and the read options the rows suggest, in words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel
from tests.conftest import MakeJobport

from jobport import Jobport
from jobport.kinds import PlanRequest
from jobport.kinds.importer import Importer
from jobport.kinds.preview import Preview, preview_import
from jobport.registry import JobRegistry, JobType, Limits, NoOptions

#: A customers file from a European Excel: semicolons, decimal commas, day-first dates.
EU_HEADER = "id;email;last_name;country;balance;signup_date;active;age\n"
EU_ROWS = (
    "1;m@example.de;Müller;DE;963,16;31/12/2024;ja;41\n"
    "2;f@example.fr;Dupont;FR;1.234,50;01/02/2024;nein;45\n"
)
EU = {
    "decimal": ",",
    "thousands": ".",
    "date_formats": ["%d/%m/%Y"],
    "true_words": ["ja"],
    "false_words": ["nein"],
}


def preview_of(engine: Jobport, path: Path, type: str = "customers", **request: Any) -> Preview:
    return preview_import(
        PlanRequest(
            job_type=engine.registry.get(type),
            options=NoOptions(),
            files=engine.files,
            database=engine.database,
            source_key=engine.dispatcher.store_path(path),
            format="csv",
            **request,
        )
    )


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "file.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_a_european_file_gets_hints_in_words(tmp_path: Path, make_jobport: MakeJobport) -> None:
    unlikely_age = "3;g@example.de;Graf;DE;1,5;02/01/2024;ja;1.000\n"
    preview = preview_of(make_jobport(), write(tmp_path, EU_HEADER + EU_ROWS + unlikely_age))
    assert preview.hints == [
        "signup_date looks like day-first dates (31/12/2024): import with date_format='%d/%m/%Y'",
        "balance looks like decimal-comma numbers (963,16): import with decimal=',' "
        "and thousands='.'",
        "active holds yes/no words jobport does not read (ja): import with "
        "true_words='ja' and false_words='nein'",
        # pydantic would read 1.000 as one: said before it happens
        "age looks like whole numbers with '.' between thousands (1.000): import with "
        "thousands='.' and decimal=','",
    ]
    errors = preview.rows[0].errors
    assert errors["balance"] == "'963,16' looks like a decimal comma: import with decimal=','"
    assert errors["active"].startswith("'ja' is not a yes/no value: write one of true")


def test_the_preview_reads_with_the_runs_locale(tmp_path: Path, make_jobport: MakeJobport) -> None:
    """The read options reach the preview's validation: rows the run accepts it accepts."""
    engine = make_jobport()
    path = write(tmp_path, EU_HEADER + EU_ROWS)
    preview = preview_of(engine, path, read=EU)
    assert [row.errors for row in preview.rows] == [{}, {}]
    assert preview.hints == []
    run = engine.import_file("customers", path, read=EU)
    assert (run.status, run.failed) == ("completed", 0)


@pytest.mark.parametrize(
    ("dates", "hint"),
    [
        (
            ["12/31/2024", "01/02/2024"],
            "looks like month-first dates (12/31/2024): import with date_format='%m/%d/%Y'",
        ),
        (
            ["01.02.2024", "03.04.2024"],
            "holds dates such as 01.02.2024: import with "
            "date_format='%d.%m.%Y' (day first) or '%m.%d.%Y' (month first)",
        ),
        (["2024-12-31", "2024-01-02"], None),
    ],
)
def test_dates_the_hint_cannot_tell_apart_get_both_formats(
    tmp_path: Path, make_jobport: MakeJobport, dates: list[str], hint: str | None
) -> None:
    rows = "".join(f"{i};e{i}@x.de;X;DE;{day}\n" for i, day in enumerate(dates, start=1))
    preview = preview_of(
        make_jobport(), write(tmp_path, "id;email;last_name;country;signup_date\n" + rows)
    )
    assert preview.hints == ([f"signup_date {hint}"] if hint else [])


def test_the_encoding_is_said(tmp_path: Path, make_jobport: MakeJobport) -> None:
    engine = make_jobport()
    text = "id,email,last_name,country\n1,a@b.fr,François,FR\n2,c@d.de,Weiß,DE\n"
    detected = preview_of(engine, write(tmp_path, text, "cp1252"))
    assert (detected.encoding, detected.encoding_detected) == ("cp1252", True)
    assert [row.values["last_name"] for row in detected.rows] == ["François", "Weiß"]
    assert all(row.valid for row in detected.rows)
    given = preview_of(engine, write(tmp_path, text, "cp1252"), read={"encoding": "latin-1"})
    assert (given.encoding, given.encoding_detected) == ("iso8859-1", False)
    plain = preview_of(engine, write(tmp_path, text))
    assert (plain.encoding, plain.encoding_detected) == ("utf-8", False)


def test_a_field_over_the_limit_fails_in_the_preview_as_in_the_run(
    tmp_path: Path, make_jobport: MakeJobport
) -> None:
    engine = make_jobport()
    text = "id,email,last_name,country\n1,a@b.fr,Short,FR\n2,c@d.de," + "x" * 80 + ",DE\n"
    path = write(tmp_path, text)
    preview = preview_of(engine, path, limits=Limits(max_field_bytes=40))
    run_engine = make_jobport(max_field_bytes=40)
    run = run_engine.import_file("customers", path)
    [failure] = run_engine.store.list_failures(run.id)[0]
    assert preview.rows[0].valid
    assert preview.rows[1].errors == {"": failure["message"]}
    assert "over the limit of 40 bytes" in failure["message"]


class Thing(BaseModel):
    id: int
    email: str


def test_the_preview_says_what_the_run_says_of_its_columns(
    tmp_path: Path, make_jobport: MakeJobport
) -> None:
    """A column placed by a synonym is named in the run's warnings, and so in the preview."""
    table = sa.Table(
        "things",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(100)),
    )
    registry = JobRegistry()
    registry.add(
        JobType(
            type="things",
            label="Things",
            kind="import",
            model=table,
            handler=Importer(row=Thing, key="id", synonyms={"email": ["courriel"]}),
        )
    )
    engine = make_jobport(app=None, registry=registry)
    path = write(tmp_path, "id,courriel,notes\n1,a@b.fr,x\n")
    preview = preview_of(engine, path, "things")
    run = engine.import_file("things", path)
    assert len(run.warnings) == 2
    assert preview.warnings == run.warnings
