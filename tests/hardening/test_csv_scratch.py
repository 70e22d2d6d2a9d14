"""A CSV rewritten before reading (UTF-16/32, bare CR line ends) leaves no copy it will not use.

Preparing such a file writes a UTF-8 copy under ``work/`` for the chunks to
read. A run keeps it; a file refused while preparing or planning, and a
preview, leave nothing behind, as a refused workbook does.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.hardening.support import DEMO_HEADER, customer, import_bytes, refusal

from jobport import Jobport
from jobport.kinds.base import PlanRequest
from jobport.kinds.preview import preview_import
from jobport.registry import NoOptions


def work_files(root: Path) -> list[Path]:
    return sorted((root / "files" / "work").glob("*"))


def utf16(data: bytes) -> bytes:
    return codecs.BOM_UTF16_LE + data.decode().encode("utf-16-le")


def bare_cr(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r")


@pytest.mark.parametrize("rewrite", [utf16, bare_cr], ids=["utf-16", "bare-cr"])
@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"id,email\n1,a@example.com\n", "missing required column"),
        (b"id,last\x00name\n" + b"1,x\n" * 100, "the header holds a NUL byte"),
        (DEMO_HEADER.replace(b"\n", b",x" * 1_000 + b"\n") + customer(1), "over the limit"),
    ],
    ids=["planning", "preparing", "columns"],
)
def test_a_refused_rewritten_csv_leaves_nothing_under_work(
    engine: Jobport, tmp_path: Path, rewrite: Callable[[bytes], bytes], data: bytes, reason: str
) -> None:
    message = refusal(engine, tmp_path, rewrite(data), name="refused.csv")
    assert reason in message
    assert work_files(tmp_path) == []


def test_a_rewritten_csv_keeps_its_copy_for_the_run_and_a_preview_keeps_nothing(
    engine: Jobport, tmp_path: Path
) -> None:
    data = utf16(DEMO_HEADER + customer(1) + customer(2))
    run = import_bytes(engine, tmp_path, data, name="kept.csv")
    assert run.status == "completed", run.error
    kept = work_files(tmp_path)
    assert run.source_key is not None
    assert kept == [tmp_path / "files" / run.source_key]
    upload = engine.dispatcher.store_upload(io.BytesIO(data), "again.csv")
    preview = preview_import(
        PlanRequest(
            job_type=engine.registry.get("customers"),
            options=NoOptions(),
            files=engine.files,
            database=engine.database,
            source_key=upload,
            format="csv",
        )
    )
    assert [row.line for row in preview.rows] == [2, 3]
    assert work_files(tmp_path) == kept
