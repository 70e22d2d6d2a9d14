"""Property tests of CSV imports: random bytes, random valid tables, byte ranges.

(a) Random bytes as an upload: the engine raises nothing but ``JobportError``,
    no worker meets an exception it did not mean, and the run always ends.
(b) Random tables of the demo columns, valid and invalid rows mixed, written
    by ``csv.writer`` with random quoting, line ends, encodings and chunk
    sizes: every valid row is imported exactly once, every invalid row is
    recorded exactly once with its line number.
(c) Reading a file in byte ranges gives what one ``csv.reader`` pass gives.

Example counts are modest so the file runs in well under a minute on two
cores; ``HYPOTHESIS_PROFILE=thorough`` runs many more.
"""

from __future__ import annotations

import csv
import io
import os
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from tests.hardening.support import DEMO_COLUMNS, UnexpectedErrors, customer, make_engine

from jobport import Importer, Jobport, JobRegistry, JobType, StartRequest
from jobport.demo import Customer, customers
from jobport.errors import JobportError
from jobport.files import FileStore
from jobport.formats import ReadOptions
from jobport.formats.cells import unneutralise_row
from jobport.formats.csvfile import CsvFormat
from jobport.store.records import FINAL_STATUSES

#: Chunk sizes of the fuzzed job types: one row, a few rows, more rows than any example.
CHUNK_SIZES = (1, 2, 3, 7, 1_000)
REQUIRED = ["id", "email", "last_name", "country"]
OPTIONAL = [c for c in DEMO_COLUMNS if c not in REQUIRED]

#: Modest by default; ``HYPOTHESIS_PROFILE=thorough`` hunts for much longer.
EXAMPLES = 2_000 if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else 100

fuzz_settings = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def fuzz_registry() -> JobRegistry:
    """The demo customers type once per chunk size: ``customers-1``, ``customers-2``, ..."""
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
                formats=("csv", "xlsx"),
            )
        )
    return registry


@pytest.fixture(scope="module")
def fuzz_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jobport]:
    root = tmp_path_factory.mktemp("fuzz")
    with make_engine(root, app=None, registry=fuzz_registry()) as engine:
        yield engine


def clear(engine: Jobport) -> None:
    with engine.database.begin() as conn:
        conn.execute(customers.delete())


def stored(engine: Jobport) -> dict[int, dict[str, Any]]:
    with engine.database.connect() as conn:
        rows = conn.execute(sa.select(customers)).mappings().all()
    return {row["id"]: dict(row) for row in rows}


def run_failures(engine: Jobport, run_id: str) -> list[tuple[int | None, str]]:
    items, _ = engine.store.list_failures(run_id, limit=100_000)
    return [(item["line"], item["message"]) for item in items]


def start(engine: Jobport, type_: str, data: bytes, **request: Any) -> Any:
    return engine.start(
        StartRequest(type=type_, source_name="fuzz.csv", **request), stream=io.BytesIO(data)
    )


# -- (a) random bytes ------------------------------------------------------------------------

#: Pieces that stress a CSV reader: quotes, line ends, NULs, invalid and partial UTF-8, BOMs.
TOKENS = [
    b",",
    b";",
    b"\t",
    b'"',
    b'""',
    b"\n",
    b"\r",
    b"\r\n",
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xa9",
    b"\xe2\x82\xac",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b" ",
    b"1",
    b"42",
    b"x",
    b"GB",
    b"a@example.com",
    b"2024-01-31",
    b"true",
    b"\\",
    b"'",
]

csvish = st.builds(
    lambda head, body: head + body,
    st.sampled_from(
        [
            b"",
            (",".join(DEMO_COLUMNS) + "\n").encode(),
            b"id,email,last_name,country\n",
            b"id;email;last_name;country\r\n",
            b"\xef\xbb\xbfid,email,last_name,country\n",
            customer(1),
        ]
    ),
    st.lists(
        st.one_of(st.sampled_from(TOKENS), st.sampled_from([customer(i) for i in range(1, 6)])),
        max_size=60,
    ).map(b"".join),
)

read_options = st.sampled_from(
    [
        {},
        {"encoding": "latin-1"},
        {"encoding": "cp1252"},
        {"encoding": "utf-16"},
        {"delimiter": ";"},
        {"delimiter": ","},
    ]
)


@fuzz_settings
@given(
    data=st.one_of(st.binary(max_size=600), csvish),
    size=st.sampled_from(CHUNK_SIZES),
    read=read_options,
)
def test_random_bytes_never_escape_as_anything_but_a_jobport_error(
    fuzz_engine: Jobport, data: bytes, size: int, read: dict[str, str]
) -> None:
    clear(fuzz_engine)
    with UnexpectedErrors().watching() as unexpected:
        try:
            run = start(fuzz_engine, f"customers-{size}", data, read=read)
        except JobportError:
            return
    assert not unexpected.records, unexpected.describe()
    run = fuzz_engine.run(run.id)
    assert run.status in FINAL_STATUSES
    assert run.total is None or run.processed <= run.total
    table = stored(fuzz_engine)
    assert len(table) + run.failed <= run.processed
    for row in table.values():
        for value in row.values():
            assert "\ufffd" not in str(value)
            assert "\x00" not in str(value)


# -- (b) random valid tables -----------------------------------------------------------------

NAME_CHARS = string.ascii_letters + "éßŁ😀 ,;'\"-"
name_core = st.text(NAME_CHARS, max_size=12)

#: Values that make a row invalid, per column.
INVALID: dict[str, list[str]] = {
    "id": ["abc", "0", "-3", "", "1.5"],
    "email": ["no-at-sign", "a@b", "", "two@@example.com"],
    "last_name": ["", "   ", "x" * 101],
    "country": ["ZZ", "USA", ""],
    "signup_date": ["2024-02-30", "yesterday"],
    "balance": ["1.234", "abc", "12345678901234.5"],
    "active": ["maybe", "2"],
    "age": ["17", "121", "old"],
    "score": ["fast"],
    "first_name": ["y" * 101],
}


@dataclass
class Row:
    id: int
    values: dict[str, str]
    #: None for a valid row; otherwise why it is invalid.
    invalid: str | None
    #: Fields as written (differs from the header's width for a ragged row).
    fields: list[str]
    line: int = 0


@dataclass
class Table:
    header: list[str]
    rows: list[Row]
    text: str
    data: bytes
    newline: str
    encoding: str


@st.composite
def name(draw: st.DrawFn, newline: str) -> str:
    """A name with letters at both ends (whitespace is stripped), maybe a line break inside."""
    first = draw(st.sampled_from(string.ascii_letters))
    last = draw(st.sampled_from(string.ascii_letters))
    middle = draw(name_core)
    if draw(st.booleans()) and draw(st.booleans()):
        middle += newline
    return first + middle + last


@st.composite
def tables(draw: st.DrawFn) -> Table:
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    optional = draw(st.lists(st.sampled_from(OPTIONAL), unique=True))
    header = draw(st.permutations(REQUIRED + optional))
    spelled = [
        draw(st.sampled_from([column, column.upper(), f" {column} ", column.title()]))
        for column in header
    ]
    delimiter = draw(st.sampled_from([",", ";"]))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    ids = draw(st.lists(st.integers(1, 10**6), unique=True, max_size=25))
    rows: list[Row] = []
    for key in ids:
        values = {
            "id": str(key),
            "email": draw(st.sampled_from([f"c{key}@example.com", f"C.{key}+tag@Example.co.uk"])),
            "last_name": draw(name(newline)),
            "country": draw(st.sampled_from(["GB", "FR", "us", " de "])),
            "first_name": draw(st.one_of(st.just(""), name(newline))),
            "signup_date": draw(st.sampled_from(["", "2024-01-31", "1999-12-31"])),
            "balance": draw(st.sampled_from(["", "12.50", "-0.5", "0"])),
            "active": draw(st.sampled_from(["true", "false", "1", "0", "yes", "no"])),
            "age": draw(st.sampled_from(["", "18", "64", "120"])),
            "score": draw(st.sampled_from(["", "0.5", "-3", "1e3"])),
        }
        invalid = None
        kind = draw(st.sampled_from(["valid"] * 3 + ["value", "ragged"]))
        fields = [values[column] for column in header]
        if kind == "value":
            column = draw(st.sampled_from(header))
            values[column] = draw(st.sampled_from(INVALID[column]))
            fields = [values[c] for c in header]
            invalid = f"{column}={values[column]!r}"
        elif kind == "ragged":
            fields = fields[:-1] if draw(st.booleans()) else [*fields, "surplus"]
            invalid = "ragged"
        rows.append(Row(key, values, invalid, fields))
    blank_lines = draw(st.lists(st.integers(0, 2), min_size=len(rows), max_size=len(rows)))
    final_newline = draw(st.booleans())

    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, quoting=quoting, lineterminator=newline)
    writer.writerow(spelled)
    for row, blanks in zip(rows, blank_lines, strict=True):
        out.write(newline * blanks)
        row.line = out.getvalue().count(newline) + 1
        writer.writerow(row.fields)
    text = out.getvalue()
    if not final_newline and rows:
        text = text.removesuffix(newline)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
    return Table(spelled, rows, text, text.encode(encoding), newline, encoding)


def expected_value(text: str, sample: Table) -> str | None:
    """What the table holds for a written name: stripped of surrounding whitespace.

    By design, a file that is rewritten before reading (UTF-16, bare-CR line ends)
    has its line breaks made LF, inside quoted fields too.
    """
    if sample.newline == "\r" or sample.encoding == "utf-16":
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.strip() or None


@fuzz_settings
@given(sample=tables(), size=st.sampled_from(CHUNK_SIZES))
def test_every_valid_row_is_imported_once_and_every_invalid_row_reported_once(
    fuzz_engine: Jobport, sample: Table, size: int
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
        assert got["email"] == row.values["email"]
        assert got["last_name"] == expected_value(row.values["last_name"], sample)
        if "first_name" in [h.strip().lower() for h in sample.header]:
            assert got["first_name"] == expected_value(row.values["first_name"], sample)
        assert got["country"] == row.values["country"].strip().upper()

    reported = run_failures(fuzz_engine, run.id)
    assert [line for line, _ in reported] == [row.line for row in invalid]
    width = len(sample.header)
    for (_, message), row in zip(reported, invalid, strict=True):
        if row.invalid == "ragged":
            assert message.startswith(f"expected {width} fields, found {len(row.fields)}: ")


# -- (c) byte ranges read like one csv.reader pass -------------------------------------------

cell = st.text(st.sampled_from(list("ab ,;\"'\n\r\\éß€😀0")), max_size=8)


@fuzz_settings
@given(
    records=st.lists(st.lists(cell, min_size=1, max_size=4), max_size=15),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    rows_per_chunk=st.integers(1, 6),
)
def test_reading_by_byte_ranges_equals_one_csv_reader_pass(
    tmp_path_factory: pytest.TempPathFactory,
    records: list[list[str]],
    newline: str,
    quoting: int,
    rows_per_chunk: int,
) -> None:
    if newline != "\r\n":
        # Line breaks inside fields are of the file's own kind: the line counts stay meaningful.
        records = [[c.replace("\r", "").replace("\n", newline) for c in r] for r in records]
    else:
        records = [[c.replace("\r", "").replace("\n", "\r\n") for c in r] for r in records]
    # A lone empty field is written as an empty line, which readers skip as blank.
    assume(all(r != [""] for r in records))
    out = io.StringIO()
    csv.writer(out, quoting=quoting, lineterminator=newline).writerows([["h1", "h2"], *records])
    text = out.getvalue()

    files = FileStore(str(tmp_path_factory.getbasetemp() / "ranges"))
    key, _ = files.put_stream(io.BytesIO(text.encode()), extension=".csv")
    fmt = CsvFormat()
    prepared = fmt.prepare(files, key, ReadOptions(delimiter=","))
    specs = list(fmt.plan(files, prepared, rows_per_chunk))
    got = [
        record
        for spec in specs
        for record in fmt.read(files, prepared.source_key, prepared.params, spec)
    ]

    # What the csv module reads in one pass; a bare-CR file is read with its CRs as LFs,
    # and a cell our exports neutralised ('\r...) restored.
    one_pass_text = text.replace("\r", "\n") if newline == "\r" else text
    reader = csv.reader(io.StringIO(one_pass_text, newline=""), strict=True)
    expected: list[tuple[int, list[str]]] = []
    line = reader.line_num
    for fields in reader:
        if fields:
            expected.append((line + 1, unneutralise_row(fields)))
        line = reader.line_num
    assert got == expected[1:]
    assert sum(spec["rows"] for spec in specs) == len(records)
    assert all(0 < spec["rows"] <= rows_per_chunk for spec in specs)
