"""Content sniffing: the file's bytes decide its format, never its name.

A file whose content does not match the format it was sent as is refused
before any row is read, with a message saying what it looks like.
"""

from __future__ import annotations

import gzip
import io
import random
import zipfile
from pathlib import Path

import pytest
import xlsxwriter
from tests.hardening.support import (
    DEMO_HEADER,
    customer,
    ids,
    import_bytes,
    make_engine,
    notes_registry,
    table,
    uploads,
)

from jobport import Jobport
from jobport.errors import InputError
from jobport.formats import sniff_format

CSV = DEMO_HEADER + customer(1) + customer(2)
REFUSED_PREFIX = "the file was sent as CSV but its content "
REFUSED_SUFFIX = "; send it with the matching format"


def noise(size: int = 16_384, seed: int = 8) -> bytes:
    return random.Random(seed).randbytes(size)


def xlsx_bytes() -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet()
    rows = [DEMO_HEADER.decode().strip().split(","), customer(1).decode().strip().split(",")]
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write_string(r, c, value)
    book.close()
    return out.getvalue()


def gzipped_csv() -> bytes:
    """A gzipped CSV of 2,000 rows: compressed data holds few NUL bytes."""
    return gzip.compress(DEMO_HEADER + b"".join(customer(i) for i in range(2_000)), mtime=0)


def zip_of_csv() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("customers.csv", CSV)
    return out.getvalue()


# -- the name does not decide ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["customers.csv", "photo.png", "no-extension", "archive.tar.gz", "data.txt", "x.CSV"]
)
def test_csv_content_is_imported_whatever_its_name(
    engine: Jobport, tmp_path: Path, name: str
) -> None:
    run = import_bytes(engine, tmp_path, CSV, name=name)
    assert run.status == "completed"
    assert run.format == "csv"
    assert run.source_name == name
    assert ids(engine) == [1, 2]


@pytest.mark.parametrize(("name", "format"), [("customers.xlsx", "xlsx"), ("x.parquet", "parquet")])
def test_a_name_naming_another_accepted_format_is_checked_against_the_bytes(
    engine: Jobport, tmp_path: Path, name: str, format: str
) -> None:
    """With no format given, the name's extension is taken as the declared format: the
    content must agree with it, and a mismatch is refused naming what the bytes look like."""
    run = import_bytes(engine, tmp_path, CSV, name=name)
    assert run.status == "failed"
    assert run.error == (
        f"the file was sent as {format.upper()} but its content looks like CSV; "
        "name it .csv or send it with format=csv"
    )
    assert table(engine) == []


def test_an_explicit_format_wins_over_the_name(engine: Jobport, tmp_path: Path) -> None:
    run = import_bytes(engine, tmp_path, CSV, name="customers.xlsx", format="csv")
    assert run.status == "completed"
    assert ids(engine) == [1, 2]


# -- binary content sent as CSV ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "advice"),
    [
        pytest.param(xlsx_bytes, "; name it .xlsx or send it with format=xlsx", id="xlsx"),
        pytest.param(zip_of_csv, REFUSED_SUFFIX, id="zip-holding-a-csv"),
        pytest.param(
            lambda: b"PAR1" + noise() + b"PAR1",
            "; name it .parquet or send it with format=parquet",
            id="parquet",
        ),
        pytest.param(
            lambda: b"\x7fELF\x02\x01\x01" + b"\x00" * 64 + noise(), REFUSED_SUFFIX, id="elf"
        ),
        pytest.param(
            lambda: "id,email\n1,a@example.com\n".encode("utf-16-le"),
            REFUSED_SUFFIX,
            id="utf16-no-bom",
        ),
    ],
)
def test_binary_content_sent_as_csv_is_refused_as_binary(
    engine: Jobport, tmp_path: Path, content: object, advice: str
) -> None:
    """A format the bytes look like is named with the way to send it as that."""
    assert callable(content)
    run = import_bytes(engine, tmp_path, content(), name="customers.csv")
    assert run.status == "failed"
    assert run.error is not None
    assert run.error.startswith(REFUSED_PREFIX)
    assert run.error.endswith(advice)
    assert run.chunks_total == 0
    assert table(engine) == []


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(gzipped_csv, id="gzip"),
        pytest.param(lambda: b"\x89PNG\r\n\x1a\n" + noise(), id="png"),
        pytest.param(lambda: b"\xff\xd8\xff\xe0" + noise(), id="jpeg"),
        pytest.param(lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + noise(), id="pdf"),
    ],
)
def test_compressed_and_image_content_is_refused(
    engine: Jobport, tmp_path: Path, content: object
) -> None:
    """Binary formats with few NUL bytes are refused too (as a bad header): nothing is written."""
    assert callable(content)
    run = import_bytes(engine, tmp_path, content(), name="customers.csv")
    assert run.status == "failed"
    assert run.error
    assert run.chunks_total == 0
    assert table(engine) == []


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(gzipped_csv, id="gzip"),
        pytest.param(lambda: b"\x89PNG\r\n\x1a\n" + noise(), id="png"),
        pytest.param(lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + noise(), id="pdf"),
    ],
)
def test_compressed_and_image_content_is_named_as_binary(
    engine: Jobport, tmp_path: Path, content: object
) -> None:
    assert callable(content)
    run = import_bytes(engine, tmp_path, content(), name="customers.csv")
    assert run.status == "failed"
    assert run.error is not None
    assert run.error.startswith(REFUSED_PREFIX)


def test_sniff_format_reads_the_bytes() -> None:
    assert sniff_format(CSV) == "csv"
    assert sniff_format(zip_of_csv()) != "csv"
    assert sniff_format(b"PAR1\x00\x00\x00") != "csv"


# -- a declared format the type does not accept ------------------------------------------------


def test_format_the_type_does_not_accept_is_refused_before_storing(tmp_path: Path) -> None:
    with make_engine(tmp_path, app=None, registry=notes_registry()) as engine:
        with pytest.raises(InputError) as refused:
            import_bytes(engine, tmp_path, xlsx_bytes(), "notes", name="n.xlsx", format="xlsx")
        assert refused.value.message == "format 'xlsx' is not accepted by 'notes'; use one of: csv"
        assert uploads(tmp_path) == []
        assert engine.store.list_runs()[1] == 0


@pytest.mark.parametrize(
    ("declared", "content", "looks_like"),
    [
        pytest.param("xlsx", lambda: CSV, "looks like CSV", id="csv-sent-as-xlsx"),
        pytest.param("parquet", lambda: CSV, "looks like CSV", id="csv-sent-as-parquet"),
        pytest.param("csv", xlsx_bytes, "looks like XLSX", id="xlsx-sent-as-csv"),
        pytest.param("xlsx", lambda: b"PAR1" + noise() + b"PAR1", "looks like PARQUET", id="pq"),
        pytest.param("jsonl", lambda: CSV, "looks like CSV", id="csv-sent-as-jsonl"),
        pytest.param("xlsx", zip_of_csv, "is binary data", id="zip-sent-as-xlsx"),
    ],
)
def test_content_that_does_not_match_the_declared_format_is_refused(
    engine: Jobport, tmp_path: Path, declared: str, content: object, looks_like: str
) -> None:
    """The demo type accepts several formats: the declared one must match the bytes."""
    assert callable(content)
    run = import_bytes(engine, tmp_path, content(), name="customers.xlsx", format=declared)
    assert run.status == "failed"
    actual = looks_like.removeprefix("looks like ").lower()
    advice = (
        "send it with the matching format"
        if looks_like == "is binary data"
        else f"name it .{actual} or send it with format={actual}"
    )
    assert run.error == (
        f"the file was sent as {declared.upper()} but its content {looks_like}; {advice}"
    )
    assert run.chunks_total == 0
    assert table(engine) == []
