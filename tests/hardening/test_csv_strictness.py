"""CSV strictness, through the real import path: what a malformed file does to a run.

Each test imports a file with ``Jobport.import_file`` on an embedded engine and
checks the run's status and error, its row failures (line and message) and
the exact contents of the target table afterwards.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.hardening.support import (
    DEMO_COLUMNS,
    DEMO_HEADER,
    MiB,
    customer,
    failures,
    ids,
    import_bytes,
    make_engine,
    notes_registry,
    peak_memory,
    refusal,
    table,
)

from jobport import Jobport
from jobport.errors import JobportError

#: A generous bound on the peak of traced Python allocations while a bad file is refused.
MEMORY_BOUND = 64 * MiB

# -- ragged rows -------------------------------------------------------------------------------


def test_ragged_rows_fail_with_their_line_numbers(engine: Jobport, tmp_path: Path) -> None:
    short = b"2,c2@example.com,Ada,Lovelace,GB\n"
    long = customer(3).rstrip(b"\n") + b",surplus\n"
    data = DEMO_HEADER + customer(1) + short + long + customer(4)

    run = import_bytes(engine, tmp_path, data)

    assert run.status == "completed_with_errors"
    assert (run.total, run.processed, run.failed) == (4, 4, 2)
    assert failures(engine, run.id) == [
        (3, "expected 10 fields, found 5: the row has no signup_date, balance, active, age, score"),
        (
            4,
            "expected 10 fields, found 11: more than the header "
            "(a value holding the delimiter, not quoted?)",
        ),
    ]
    assert ids(engine) == [1, 4]
    items, _ = engine.store.list_failures(run.id)
    # The original values are kept for the error report, the surplus ones under "_extra".
    assert items[0]["raw"]["email"] == "c2@example.com"
    assert items[1]["raw"]["_extra"] == ["surplus"]


def test_ragged_rows_in_every_chunk(tmp_path: Path) -> None:
    """A short row in each of several chunks: each fails alone, every other row is written."""
    with make_engine(tmp_path, app=None, registry=notes_registry(chunk_size=2)) as engine:
        lines = [b"code,body,n\n"]
        for i in range(10):
            lines.append(f"k{i},body {i}\n".encode() if i % 3 == 0 else f"k{i},b,{i}\n".encode())
        run = import_bytes(engine, tmp_path, b"".join(lines), "notes")

        assert run.status == "completed_with_errors"
        assert failures(engine, run.id) == [
            (line, "expected 3 fields, found 2: the row has no n") for line in (2, 5, 8, 11)
        ]
        assert [row["code"] for row in table(engine, "notes", "code")] == [
            f"k{i}" for i in range(10) if i % 3
        ]


# -- quotes ------------------------------------------------------------------------------------


def test_unbalanced_quote_in_a_5mb_file_fails_the_run_naming_the_line(
    engine: Jobport, tmp_path: Path
) -> None:
    """A quote that never closes: the run fails naming its line, memory stays flat."""
    path = tmp_path / "unbalanced.csv"
    with path.open("wb") as out:
        out.write(DEMO_HEADER + customer(1))
        out.write(b'2,"c2@example.com,Ada,Lovelace,GB,2024-01-31,12.50,true,36,0.5\n')
        i = 3
        while out.tell() < 5 * MiB:
            out.write(customer(i))
            i += 1

    with peak_memory() as peak:
        run = engine.run(engine.import_file("customers", path).id)
        used = peak()

    assert run.status == "failed"
    assert run.error == "malformed CSV: the quoted field opened on line 3 never closes"
    assert used < MEMORY_BOUND, f"peak {used / MiB:.1f} MiB"
    assert table(engine) == []
    assert failures(engine, run.id) == []


def test_unbalanced_quote_stops_reading_at_the_record_size_limit(
    engine: Jobport, tmp_path: Path
) -> None:
    """Past 16 MiB of an open quote the plan gives up: never reads the rest into one field."""
    path = tmp_path / "runaway.csv"
    with path.open("wb") as out:
        out.write(DEMO_HEADER + b'1,"open\n')
        block = b"x" * 99 + b"\n"
        for _ in range(20 * MiB // len(block)):
            out.write(block)

    with peak_memory() as peak:
        run = engine.run(engine.import_file("customers", path).id)
        used = peak()

    assert run.status == "failed"
    assert run.error == (
        "malformed CSV: the quoted field opened on line 2 never closes "
        "(or is over 16,777,216 bytes)"
    )
    assert used < MEMORY_BOUND, f"peak {used / MiB:.1f} MiB"
    assert table(engine) == []


def test_unbalanced_quote_on_the_last_line(engine: Jobport, tmp_path: Path) -> None:
    data = DEMO_HEADER + customer(1) + customer(2) + b'3,"c3@example.com'
    run = import_bytes(engine, tmp_path, data)
    assert run.status == "failed"
    assert run.error == "malformed CSV: the quoted field opened on line 4 never closes"
    assert table(engine) == []


def test_quote_inside_a_quoted_field_not_doubled_fails_the_run_naming_the_line(
    tmp_path: Path,
) -> None:
    """``"D"x`` in the third chunk: the run fails naming line 8; earlier chunks stay written.

    Chunks commit in file order, so what was committed before the bad chunk is
    kept (nothing committed is lost) and nothing after it is written.
    """
    with make_engine(tmp_path, app=None, registry=notes_registry(chunk_size=3)) as engine:
        rows = [f"k{i},body {i},{i}\n".encode() for i in range(10)]
        rows[6] = b'k6,"D"x,6\n'
        run = import_bytes(engine, tmp_path, b"code,body,n\n" + b"".join(rows), "notes")

        assert run.status == "failed"
        assert run.error is not None
        assert "malformed CSV at line 8" in run.error
        assert [row["code"] for row in table(engine, "notes", "code")] == [
            f"k{i}" for i in range(6)
        ]


def test_stray_quote_in_an_unquoted_field_fails_the_run_naming_the_line(
    engine: Jobport, tmp_path: Path
) -> None:
    """``O"Brien`` (a quote RFC 4180 does not allow unquoted) opens a field that never closes."""
    data = DEMO_HEADER + customer(1) + customer(2, last_name='O"Brien') + customer(3)
    run = import_bytes(engine, tmp_path, data)
    assert run.status == "failed"
    assert run.error == "malformed CSV: the quoted field opened on line 3 never closes"
    assert table(engine) == []


def test_quoted_fields_with_delimiters_doubled_quotes_and_newlines(
    engine: Jobport, tmp_path: Path
) -> None:
    data = (
        DEMO_HEADER
        + customer(1, first_name='"Ada, Countess"')
        + customer(2, first_name='"The ""Enchantress"""')
        + customer(3, first_name='"two\nlines"')
        + customer(4, first_name='"crlf\r\ninside"')
        + customer(5)
    )
    run = import_bytes(engine, tmp_path, data)
    assert run.status == "completed"
    assert [(r["id"], r["first_name"]) for r in table(engine)] == [
        (1, "Ada, Countess"),
        (2, 'The "Enchantress"'),
        (3, "two\nlines"),
        (4, "crlf\r\ninside"),
        (5, "Ada"),
    ]


# -- field size --------------------------------------------------------------------------------


def test_field_over_the_size_limit_is_a_row_failure_naming_the_limit(tmp_path: Path) -> None:
    with make_engine(
        tmp_path, app=None, registry=notes_registry(), max_field_bytes=1_000
    ) as engine:
        data = b"code,body,n\na,short,1\nb," + b"x" * 1_001 + b",2\nc,also short,3\n"
        run = import_bytes(engine, tmp_path, data, "notes")

        assert run.status == "completed_with_errors"
        assert failures(engine, run.id) == [
            (
                3,
                "body: the field is over the limit of 1,000 bytes (raise it with the type's "
                "limits or JOBPORT_MAX_FIELD_BYTES)",
            )
        ]
        assert [row["code"] for row in table(engine, "notes", "code")] == ["a", "c"]


def test_field_of_exactly_the_size_limit_is_accepted(tmp_path: Path) -> None:
    with make_engine(
        tmp_path, app=None, registry=notes_registry(), max_field_bytes=1_000
    ) as engine:
        run = import_bytes(engine, tmp_path, b"code,body\na," + b"x" * 1_000 + b"\n", "notes")
        assert run.status == "completed"
        assert table(engine, "notes", "code") == [{"code": "a", "body": "x" * 1_000, "n": None}]


def test_quoted_single_line_field_over_the_limit_is_a_row_failure(tmp_path: Path) -> None:
    with make_engine(
        tmp_path, app=None, registry=notes_registry(), max_field_bytes=1_000
    ) as engine:
        data = b'code,body\na,ok\nb,"' + b"y," * 600 + b'"\nc,ok\n'
        run = import_bytes(engine, tmp_path, data, "notes")
        assert run.status == "completed_with_errors"
        assert [line for line, _ in failures(engine, run.id)] == [3]
        assert "over the limit of 1,000 bytes" in failures(engine, run.id)[0][1]
        assert [row["code"] for row in table(engine, "notes", "code")] == ["a", "c"]


def test_quoted_multiline_field_over_the_limit_is_a_row_failure(tmp_path: Path) -> None:
    with make_engine(
        tmp_path, app=None, registry=notes_registry(), max_field_bytes=1_000
    ) as engine:
        data = b'code,body\na,ok\nb,"' + b"short line\n" * 200 + b'"\nc,ok\n'
        run = import_bytes(engine, tmp_path, data, "notes")
        assert run.status == "completed_with_errors"
        assert [line for line, _ in failures(engine, run.id)] == [3]
        assert [row["code"] for row in table(engine, "notes", "code")] == ["a", "c"]


def test_oversized_unquoted_field_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    with make_engine(tmp_path, app=None, registry=notes_registry()) as engine:
        path = tmp_path / "long-line.csv"
        with path.open("wb") as out:
            out.write(b"code,body\na,")
            for _ in range(32):
                out.write(b"z" * MiB)
            out.write(b"\nb,fine\n")

        with peak_memory() as peak:
            run = engine.run(engine.import_file("notes", path).id)
            used = peak()

        assert run.status == "completed_with_errors"
        assert [line for line, _ in failures(engine, run.id)] == [2]
        assert [row["code"] for row in table(engine, "notes", "code")] == ["b"]
        assert used < MEMORY_BOUND, f"peak {used / MiB:.1f} MiB"


# -- NUL bytes ---------------------------------------------------------------------------------


def test_nul_byte_fails_its_row_only(engine: Jobport, tmp_path: Path) -> None:
    rows = [customer(i) for i in range(1, 40)]
    rows[9] = customer(10, last_name="Love\x00lace")
    run = import_bytes(engine, tmp_path, DEMO_HEADER + b"".join(rows))

    assert run.status == "completed_with_errors"
    assert failures(engine, run.id) == [
        (11, "the row holds a NUL byte, which text data never contains")
    ]
    assert ids(engine) == [i for i in range(1, 40) if i != 10]
    assert all("\x00" not in str(v) for row in table(engine) for v in row.values())


def test_nul_byte_inside_a_quoted_field_fails_its_row_only(engine: Jobport, tmp_path: Path) -> None:
    rows = [customer(i) for i in range(1, 40)]
    rows[4] = customer(5, first_name='"A\x00\nda"')
    run = import_bytes(engine, tmp_path, DEMO_HEADER + b"".join(rows))
    assert run.status == "completed_with_errors"
    assert [line for line, _ in failures(engine, run.id)] == [6]
    assert ids(engine) == [i for i in range(1, 40) if i != 5]


def test_many_nul_bytes_make_the_file_binary(engine: Jobport, tmp_path: Path) -> None:
    """Over 1% NUL bytes in the first 8 KiB: not text at all, refused before any row."""
    run = import_bytes(engine, tmp_path, DEMO_HEADER + customer(1, last_name="\x00" * 20))
    assert run.status == "failed"
    assert run.error == (
        "the file was sent as CSV but its content is binary data; send it with the matching format"
    )
    assert table(engine) == []


def test_nul_byte_in_the_header_is_refused(notes: Jobport, tmp_path: Path) -> None:
    rows = b"".join(f"k{i},body,{i},x\n".encode() for i in range(200))
    run = import_bytes(notes, tmp_path, b"code,body,n,ex\x00tra\n" + rows, "notes")
    assert run.status == "failed"
    assert run.error is not None
    assert "NUL" in run.error
    assert table(notes, "notes", "code") == []


@pytest.mark.postgres
def test_nul_byte_in_the_header_on_postgresql_is_a_clear_refusal(
    fresh_postgres: str, tmp_path: Path
) -> None:
    with make_engine(
        tmp_path, app=None, registry=notes_registry(), database_url=fresh_postgres
    ) as engine:
        rows = b"".join(f"k{i},body,{i},x\n".encode() for i in range(200))
        data = b"code,body,n,ex\x00tra\n" + rows
        try:
            run = import_bytes(engine, tmp_path, data, "notes")
        except JobportError:
            return  # refused up front, with a message: fine too
        assert run.status == "failed"
        assert table(engine, "notes", "code") == []


# -- line endings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ending", "inside", "stored"),
    [
        pytest.param(b"\n", b"two\nlines", "two\nlines", id="LF"),
        pytest.param(b"\r\n", b"two\r\nlines", "two\r\nlines", id="CRLF"),
        # By design, a bare-CR file is rewritten with LF line ends, quoted fields included.
        pytest.param(b"\r", b"two\rlines", "two\nlines", id="CR"),
    ],
)
def test_line_endings_and_newlines_inside_quotes(
    engine: Jobport, tmp_path: Path, ending: bytes, inside: bytes, stored: str
) -> None:
    rows = [customer(i).replace(b"\n", ending) for i in range(1, 6)]
    rows[2] = customer(3, first_name="{}").rstrip(b"\n").replace(b"{}", b'"' + inside + b'"')
    rows[2] += ending
    data = DEMO_HEADER.replace(b"\n", ending) + b"".join(rows)
    run = import_bytes(engine, tmp_path, data)

    assert run.status == "completed"
    assert (run.total, run.processed, run.failed) == (5, 5, 0)
    assert [(r["id"], r["first_name"]) for r in table(engine)] == [
        (1, "Ada"),
        (2, "Ada"),
        (3, stored),
        (4, "Ada"),
        (5, "Ada"),
    ]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_line_numbers_count_blank_lines_and_quoted_newlines(
    engine: Jobport, tmp_path: Path, ending: bytes
) -> None:
    data = (
        DEMO_HEADER
        + customer(1, first_name='"multi\nline"')
        + b"\n"
        + customer(2, age="7")
        + b"\n\n"
        + customer(3, country="ZZ")
    ).replace(b"\n", ending)
    run = import_bytes(engine, tmp_path, data)
    assert run.status == "completed_with_errors"
    assert failures(engine, run.id) == [
        (5, "age: must be at least 18"),
        (8, "country: 'ZZ' is not an ISO 3166 alpha-2 country code"),
    ]
    assert ids(engine) == [1]


def test_a_blank_line_of_several_crs_is_skipped(notes: Jobport, tmp_path: Path) -> None:
    run = import_bytes(notes, tmp_path, b"code,body,n\nk1,one,1\n\r\r\nk2,two,2\n", "notes")
    assert run.status == "completed"
    assert failures(notes, run.id) == []
    assert [row["code"] for row in table(notes, "notes", "code")] == ["k1", "k2"]


def test_last_row_without_a_line_end_is_imported(engine: Jobport, tmp_path: Path) -> None:
    run = import_bytes(engine, tmp_path, DEMO_HEADER + customer(1) + customer(2).rstrip(b"\n"))
    assert run.status == "completed"
    assert ids(engine) == [1, 2]


def test_line_endings_that_change_after_the_first_64_kib(engine: Jobport, tmp_path: Path) -> None:
    """A file pasted together from an LF one and an old Mac one: each CR ends its row."""
    lf = b"".join(customer(i) for i in range(1, 1_000))
    cr = b"".join(
        customer(i, **({"age": "7"} if i == 1_005 else {})).replace(b"\n", b"\r")
        for i in range(1_000, 1_010)
    )
    assert len(DEMO_HEADER + lf) > 64 * 1024
    run = import_bytes(engine, tmp_path, DEMO_HEADER + lf + cr)
    assert run.status == "completed_with_errors"
    assert (run.total, run.processed, run.failed) == (1_009, 1_009, 1)
    assert failures(engine, run.id) == [(1_006, "age: must be at least 18")]
    assert ids(engine) == [i for i in range(1, 1_010) if i != 1_005]


# -- headers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "message"),
    [
        pytest.param(
            b"id,email,last_name,country,id", "column 'id' appears twice in the header", id="same"
        ),
        pytest.param(
            b"id,Email,last_name,country, email ",
            "column 'email' appears twice in the header",
            id="case-and-spaces",
        ),
        pytest.param(
            b"id,email,last_name,country,note,note",
            "column 'note' appears twice in the header",
            id="unused-column",
        ),
        pytest.param(
            b"id,email,,last_name,country", "column 3 of the header has no name", id="empty"
        ),
        pytest.param(
            b'id,email,last_name,country,"   "',
            "column 5 of the header has no name",
            id="blank",
        ),
    ],
)
def test_duplicate_or_empty_header_names_are_refused(
    engine: Jobport, tmp_path: Path, header: bytes, message: str
) -> None:
    width = header.count(b",") + 1
    row = b",".join([b"1", b"a@example.com", b"L", b"GB", *[b"x"] * (width - 4)])
    run = import_bytes(engine, tmp_path, header + b"\n" + row + b"\n")
    assert run.status == "failed"
    assert run.error == message
    assert run.chunks_total == 0
    assert table(engine) == []


def test_missing_required_column_is_refused(engine: Jobport, tmp_path: Path) -> None:
    run = import_bytes(engine, tmp_path, b"id,email,country\n1,a@example.com,GB\n")
    assert run.status == "failed"
    assert run.error == ("missing required column(s): last_name; the file has: id, email, country")
    assert table(engine) == []


# -- empty and header-only files ---------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"\xef\xbb\xbf", b"\n\n\r\n", b"   \r\n  "],
    ids=["zero-bytes", "only-a-bom", "only-line-ends", "only-spaces"],
)
def test_empty_file_fails_with_a_clear_message(
    engine: Jobport, tmp_path: Path, data: bytes
) -> None:
    run = import_bytes(engine, tmp_path, data)
    assert run.status == "failed"
    assert run.error == "the file is empty: expected a header line and rows"
    assert run.total is None
    assert table(engine) == []


@pytest.mark.parametrize(
    "data",
    [DEMO_HEADER, DEMO_HEADER.rstrip(b"\n"), b"\xef\xbb\xbf" + DEMO_HEADER.replace(b"\n", b"\r\n")],
    ids=["LF", "no-line-end", "BOM-CRLF"],
)
def test_header_only_file_completes_with_zero_rows(
    engine: Jobport, tmp_path: Path, data: bytes
) -> None:
    """A header and no rows is a valid, empty import: completed at once, nothing written."""
    run = import_bytes(engine, tmp_path, data)
    assert run.status == "completed"
    assert (run.total, run.processed, run.failed, run.chunks_total) == (0, 0, 0, 0)
    assert run.error is None
    assert table(engine) == []


def test_header_only_file_still_checks_its_header(engine: Jobport, tmp_path: Path) -> None:
    run = import_bytes(engine, tmp_path, b"id,email\n")
    assert run.status == "failed"
    assert run.error is not None
    assert run.error.startswith("missing required column(s): last_name, country")


# -- the demo header itself, for the other test files -----------------------------------------


def test_demo_header_matches_the_demo_table(engine: Jobport, tmp_path: Path) -> None:
    run = import_bytes(engine, tmp_path, DEMO_HEADER + customer(1))
    assert run.status == "completed"
    assert list(table(engine)[0]) == DEMO_COLUMNS


# -- read options ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("read", "named"),
    [
        pytest.param({"delimiter": ";;"}, "delimiter", id="two-char-delimiter"),
        pytest.param({"delimiter": '"'}, "delimiter", id="quote-as-delimiter"),
        pytest.param({"delimiter": "\n"}, "delimiter", id="newline-as-delimiter"),
        pytest.param({"separator": ";"}, "separator", id="unknown-option"),
    ],
)
def test_bad_read_options_are_refused_naming_the_option(
    engine: Jobport, tmp_path: Path, read: dict[str, str], named: str
) -> None:
    message = refusal(engine, tmp_path, DEMO_HEADER + customer(1), read=read)
    assert named in message
    assert table(engine) == []


def test_an_empty_cell_of_a_field_with_a_default_fails_saying_how_to_keep_values(
    engine: Jobport, tmp_path: Path
) -> None:
    """Writing the default would change an existing row the cell says nothing about."""
    data = DEMO_HEADER + customer(1, active="") + customer(2)
    run = import_bytes(engine, tmp_path, data)
    assert failures(engine, run.id) == [
        (
            2,
            "active: is empty: write a value, or leave the column out of the file (rows there "
            "then keep theirs, new rows get the default)",
        )
    ]
    assert ids(engine) == [2]
