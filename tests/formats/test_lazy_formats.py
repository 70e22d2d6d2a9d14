"""Built-in formats are declared by name and suffix, their modules imported on first lookup."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from jobport.errors import ConfigurationError
from jobport.formats import BUILT_INS, FORMATS, FormatSpec
from jobport.formats.spec import FormatRegistry


def test_each_built_in_is_declared_as_its_module_declares_it() -> None:
    specs = FORMATS.specs()
    assert [s.name for s in specs[: len(BUILT_INS)]] == [name for name, _, _ in BUILT_INS]
    for spec, (name, suffixes, _) in zip(specs, BUILT_INS, strict=False):
        assert (spec.name, spec.suffixes) == (name, suffixes)
        assert spec.writes
        assert spec.file_writer() is FORMATS.writer(name)


def test_a_csv_lookup_imports_no_other_reader_nor_the_writers() -> None:
    code = (
        "import json, sys; from jobport.formats import FORMATS; "
        "assert FORMATS.by_suffix('.CSV').name == 'csv'; FORMATS.reader('csv'); "
        "FORMATS.suffixes(); "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('jobport.formats.'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(json.loads(done.stdout))
    assert "jobport.formats.csvfile" in loaded
    assert not loaded & {
        "jobport.formats.xlsx",
        "jobport.formats.jsonl",
        "jobport.formats.parquet",
        "jobport.formats.writers",
    }


def test_a_deferred_format_whose_spec_disagrees_is_refused() -> None:
    registry = FormatRegistry(load_entry_points=False)
    spec = FormatSpec(name="text", suffixes=(".text",), media_type="text/plain")
    registry.defer("text", (".txt",), lambda: spec)
    with pytest.raises(ConfigurationError, match="declared with the suffixes"):
        registry.get("text")


def test_a_deferred_name_or_suffix_cannot_be_taken_again() -> None:
    registry = FormatRegistry(load_entry_points=False)
    spec = FormatSpec(name="text", suffixes=(".txt",), media_type="text/plain")
    registry.defer("text", (".txt",), lambda: spec)
    with pytest.raises(ConfigurationError, match="declared twice"):
        registry.add(spec)
    clash = FormatSpec(name="other", suffixes=(".txt",), media_type="text/plain")
    with pytest.raises(ConfigurationError, match=r"suffix \.txt already belongs to 'text'"):
        registry.add(clash)
    assert registry.get("text") is spec


def test_a_known_suffix_is_told_without_importing_its_format_nor_scanning_plug_ins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Storing an upload asks whether its suffix is a format's: that is one set lookup
    for a built-in suffix (scanning the plug-ins' entry points cost ~8 ms a command)."""
    registry = FormatRegistry()
    loaded: list[str] = []

    def load() -> FormatSpec:
        loaded.append("text")
        return FormatSpec(name="text", suffixes=(".txt",), media_type="text/plain")

    registry.defer("text", (".txt",), load)
    scans: list[bool] = []
    monkeypatch.setattr(registry, "_load_entry_points", lambda: scans.append(True))
    assert registry.knows_suffix(".TXT")
    assert (loaded, scans) == ([], [])
    assert not registry.knows_suffix(".nope")
    assert scans == [True]  # an unknown suffix may be a plug-in's
