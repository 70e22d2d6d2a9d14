"""Typed run params and chunk specs keep the JSON the store already holds."""

from __future__ import annotations

from typing import Any

import pytest

from jobport.kinds.export_keys import key_ranges
from jobport.kinds.params import (
    FileParams,
    ImportParams,
    KeyRange,
    PageSpec,
    RunParams,
    SyncParams,
)
from jobport.kinds.syncs import page_specs
from jobport.kinds.undo import UndoChunk, undo_plan
from jobport.store.undo import UndoSummary

#: An import run's params as a database written before they were typed holds them.
STORED_IMPORT: dict[str, Any] = {
    "layout": {
        "encoding": "utf-8",
        "delimiter": ",",
        "header": ["code", "name"],
        "data_offset": 10,
        "header_lines": 1,
    },
    "columns": [[0, "code"], [1, "name"]],
    "warnings": [],
}


def test_stored_import_params_load_and_are_written_back_unchanged() -> None:
    params = ImportParams.of(STORED_IMPORT)
    assert params.header == ["code", "name"]
    assert params.columns == [[0, "code"], [1, "name"]]
    assert params.to_json() == STORED_IMPORT


def test_import_params_of_a_run_stored_without_warnings_have_none() -> None:
    older = {k: v for k, v in STORED_IMPORT.items() if k != "warnings"}
    assert ImportParams.of(older).warnings == []


def test_export_params_and_key_ranges_keep_their_json() -> None:
    stored = {"parts": ["work/a.part"], "parts_meta": ["work/a.json"], "format": "csv"}
    assert FileParams.of(stored).to_json() == stored
    spec = {"after": [3], "upto": [9], "rows": 6}
    assert KeyRange.of(spec).to_json() == spec
    assert KeyRange.of({"after": None, "upto": None, "rows": 1}).upto is None


def test_what_every_run_records_of_its_request_keeps_its_json() -> None:
    stored = {"options": {"country": "fr"}, "read": {"full": True}}
    assert RunParams.of(stored).to_json() == stored
    # A run of any kind holds them among its own params; a missing or null one is empty.
    assert RunParams.of({"options": None, "format": "csv"}) == RunParams({}, {})


def test_the_header_of_a_run_refused_before_its_file_was_read_is_empty() -> None:
    assert ImportParams.header_of(STORED_IMPORT) == ["code", "name"]
    assert ImportParams.header_of({"options": {}, "read": {}}) == []


def test_sync_params_keep_their_json() -> None:
    incremental = {"full": False, "after": 2500, "seen": []}
    assert SyncParams.of(incremental).to_json() == incremental
    full = {"full": True, "after": None, "seen": ["work/a.json", "work/b.json"]}
    params = SyncParams.of(full)
    assert (params.full, params.seen) == (True, ["work/a.json", "work/b.json"])
    assert params.to_json() == full


def test_page_specs_keep_their_json_with_or_without_a_size() -> None:
    sized = {"page": {"after": 0, "limit": 1000, "rows": 1000}, "first": 1, "rows": 1000}
    assert PageSpec.of(sized).to_json() == sized
    unsized = {"page": 3, "first": None}
    assert PageSpec.of(unsized) == PageSpec(3, None)
    assert PageSpec.of(unsized).to_json() == unsized


def test_pages_are_numbered_on_while_every_page_before_said_its_size() -> None:
    pages = [{"rows": 2}, {"rows": 3}, "next", {"rows": 4}]
    assert [page.to_json() for page in page_specs(pages)] == [
        {"page": {"rows": 2}, "first": 1, "rows": 2},
        {"page": {"rows": 3}, "first": 3, "rows": 3},
        {"page": "next", "first": 6},
        {"page": {"rows": 4}, "first": None, "rows": 4},
    ]


@pytest.mark.parametrize(
    ("boundaries", "total", "expected"),
    [
        ([], 0, [(None, None, 0)]),
        ([[2]], 3, [(None, [2], 2), ([2], None, 1)]),
        # A last range that would be full is closed by "no upper bound": no empty chunk.
        ([[2], [4]], 4, [(None, [2], 2), ([2], None, 2)]),
    ],
)
def test_key_ranges_cover_the_rows_between_the_boundaries(
    boundaries: list[list[Any]], total: int, expected: list[tuple[Any, Any, int]]
) -> None:
    ranges = key_ranges(boundaries, total, 2)
    assert [(r.after, r.upto, r.rows) for r in ranges] == expected
    assert [KeyRange.of(r.to_json()) for r in ranges] == ranges


def test_undo_chunks_keep_their_json_last_chunk_first() -> None:
    stored = {"run": "r1", "chunk": 2, "rows": 40}
    assert UndoChunk.of(stored) == UndoChunk("r1", 2, 40)
    assert UndoChunk.of(stored).to_json() == stored
    summary = UndoSummary(chunks=[(0, 30), (2, 40)], restored=50, deleted=20, reinserted=0)
    plan = undo_plan("r1", summary, force=False)
    assert plan.chunks == [
        {"run": "r1", "chunk": 2, "rows": 40},
        {"run": "r1", "chunk": 0, "rows": 30},
    ]
