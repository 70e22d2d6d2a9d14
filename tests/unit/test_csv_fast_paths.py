"""The CSV reader's C-level fast paths cut and split exactly as its line-by-line paths do."""

from __future__ import annotations

import csv
import io
import tracemalloc

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from jobport.errors import InputError
from jobport.formats import csvfile
from jobport.formats.base import BadRecord
from jobport.formats.csvfile import plan_ranges, planning, read_layout, read_range, reading

plain_field = st.text(alphabet="abcXYZ019 .-_é", max_size=6)
quoted_field = st.text(alphabet='ab,"\n\r ', max_size=6).map(
    lambda text: '"' + text.replace('"', '""') + '"'
)
record = st.lists(st.one_of(plain_field, plain_field, quoted_field), min_size=1, max_size=4)
piece = st.one_of(
    record.map(",".join),
    record.map(",".join),
    record.map(",".join),
    st.sampled_from(["", "\r", '"open', 'broken"x"', "a,\r,b"]),  # blank, CR-only, odd quotes
)
ending = st.sampled_from(["\n", "\n", "\r\n"])


@st.composite
def csv_bytes(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.tuples(piece, ending), max_size=60))
    body = "".join(text + end for text, end in lines)
    if draw(st.booleans()) and body.endswith("\n"):
        body = body[:-1]  # no newline at the end of the file
    return ("h1,h2\n" + body).encode()


def _outcome(call: object) -> object:
    try:
        return call()  # type: ignore[operator]
    except InputError as exc:
        return ("refused", exc.message)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=csv_bytes(),
    rows=st.integers(min_value=1, max_value=7),
    block=st.integers(min_value=1, max_value=90),
    limit=st.sampled_from([None, 12, 40]),
)
def test_block_planning_matches_line_by_line(
    data: bytes, rows: int, block: int, limit: int | None
) -> None:
    layout = read_layout(io.BytesIO(data), encoding="utf-8", delimiter=",")

    def plan() -> list[csvfile.ByteRange]:
        return list(plan_ranges(io.BytesIO(data), layout, rows, max_field_bytes=limit))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(planning, "_PLAN_BLOCK", block)
        by_blocks = _outcome(plan)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(planning._RangePlanner, "plain", lambda self, block: False)
        by_lines = _outcome(plan)
    assert by_blocks == by_lines


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=csv_bytes())
def test_splitting_whole_text_matches_line_by_line(data: bytes) -> None:
    layout = read_layout(io.BytesIO(data), encoding="utf-8", delimiter=",")
    whole = csvfile.ByteRange(layout.data_offset, len(data), layout.header_lines + 1, 0)

    def read() -> object:
        return read_range(io.BytesIO(data), layout, whole)

    fast = _outcome(read)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reading, "_record_lines", lambda text: None)
        slow = _outcome(read)
    assert fast == slow


def test_a_range_cut_inside_a_block_starts_on_the_next_record() -> None:
    data = b"id\n" + b"".join(b"%d\n" % i for i in range(1, 11))
    layout = read_layout(io.BytesIO(data), encoding="utf-8", delimiter=",")
    ranges = list(plan_ranges(io.BytesIO(data), layout, 4))
    assert [(r.first_line, r.rows) for r in ranges] == [(2, 4), (6, 4), (10, 2)]
    read = [read_range(io.BytesIO(data), layout, r) for r in ranges]
    assert [[fields[0] for _, fields in records] for records in read] == [  # type: ignore[index]
        ["1", "2", "3", "4"],
        ["5", "6", "7", "8"],
        ["9", "10"],
    ]


def test_planning_holds_pieces_of_a_long_line_not_the_line() -> None:
    """A line as long as the file (an endless field, no line breaks) is counted in pieces."""
    mib = 1 << 20
    data = b"code,body\na," + b"z" * (24 * mib) + b'"x"\nb,fine\n'
    layout = read_layout(io.BytesIO(data), encoding="utf-8", delimiter=",")
    tracemalloc.start()
    try:
        ranges = list(plan_ranges(io.BytesIO(data), layout, 1_000, max_field_bytes=mib))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    [only] = ranges
    assert (only.first_line, only.rows, only.end) == (2, 2, len(data))
    assert only.long_lines == (2,)
    assert peak < 2 * mib, f"planning held {peak / mib:.1f} MiB"


@st.composite
def csv_bytes_with_oddities(draw: st.DrawFn) -> bytes:
    """CSV as above, some lines carrying an invalid byte or a NUL."""
    data = draw(csv_bytes())
    lines = data.split(b"\n")
    for index in draw(st.lists(st.integers(min_value=1, max_value=max(len(lines) - 1, 1)))):
        if index < len(lines):
            lines[index] += draw(st.sampled_from([b"\xff", b"\x00", b"z" * 30, b"\r" * 30]))
    return b"\n".join(lines)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=csv_bytes_with_oddities(),
    rows=st.integers(min_value=1, max_value=7),
    limit=st.sampled_from([3, 12, 40]),
    block=st.integers(min_value=1, max_value=64),
)
def test_long_lines_read_in_pieces_match_the_whole_range(
    data: bytes, rows: int, limit: int, block: int
) -> None:
    """Lines over the field limit, read in pieces and stood in for, give the same records.

    Small blocks cut lines (and CR-LF endings) across pieces.
    """
    layout = read_layout(io.BytesIO(data), encoding="utf-8", delimiter=",")
    planned = _outcome(
        lambda: list(plan_ranges(io.BytesIO(data), layout, rows, max_field_bytes=limit))
    )
    if not isinstance(planned, list):
        return  # refused while planning: nothing to read
    for byte_range in planned:

        def read(byte_range: csvfile.ByteRange = byte_range) -> object:
            return read_range(io.BytesIO(data), layout, byte_range, max_field_bytes=limit)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(planning, "_PLAN_BLOCK", block)
            in_pieces = _outcome(read)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(reading, "_without_long_fields", lambda *args: None)
            whole = _outcome(read)
        assert in_pieces == whole


class NoReadlineLimit(io.BytesIO):
    """A file like fsspec's buffered ones (S3): ``readline`` takes no size."""

    def readline(self) -> bytes:  # type: ignore[override]
        return super().readline()


def test_long_lines_on_storage_whose_files_take_no_readline_limit() -> None:
    data = b"code,body\na," + b"z" * 5_000 + b"\nb,fine\n"
    layout = read_layout(NoReadlineLimit(data), encoding="utf-8", delimiter=",")
    [only] = list(plan_ranges(NoReadlineLimit(data), layout, 100, max_field_bytes=1_000))
    records = read_range(NoReadlineLimit(data), layout, only, max_field_bytes=1_000)
    assert only.long_lines == (2,)
    assert [line for line, _ in records] == [2, 3]
    assert "body: the field is over the limit of 1,000 bytes" in str(records[0][1])
    assert records[1] == (3, ["b", "fine"])


# -- lines that end in a bare CR part-way through -------------------------------------------

any_ending = st.sampled_from(["\n", "\r\n", "\r"])


#: Quoted fields without a CR: one inside quotes is field content, which the csv module's
#: line count takes for a line end where planning (on LF until a bare CR) does not.
quoted_without_cr = st.text(alphabet='ab,"\n ', max_size=6).map(
    lambda text: '"' + text.replace('"', '""') + '"'
)
record_without_quoted_cr = st.lists(
    st.one_of(plain_field, plain_field, quoted_without_cr), min_size=1, max_size=4
)


@st.composite
def csv_bytes_with_any_line_ends(draw: st.DrawFn) -> bytes:
    """CSV whose records end in LF, CR-LF or a bare CR, mixed; never CR-CR (see below)."""
    lines = draw(
        st.lists(st.tuples(record_without_quoted_cr.map(",".join), any_ending), max_size=40)
    )
    body = "".join(text + end for text, end in lines)
    return ("h1,h2\n" + body).encode()


def _universal(data: bytes, layout: csvfile.CsvLayout) -> object:
    """(line, fields) of each record as the csv module reads the text with universal newlines."""
    text = data[layout.data_offset :].decode()
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    out = []
    try:
        while True:
            line = reader.line_num + layout.header_lines + 1
            fields = next(reader)
            if fields:
                out.append((line, fields))
    except StopIteration:
        return out
    except csv.Error:
        return "refused"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=csv_bytes_with_any_line_ends(),
    rows=st.integers(min_value=1, max_value=7),
    block=st.integers(min_value=1, max_value=90),
)
def test_mixed_line_ends_read_as_universal_newlines(data: bytes, rows: int, block: int) -> None:
    """Ranges planned in blocks of any size and read one by one give the csv module's records.

    CR-CR is left out: a CR before CR-LF is taken as part of that line end (files
    saved twice on Windows), where universal newlines see a blank line.
    """
    assume(b"\r\r" not in data)
    layout = read_layout(io.BytesIO(data), encoding="utf-8", delimiter=",")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(planning, "_PLAN_BLOCK", block)
        ranges = _outcome(lambda: list(plan_ranges(io.BytesIO(data), layout, rows)))

    def read_all() -> object:
        assert isinstance(ranges, list)
        stream = io.BytesIO(data)
        return [record for r in ranges for record in read_range(stream, layout, r)]

    ours = _outcome(read_all) if isinstance(ranges, list) else ranges
    expected = _universal(data, layout)
    if expected == "refused":
        assert isinstance(ours, tuple), ours
    else:
        assert ours == expected
        assert isinstance(ranges, list)
        assert sum(r.rows for r in ranges) == len(expected)  # type: ignore[arg-type]


def test_only_ranges_from_the_first_bare_cr_on_are_read_with_cr_line_ends() -> None:
    lf = b"".join(b"%d,lf\n" % i for i in range(1, 7))
    cr = b"".join(b"%d,cr\r" % i for i in range(7, 10))
    data = b"id,kind\n" + lf + cr + b"10,lf\n"
    layout = read_layout(io.BytesIO(data), encoding="utf-8", delimiter=",")
    ranges = list(plan_ranges(io.BytesIO(data), layout, 4))
    assert [(r.first_line, r.rows, r.cr_lines) for r in ranges] == [
        (2, 4, False),
        (6, 2, False),  # cut short before line 8, which holds the first bare CR
        (8, 4, True),
    ]
    read = [record for r in ranges for record in read_range(io.BytesIO(data), layout, r)]
    kinds = ["lf"] * 6 + ["cr"] * 3 + ["lf"]
    assert read == [(line, [str(line - 1), kinds[line - 2]]) for line in range(2, 12)]


def test_a_cr_inside_quotes_is_field_content_and_no_line_end() -> None:
    data = b'id,note\r\n1,"one\rtwo"\r\n2,plain\r\n'
    layout = read_layout(io.BytesIO(data), encoding="utf-8", delimiter=",")
    [only] = list(plan_ranges(io.BytesIO(data), layout, 100))
    assert (only.first_line, only.rows, only.cr_lines) == (2, 2, False)
    records = read_range(io.BytesIO(data), layout, only)
    assert records == [(2, ["1", "one\rtwo"]), (3, ["2", "plain"])]


def test_a_cr_before_crlf_is_part_of_the_line_end() -> None:
    data = b"id,kind\r\r\n" + b"".join(b"%d,x\r\r\n" % i for i in range(1, 5))
    data += b'5,"quoted"\r\r\n6,"with\r",x\r\r\n'
    layout = read_layout(io.BytesIO(data), encoding="utf-8", delimiter=",")
    [only] = list(plan_ranges(io.BytesIO(data), layout, 100))
    assert (only.first_line, only.rows, only.cr_lines) == (2, 6, False)
    records = read_range(io.BytesIO(data), layout, only)
    assert [line for line, _ in records] == [2, 3, 4, 5, 6, 7]
    assert records[-2:] == [(6, ["5", "quoted"]), (7, ["6", "with\r", "x"])]


def test_a_line_over_the_limit_after_bare_crs_is_refused_not_held(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the switch a line cannot be read in pieces, so planning refuses it unread."""
    mib = 1 << 20
    monkeypatch.setattr(planning, "FIELD_LIMIT", mib)
    data = b"code,body\na,lf\nb,cr\rc," + b"z" * (4 * mib) + b"\rd,fine\r"
    layout = read_layout(io.BytesIO(data), encoding="utf-8", delimiter=",")
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=r"line 4 is over 1,048,576 bytes.*bare carriage"):
            list(plan_ranges(io.BytesIO(data), layout, 1_000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * mib, f"planning held {peak / mib:.1f} MiB"


@st.composite
def csv_bytes_with_every_line_end(draw: st.DrawFn) -> bytes:
    """CSV with LF, CR-LF, bare CR and CR-CR-LF line ends, quoted CRs and LFs, blank lines."""
    lines = draw(
        st.lists(st.tuples(piece, st.sampled_from(["\n", "\r\n", "\r", "\r\r\n"])), max_size=30)
    )
    return ("h1,h2\n" + "".join(text + end for text, end in lines)).encode()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=csv_bytes_with_every_line_end(), rows=st.integers(min_value=1, max_value=7))
def test_what_a_file_reads_as_does_not_depend_on_the_range_size(data: bytes, rows: int) -> None:
    """The same records at the same lines (or a refusal) in ranges of any size. Where a
    malformed record is refused, the line the csv module names may differ with the range."""
    layout = read_layout(io.BytesIO(data), encoding="utf-8", delimiter=",")

    def read_all(size: int) -> object:
        def read() -> object:
            ranges = list(plan_ranges(io.BytesIO(data), layout, size))
            return [rec for r in ranges for rec in read_range(io.BytesIO(data), layout, r)]

        outcome = _outcome(read)
        return "refused" if isinstance(outcome, tuple) else outcome

    assert read_all(rows) == read_all(1_000)


def test_a_line_over_the_limit_before_the_first_bare_cr_is_read_in_pieces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only lines past the switch are refused for their length, whatever the range size."""
    monkeypatch.setattr(planning, "FIELD_LIMIT", 1 << 10)
    data = b"code,body\na," + b"x" * 2_000 + b"\nb,lf\nc,cr\rd,cr\r"
    layout = read_layout(io.BytesIO(data), encoding="utf-8", delimiter=",")
    for rows in (1, 2, 1_000):
        ranges = list(plan_ranges(io.BytesIO(data), layout, rows, max_field_bytes=100))
        read = [
            r for b in ranges for r in read_range(io.BytesIO(data), layout, b, max_field_bytes=100)
        ]
        assert [line for line, _ in read] == [2, 3, 4, 5]
        assert read[1:] == [(3, ["b", "lf"]), (4, ["c", "cr"]), (5, ["d", "cr"])]


def test_past_the_switch_a_line_over_16_mib_is_refused_whatever_the_field_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(planning, "FIELD_LIMIT", 50)
    data = b"k,v\na,1\rb," + b"z" * 70 + b"\rc,3\r"
    layout = read_layout(io.BytesIO(data), encoding="utf-8", delimiter=",")
    with pytest.raises(InputError, match="line 3 is over 50 bytes"):
        list(plan_ranges(io.BytesIO(data), layout, 100, max_field_bytes=100))


def test_bare_cr_line_ends_in_a_decoder_that_takes_a_cr_into_its_replacement() -> None:
    """UTF-7's "replace" eats the CR after an unfinished sequence: lines are decoded apart."""
    data = b"k,v\na,1\nx+AA\ry,1\rz+\xff,2\rw,3\r"
    layout = read_layout(io.BytesIO(data), encoding="utf-7", delimiter=",")
    ranges = list(plan_ranges(io.BytesIO(data), layout, 100))
    read = [r for b in ranges for r in read_range(io.BytesIO(data), layout, b)]
    assert sum(r.rows for r in ranges) == len(read) == 5
    assert [(line, values) for line, values in read if type(values) is list] == [
        (2, ["a", "1"]),
        (4, ["y", "1"]),
        (6, ["w", "3"]),
    ]
    assert [line for line, values in read if isinstance(values, BadRecord)] == [3, 5]
