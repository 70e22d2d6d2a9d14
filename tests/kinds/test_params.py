"""Typed run params and chunk specs keep the JSON the store already holds."""

from __future__ import annotations

from typing import Any

from jobport.kinds.params import FileParams, ImportParams, KeyRange

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
