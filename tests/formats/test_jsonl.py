"""JSON Lines: keys in first-seen order, bad lines as row failures, byte-range chunks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.formats.support import read_all, stored

from jobport.errors import InputError
from jobport.files import FileStore
from jobport.formats import BadRecord, reader_for, sniff_format


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_header_is_every_key_in_first_seen_order(files: FileStore, tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", ['{"id": 1, "name": "a"}', '{"id": 2, "age": 30}'])
    header, records, _ = read_all(files, "jsonl", stored(files, path))
    assert header == ["id", "name", "age"]
    assert records == [(1, ["1", "a", None]), (2, ["2", None, "30"])]


def test_bad_lines_are_failures_of_their_line(files: FileStore, tmp_path: Path) -> None:
    path = write(
        tmp_path / "b.jsonl",
        ['{"id": 1}', "", "{not json", "[1, 2]", '"text"', '{"id": 6, "ok": true}'],
    )
    _, records, _ = read_all(files, "jsonl", stored(files, path))
    assert [line for line, _ in records] == [1, 3, 4, 5, 6]
    bad = {line: str(value) for line, value in records if isinstance(value, BadRecord)}
    assert set(bad) == {3, 4, 5}
    assert "not valid JSON" in bad[3]
    assert "array, not an object" in bad[4]
    assert "string, not an object" in bad[5]
    assert records[-1] == (6, ["6", "true"])


def test_a_nul_in_a_string_fails_its_line_only(files: FileStore, tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": 1, "name": "nul\u0000in"}),
        json.dumps({"id": 2, "name": "a backslash-u: \\u0000 is text"}),
    ]
    path = write(tmp_path / "n.jsonl", lines)
    _, records, _ = read_all(files, "jsonl", stored(files, path))
    assert isinstance(records[0][1], BadRecord)
    assert "NUL" in str(records[0][1])
    assert records[1] == (2, ["2", "a backslash-u: \\u0000 is text"])


def test_typed_values_are_text(files: FileStore, tmp_path: Path) -> None:
    path = write(tmp_path / "c.jsonl", [json.dumps({"n": 42.0, "f": 1.5, "b": False, "o": [1]})])
    _, records, _ = read_all(files, "jsonl", stored(files, path))
    assert records == [(1, ["42", "1.5", "false", "[1]"])]


@pytest.mark.parametrize("size", [1, 2, 7, 100])
def test_chunks_cover_every_line_once(files: FileStore, tmp_path: Path, size: int) -> None:
    lines = [json.dumps({"i": i}) if i % 5 else "" for i in range(1, 40)]
    key = stored(files, write(tmp_path / "d.jsonl", lines))
    _, records, specs = read_all(files, "jsonl", key, rows_per_chunk=size)
    assert [values for _, values in records] == [[str(i)] for i in range(1, 40) if i % 5]
    assert [line for line, _ in records] == [i for i in range(1, 40) if i % 5]
    assert sum(spec["rows"] for spec in specs) == len(records)


def test_a_file_without_objects_is_refused(files: FileStore, tmp_path: Path) -> None:
    key = stored(files, write(tmp_path / "e.jsonl", ["[1]", "2"]))
    with pytest.raises(InputError, match="no JSON object"):
        read_all(files, "jsonl", key)


def test_sniffing() -> None:
    assert reader_for("jsonl").sniff(b'{"a": 1}\n{"a": 2}\n')
    assert not reader_for("jsonl").sniff(b"a,b\n1,2\n")
    assert sniff_format(b'\xef\xbb\xbf{"a": 1}\n') == "jsonl"
