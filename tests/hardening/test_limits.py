"""Limits per job type and global: file size, rows, columns, field size.

Each refusal names the limit and how to raise it; a refused file writes
nothing. Global limits come from Settings (``JOBPORT_MAX_*``); a job type's
own ``Limits`` take precedence over them, higher or lower.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from tests.hardening.support import (
    failures,
    import_bytes,
    make_engine,
    notes_registry,
    table,
    uploads,
    write,
)

from jobport import Jobport, StartRequest
from jobport.errors import InputError, LimitExceeded
from jobport.registry import Limits


def notes_file(rows: int, *, columns: int = 3, body: str = "text") -> bytes:
    extra = [f"extra{i}" for i in range(columns - 3)]
    header = ",".join(["code", "body", "n", *extra]) + "\n"
    lines = [",".join([f"k{i}", body, str(i), *["x"] * len(extra)]) + "\n" for i in range(rows)]
    return (header + "".join(lines)).encode()


def engine_with(root: Path, *, limits: Limits | None = None, **settings: Any) -> Jobport:
    return make_engine(root, app=None, registry=notes_registry(limits=limits), **settings)


def codes(engine: Jobport) -> list[str]:
    return [row["code"] for row in table(engine, "notes", "code")]


def run_count(engine: Jobport) -> int:
    _, count = engine.store.list_runs()
    return count


def test_limit_refusals_are_input_errors_answered_with_413() -> None:
    assert issubclass(LimitExceeded, InputError)
    assert LimitExceeded.status_code == 413


# -- file size ---------------------------------------------------------------------------------


def test_file_over_the_global_size_limit_is_refused_before_any_run(tmp_path: Path) -> None:
    data = notes_file(20)
    with engine_with(tmp_path, max_upload_bytes=len(data) - 1) as engine:
        with pytest.raises(LimitExceeded) as refused:
            engine.import_file("notes", write(tmp_path, data))
        assert refused.value.message == (
            f"file is larger than the limit of {len(data) - 1:,} bytes "
            "(raise it with the type's limits or JOBPORT_MAX_UPLOAD_BYTES)"
        )
        assert uploads(tmp_path) == []  # the partial copy is removed
        assert run_count(engine) == 0
        assert table(engine, "notes", "code") == []


def test_upload_stream_over_the_size_limit_is_refused_while_streaming(tmp_path: Path) -> None:
    """A stream (an HTTP upload) is cut off once it passes the limit, not after."""

    class Endless(io.RawIOBase):
        """Bytes forever: the copy must stop on its own."""

        def __init__(self) -> None:
            self.served = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            view = memoryview(buffer)
            view[:] = b"k" * len(view)
            self.served += len(view)
            return len(view)

    stream = Endless()
    with engine_with(tmp_path, max_upload_bytes=5 << 20) as engine:
        with pytest.raises(LimitExceeded, match="JOBPORT_MAX_UPLOAD_BYTES"):
            engine.start(
                StartRequest(type="notes", source_name="endless.csv"),
                stream=io.BufferedReader(stream),
            )
        assert stream.served < 8 << 20
        assert uploads(tmp_path) == []
        assert run_count(engine) == 0


def test_file_of_exactly_the_size_limit_is_accepted(tmp_path: Path) -> None:
    data = notes_file(20)
    with engine_with(tmp_path, max_upload_bytes=len(data)) as engine:
        run = import_bytes(engine, tmp_path, data, "notes")
        assert run.status == "completed"
        assert len(codes(engine)) == 20


def test_type_file_size_limit_takes_precedence(tmp_path: Path) -> None:
    data = notes_file(20)
    with engine_with(tmp_path, limits=Limits(max_file_bytes=100)) as engine:
        with pytest.raises(LimitExceeded, match="limit of 100 bytes"):
            engine.import_file("notes", write(tmp_path, data))
        assert uploads(tmp_path) == []
        assert run_count(engine) == 0


def test_type_file_size_refusal_says_how_to_raise_that_limit(tmp_path: Path) -> None:
    with engine_with(tmp_path, limits=Limits(max_file_bytes=100)) as engine:
        with pytest.raises(LimitExceeded) as refused:
            engine.import_file("notes", write(tmp_path, notes_file(20)))
        assert "type's limits" in refused.value.message


# -- rows --------------------------------------------------------------------------------------


def test_too_many_rows_fail_the_run_before_any_row_is_written(tmp_path: Path) -> None:
    with engine_with(tmp_path, max_rows=10) as engine:
        run = import_bytes(engine, tmp_path, notes_file(11), "notes")
        assert run.status == "failed"
        assert run.error == (
            "the file has more than 10 rows, the limit "
            "(raise it with the type's limits or JOBPORT_MAX_ROWS)"
        )
        assert run.chunks_total == 0
        assert codes(engine) == []


def test_rows_up_to_the_limit_are_accepted_and_blank_lines_do_not_count(tmp_path: Path) -> None:
    data = notes_file(10).replace(b"\nk5,", b"\n\n\n\nk5,")
    with engine_with(tmp_path, max_rows=10) as engine:
        run = import_bytes(engine, tmp_path, data, "notes")
        assert run.status == "completed"
        assert len(codes(engine)) == 10


@pytest.mark.parametrize(
    ("type_limit", "global_limit", "rows", "accepted"),
    [
        pytest.param(5, 100, 6, False, id="type-lower-than-global"),
        pytest.param(100, 5, 6, True, id="type-higher-than-global"),
        pytest.param(None, 5, 6, False, id="global-when-type-unset"),
    ],
)
def test_type_row_limit_takes_precedence(
    tmp_path: Path, type_limit: int | None, global_limit: int, rows: int, accepted: bool
) -> None:
    with engine_with(tmp_path, limits=Limits(max_rows=type_limit), max_rows=global_limit) as engine:
        run = import_bytes(engine, tmp_path, notes_file(rows), "notes")
        if accepted:
            assert run.status == "completed"
            assert len(codes(engine)) == rows
        else:
            limit = type_limit or global_limit
            assert run.status == "failed"
            assert run.error is not None
            assert f"more than {limit} rows" in run.error
            assert "JOBPORT_MAX_ROWS" in run.error
            assert codes(engine) == []


# -- columns -----------------------------------------------------------------------------------


def test_too_many_columns_fail_the_run(tmp_path: Path) -> None:
    with engine_with(tmp_path, max_columns=5) as engine:
        run = import_bytes(engine, tmp_path, notes_file(3, columns=6), "notes")
        assert run.status == "failed"
        assert run.error == (
            "the file has 6 columns, over the limit of 5 "
            "(raise it with the type's limits or JOBPORT_MAX_COLUMNS)"
        )
        assert codes(engine) == []


def test_columns_up_to_the_limit_are_accepted(tmp_path: Path) -> None:
    with engine_with(tmp_path, max_columns=5) as engine:
        run = import_bytes(engine, tmp_path, notes_file(3, columns=5), "notes")
        assert run.status == "completed"
        assert codes(engine) == ["k0", "k1", "k2"]


def test_type_column_limit_takes_precedence(tmp_path: Path) -> None:
    with engine_with(tmp_path, limits=Limits(max_columns=4), max_columns=1_000) as engine:
        run = import_bytes(engine, tmp_path, notes_file(3, columns=5), "notes")
        assert run.status == "failed"
        assert run.error is not None
        assert "over the limit of 4" in run.error


# -- field size --------------------------------------------------------------------------------


def test_field_limit_counts_bytes_not_characters(tmp_path: Path) -> None:
    """600 'é' are 600 characters but 1,200 bytes in UTF-8: over a 1,000-byte limit."""
    data = b"code,body\na," + ("é" * 600).encode() + b"\nb," + b"e" * 600 + b"\n"
    with engine_with(tmp_path, max_field_bytes=1_000) as engine:
        run = import_bytes(engine, tmp_path, data, "notes")
        assert run.status == "completed_with_errors"
        assert failures(engine, run.id) == [
            (
                2,
                "body: the field is over the limit of 1,000 bytes (raise it with the type's "
                "limits or JOBPORT_MAX_FIELD_BYTES)",
            )
        ]
        assert codes(engine) == ["b"]


def test_type_field_limit_takes_precedence(tmp_path: Path) -> None:
    data = notes_file(4, body="x" * 50)
    with engine_with(tmp_path, limits=Limits(max_field_bytes=40), max_field_bytes=1_000) as engine:
        run = import_bytes(engine, tmp_path, data, "notes")
        assert run.status == "failed"  # every row failed: nothing was written
        assert [line for line, _ in failures(engine, run.id)] == [2, 3, 4, 5]
        assert all("over the limit of 40 bytes" in m for _, m in failures(engine, run.id))
        assert codes(engine) == []


def test_field_limit_names_the_column_even_when_unused(tmp_path: Path) -> None:
    """A column the type ignores is still a field of the file: the limit applies to it."""
    data = b"code,body,n,comment\na,ok,1," + b"c" * 2_000 + b"\nb,ok,2,short\n"
    with engine_with(tmp_path, max_field_bytes=1_000) as engine:
        run = import_bytes(engine, tmp_path, data, "notes")
        assert failures(engine, run.id) == [
            (
                2,
                "comment: the field is over the limit of 1,000 bytes (raise it with the "
                "type's limits or JOBPORT_MAX_FIELD_BYTES)",
            )
        ]
        assert codes(engine) == ["b"]
