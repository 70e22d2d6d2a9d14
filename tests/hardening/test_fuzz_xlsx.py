"""Property tests of XLSX imports: workbooks generated from random tables, and damaged ones.

(a) A generated workbook with bytes changed, cut short or replaced: the engine
    raises nothing but ``JobportError``, no worker meets an exception it did
    not mean, and the run always ends.
(c) Hostile sheets written part by part (cell references far past the last
    column or not references at all, row numbers that are not, shared string
    and style indices out of range, values of every type): each run ends,
    refused with a reason or with every row imported or failed exactly once.
(b) Random tables of the demo columns (text, number, boolean and date cells,
    valid and invalid rows, blank rows, shared or inline strings) written by
    xlsxwriter: every valid row is imported exactly once, every invalid row is
    recorded exactly once with its spreadsheet row number.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import string
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.formats.crafted_xlsx import crafted_workbook
from tests.formats.crafted_xlsx import header_row as crafted_header_row
from tests.hardening.support import DEMO_COLUMNS, UnexpectedErrors, make_engine

from jobport import Importer, Jobport, JobRegistry, JobType, StartRequest
from jobport.demo import Customer, customers
from jobport.errors import JobportError
from jobport.store.records import FINAL_STATUSES

CHUNK_SIZES = (1, 2, 3, 7, 1_000)
REQUIRED = ["id", "email", "last_name", "country"]
OPTIONAL = [c for c in DEMO_COLUMNS if c not in REQUIRED]
EXAMPLES = 1_000 if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else 60

fuzz_settings = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def fuzz_registry() -> JobRegistry:
    registry = JobRegistry()
    for size in CHUNK_SIZES:
        registry.add(
            JobType(
                type=f"customers-{size}",
                label=f"Customers ({size} a chunk)",
                kind="import",
                model=customers,
                handler=Importer(row=Customer, key="id"),
                chunk_size=size,
                formats=("xlsx", "csv"),
            )
        )
    return registry


@pytest.fixture(scope="module")
def fuzz_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jobport]:
    root = tmp_path_factory.mktemp("fuzz-xlsx")
    with make_engine(root, app=None, registry=fuzz_registry()) as engine:
        yield engine


def clear(engine: Jobport) -> None:
    with engine.database.begin() as conn:
        conn.execute(customers.delete())


def stored(engine: Jobport) -> dict[int, dict[str, Any]]:
    with engine.database.connect() as conn:
        rows = conn.execute(sa.select(customers)).mappings().all()
    return {row["id"]: dict(row) for row in rows}


def start(engine: Jobport, type_: str, data: bytes) -> Any:
    return engine.start(
        StartRequest(type=type_, source_name="fuzz.xlsx", format="xlsx"), stream=io.BytesIO(data)
    )


# -- generated workbooks ---------------------------------------------------------------------

#: A cell: ("s", text), ("n", number), ("b", bool), ("d", date) or ("-", blank).
Cell = tuple[str, Any]

INVALID: dict[str, list[Cell]] = {
    "id": [("s", "abc"), ("n", 0), ("n", -3), ("n", 1.5), ("-", None)],
    "email": [("s", "no-at-sign"), ("s", "a@b"), ("-", None), ("n", 42)],
    "last_name": [("s", "   "), ("s", "x" * 101), ("-", None)],
    "country": [("s", "ZZ"), ("s", "USA"), ("-", None), ("n", 7)],
    "signup_date": [("s", "2024-02-30"), ("s", "yesterday")],
    "balance": [("n", 1.234), ("s", "abc"), ("n", 12345678901234.5)],
    "active": [("s", "maybe"), ("n", 2)],
    "age": [("n", 17), ("n", 121), ("s", "old")],
    "score": [("s", "fast")],
    "first_name": [("s", "y" * 101)],
}


@dataclass
class Row:
    id: int
    cells: dict[str, Cell]
    invalid: str | None
    number: int = 0


@dataclass
class Workbook:
    header: list[str]
    rows: list[Row]
    data: bytes


@st.composite
def names(draw: st.DrawFn) -> str:
    first = draw(st.sampled_from(string.ascii_letters))
    last = draw(st.sampled_from(string.ascii_letters))
    middle = draw(st.text(string.ascii_letters + "éßŁ😀 ,;'\"-<>&\n", max_size=12))
    return first + middle + last


@st.composite
def workbooks(draw: st.DrawFn) -> Workbook:
    optional = draw(st.lists(st.sampled_from(OPTIONAL), unique=True))
    header = draw(st.permutations(REQUIRED + optional))
    ids = draw(st.lists(st.integers(1, 10**6), unique=True, max_size=20))
    rows: list[Row] = []
    for key in ids:
        cells: dict[str, Cell] = {
            "id": draw(st.sampled_from([("n", key), ("s", str(key))])),
            "email": ("s", f"c{key}@example.com"),
            "last_name": ("s", draw(names())),
            "country": ("s", draw(st.sampled_from(["GB", "fr", " DE "]))),
            "first_name": draw(st.one_of(st.just(("-", None)), names().map(lambda n: ("s", n)))),
            "signup_date": draw(
                st.sampled_from([("-", None), ("d", dt.date(2024, 1, 31)), ("s", "1999-12-31")])
            ),
            "balance": draw(st.sampled_from([("-", None), ("n", 12.5), ("n", -3), ("s", "0.10")])),
            "active": draw(st.sampled_from([("b", True), ("b", False), ("s", "yes"), ("n", 0)])),
            "age": draw(st.sampled_from([("-", None), ("n", 18), ("n", 64.0), ("s", "120")])),
            "score": draw(st.sampled_from([("-", None), ("n", 0.1), ("n", -1e-3), ("s", "1e3")])),
        }
        invalid = None
        if draw(st.integers(0, 3)) == 0:
            column = draw(st.sampled_from(header))
            cells[column] = draw(st.sampled_from(INVALID[column]))
            invalid = f"{column}={cells[column]!r}"
        rows.append(Row(key, cells, invalid))

    constant_memory = draw(st.booleans())  # inline strings instead of the shared table
    sheet_name = draw(st.sampled_from(["Sheet1", "Customers", "données"]))
    spelled = [draw(st.sampled_from([name, name.upper()])) for name in header]
    position = draw(st.integers(0, 2))  # blank rows above the header
    header_position = position
    for row in rows:
        position += 1 + draw(st.integers(0, 2))  # blank rows between
        row.number = position + 1
    data = build(header, spelled, header_position, rows, sheet_name, constant_memory)
    return Workbook(header, rows, data)


def build(
    header: list[str],
    spelled: list[str],
    header_position: int,
    rows: list[Row],
    sheet_name: str,
    constant_memory: bool,
) -> bytes:
    """The workbook's bytes: the same arguments always give the same bytes."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "constant_memory": constant_memory})
    book.set_properties({"created": dt.datetime(2024, 1, 1)})
    sheet = book.add_worksheet(sheet_name)
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    for column, name in enumerate(spelled):
        sheet.write_string(header_position, column, name)
    for row in rows:
        for column, name in enumerate(header):
            kind, value = row.cells[name]
            if kind == "s":
                sheet.write_string(row.number - 1, column, value)
            elif kind == "n":
                sheet.write_number(row.number - 1, column, value)
            elif kind == "b":
                sheet.write_boolean(row.number - 1, column, value)
            elif kind == "d":
                sheet.write_datetime(row.number - 1, column, value, date_format)
    book.close()
    return out.getvalue()


@fuzz_settings
@given(sample=workbooks(), size=st.sampled_from(CHUNK_SIZES))
def test_every_valid_row_is_imported_once_and_every_invalid_row_reported_once(
    fuzz_engine: Jobport, sample: Workbook, size: int
) -> None:
    clear(fuzz_engine)
    with UnexpectedErrors().watching() as unexpected:
        run = start(fuzz_engine, f"customers-{size}", sample.data)
    assert not unexpected.records, unexpected.describe()
    run = fuzz_engine.run(run.id)

    valid = [row for row in sample.rows if row.invalid is None]
    invalid = [row for row in sample.rows if row.invalid is not None]
    if invalid and not valid:  # every row failed: the run failed, nothing was written
        assert run.status == "failed"
        assert (
            run.error
            == f"every row failed ({len(invalid):,} of {len(invalid):,}); nothing was written"
        )
    else:
        assert run.error is None, run.error
        assert run.status == ("completed_with_errors" if invalid else "completed")
    assert (run.total, run.processed, run.failed) == (
        len(sample.rows),
        len(sample.rows),
        len(invalid),
    )
    table = stored(fuzz_engine)
    assert sorted(table) == sorted(row.id for row in valid)
    for row in valid:
        got = table[row.id]
        assert got["email"] == row.cells["email"][1]
        assert got["last_name"] == row.cells["last_name"][1].strip()
        assert got["country"] == row.cells["country"][1].strip().upper()
    items, _ = fuzz_engine.store.list_failures(run.id, limit=10_000)
    assert [item["line"] for item in items] == [row.number for row in invalid]


# -- damaged workbooks -----------------------------------------------------------------------


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(workbooks()).data)
    how = draw(st.sampled_from(["flip", "truncate", "splice"]))
    if how == "flip":
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.integers(0, 255))
    elif how == "truncate":
        data = data[: draw(st.integers(4, len(data) - 1))]
    else:
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=64))
    return bytes(data)


@fuzz_settings
@given(data=st.one_of(damaged(), st.binary(max_size=300).map(lambda b: b"PK\x03\x04xl/" + b)))
def test_damaged_workbooks_never_escape_as_anything_but_a_jobport_error(
    fuzz_engine: Jobport, data: bytes
) -> None:
    clear(fuzz_engine)
    with UnexpectedErrors().watching() as unexpected:
        try:
            run = start(fuzz_engine, "customers-2", data)
        except JobportError:
            return
    assert not unexpected.records, unexpected.describe()
    run = fuzz_engine.run(run.id)
    assert run.status in FINAL_STATUSES
    assert len(stored(fuzz_engine)) + run.failed <= run.processed


def valid_workbook() -> bytes:
    row = Row(
        1,
        {
            "id": ("n", 1),
            "email": ("s", "a@example.com"),
            "last_name": ("s", "L"),
            "country": ("s", "GB"),
        },
        None,
        2,
    )
    return build(REQUIRED, REQUIRED, 0, [row], "Sheet1", False)


def damage_entry(data: bytes, name: str) -> bytes:
    """Flip a byte in the middle of one archive entry's compressed data (its CRC then fails)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    header = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    at = header + info.compress_size // 2
    damaged = bytearray(data)
    damaged[at] ^= 0xFF
    return bytes(damaged)


def unsupported_method(data: bytes, name: str) -> bytes:
    """Mark one entry as compressed with method 99, which zipfile cannot read."""
    method = (99).to_bytes(2, "little")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        local = archive.getinfo(name).header_offset
    changed = bytearray(data)
    changed[local + 8 : local + 10] = method  # the local file header
    at = data.find(b"PK\x01\x02")
    while at != -1:  # the central directory entry of the same name
        length = int.from_bytes(data[at + 28 : at + 30], "little")
        if data[at + 46 : at + 46 + length] == name.encode():
            changed[at + 10 : at + 12] = method
        at = data.find(b"PK\x01\x02", at + 4)
    return bytes(changed)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda d: damage_entry(d, "_rels/.rels"), id="bad-crc-rels"),
        pytest.param(lambda d: damage_entry(d, "xl/workbook.xml"), id="bad-crc-workbook"),
        pytest.param(lambda d: damage_entry(d, "xl/worksheets/sheet1.xml"), id="bad-crc-sheet"),
        pytest.param(lambda d: unsupported_method(d, "xl/workbook.xml"), id="unknown-method"),
    ],
)
def test_damaged_archive_is_refused_clearly(
    tmp_path_factory: pytest.TempPathFactory, damage: object
) -> None:
    assert callable(damage)
    root = tmp_path_factory.mktemp("damaged")
    with make_engine(root, app=None, registry=fuzz_registry()) as engine:
        try:
            run = start(engine, "customers-2", damage(valid_workbook()))
        except JobportError as exc:
            message = exc.message
        else:
            assert run.status == "failed"
            message = run.error or ""
        assert "XLSX" in message
        assert stored(engine) == {}


# -- hostile sheets: what no spreadsheet program writes -------------------------------------

#: Cell references: plain, lowercase, absolute, far past the header or the sheet, garbage.
REFERENCES = st.one_of(
    st.sampled_from(["A{n}", "b{n}", "$C${n}", "XFD{n}", "XFE{n}", "ZZZZZZ{n}", "!{n}", "abc"]),
    st.text(string.ascii_letters + string.digits + "$!-", max_size=12).map(lambda t: t + "{n}"),
)
#: Row numbers: missing, in order, repeated, far, or not numbers at all.
ROW_NUMBERS = st.one_of(
    st.none(),
    st.sampled_from(["{n}", "1", "1048576", "1048577", "0", "-1", "x", "²", "9" * 30]),
)
#: (t, s, value) of a cell: types, style indices and values, sane or not.
CELLS = st.tuples(
    st.sampled_from([None, "n", "s", "b", "e", "str", "inlineStr", "d", "zz"]),
    st.sampled_from([None, "0", "1", "2", "99999999999999999999", "-1", "x", "²", ""]),
    st.sampled_from(["1", "0", "2", "7", "-1", "1e400", "nan", "x", "", "43832.5", "²"]),
)


def hostile_cell(reference: str, row: int, cell: tuple[str | None, str | None, str]) -> str:
    kind, style, value = cell
    ref = reference.replace("{n}", str(row))
    attrs = f' r="{ref}"' + (f' t="{kind}"' if kind else "") + (f' s="{style}"' if style else "")
    if kind == "inlineStr":
        return f"<c{attrs}><is><t>{value}</t></is></c>"
    return f"<c{attrs}><v>{value}</v></c>"


@st.composite
def hostile_sheets(draw: st.DrawFn) -> bytes:
    rows = [crafted_header_row(*REQUIRED)]
    for n in range(2, 2 + draw(st.integers(0, 6))):
        r = draw(ROW_NUMBERS)
        attrs = "" if r is None else f' r="{r.replace("{n}", str(n))}"'
        cells = draw(st.lists(st.tuples(REFERENCES, CELLS), max_size=5))
        rows.append(f"<row{attrs}>{''.join(hostile_cell(f, n, c) for f, c in cells)}</row>")
    shared = draw(st.lists(st.sampled_from(["GB", "a@example.com", "x" * 50]), max_size=3))
    styles = '<xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="999"/>'
    return crafted_workbook("".join(rows), shared=shared, styles=styles)


@fuzz_settings
@given(data=hostile_sheets())
def test_hostile_sheets_fail_rows_or_refuse_clearly_and_every_row_is_accounted_for(
    fuzz_engine: Jobport, data: bytes
) -> None:
    clear(fuzz_engine)
    with UnexpectedErrors().watching() as unexpected:
        run = fuzz_engine.run(start(fuzz_engine, "customers-2", data).id)
    assert not unexpected.records, unexpected.describe()
    assert run.status in FINAL_STATUSES
    if run.status == "failed":
        assert run.error
    else:
        assert run.processed == run.total
        assert len(stored(fuzz_engine)) + run.failed == run.processed
