"""JSON Lines reading in byte ranges: one JSON object per line, UTF-8.

Planning walks the file once, noting where every chunk of lines starts and
collecting the keys the objects use (in first-seen order: a key that only
later objects carry is still a column). A chunk seeks to its byte range and
decodes only its own lines. A line that is not a JSON object is a failure of
that line, never of the file.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from jobport.errors import InputError
from jobport.formats.base import NUL_ROW, BadRecord, Prepared, ReadOptions, Record
from jobport.formats.cells import as_text
from jobport.formats.spec import FormatSpec

if TYPE_CHECKING:
    from jobport.files import FileStore

#: Longest line the planner accepts, so a file without newlines cannot fill memory.
LINE_LIMIT = 16 << 20


class JsonLinesFormat:
    """Newline-delimited JSON objects (``.jsonl``, ``.ndjson``)."""

    name = "jsonl"

    def sniff(self, head: bytes) -> bool:
        text = head.removeprefix(codecs.BOM_UTF8)
        lines = [line.strip() for line in text.split(b"\n")]
        complete = lines[:-1] if len(lines) > 1 else lines
        filled = [line for line in complete if line]
        if not filled and lines[-1].strip():
            filled = [lines[-1].strip()]
        return bool(filled) and all(line.startswith(b"{") for line in filled[:20])

    def prepare(self, files: FileStore, key: str, read: ReadOptions) -> Prepared:
        if read.encoding and codecs.lookup(read.encoding).name != "utf-8":
            raise InputError("JSON Lines files are UTF-8; re-save the file as UTF-8")
        keys: dict[str, None] = {}
        with files.open(key) as stream:
            start = 3 if stream.read(3) == codecs.BOM_UTF8 else 0
            stream.seek(start)
            for raw in _lines(stream):
                if not raw.strip():
                    continue
                try:
                    value = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(value, dict):
                    keys.update(dict.fromkeys(value))
        if not keys:
            raise InputError("the file holds no JSON object: expected one object per line")
        return Prepared(source_key=key, header=list(keys), params={"data_offset": start})

    def plan(
        self, files: FileStore, prepared: Prepared, rows_per_chunk: int
    ) -> Iterator[dict[str, Any]]:
        offset = start = int(prepared.params["data_offset"])
        line = 0
        first_line = 1
        rows = 0
        with files.open(prepared.source_key) as stream:
            stream.seek(offset)
            for raw in _lines(stream):
                line += 1
                offset += len(raw)
                if not raw.strip():
                    if rows == 0:
                        start, first_line = offset, line + 1
                    continue
                rows += 1
                if rows == rows_per_chunk:
                    yield {"start": start, "end": offset, "first_line": first_line, "rows": rows}
                    start, first_line, rows = offset, line + 1, 0
        if rows:
            yield {"start": start, "end": offset, "first_line": first_line, "rows": rows}

    def read(
        self, files: FileStore, source_key: str, params: dict[str, Any], spec: dict[str, Any]
    ) -> Iterator[Record]:
        with files.open(source_key) as stream:
            stream.seek(spec["start"])
            data = stream.read(spec["end"] - spec["start"])
        return iter(parse_lines(data, list(params["header"]), int(spec["first_line"])))


def parse_lines(data: bytes, header: list[str], first_line: int) -> list[Record]:
    """(line number, values in header order as text) for each object of ``data``."""
    records: list[Record] = []
    loads = json.loads
    text = as_text
    for index, raw in enumerate(data.split(b"\n")):
        if not raw.strip():
            continue
        line = first_line + index
        try:
            value = loads(raw)
        except UnicodeDecodeError:
            records.append((line, BadRecord("the line is not valid UTF-8")))
            continue
        except ValueError as exc:
            records.append((line, BadRecord(f"the line is not valid JSON: {exc}")))
            continue
        if type(value) is not dict:
            reason = f"the line holds a JSON {_json_kind(value)}, not an object"
            records.append((line, BadRecord(reason)))
            continue
        get = value.get
        values = [text(get(name)) for name in header]
        # JSON writes a NUL only escaped; PostgreSQL text cannot hold one.
        if b"\\u0000" in raw and any(cell and "\x00" in cell for cell in values):
            records.append((line, NUL_ROW))
            continue
        records.append((line, values))
    return records


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _lines(stream: Any) -> Iterator[bytes]:
    """Lines of a binary stream, refusing one longer than :data:`LINE_LIMIT`."""
    while True:
        raw: bytes = stream.readline(LINE_LIMIT + 1)
        if not raw:
            return
        if len(raw) > LINE_LIMIT and not raw.endswith(b"\n"):
            raise InputError(f"a line is longer than {LINE_LIMIT:,} bytes; is this JSON Lines?")
        yield raw


#: The JSON Lines format, as the registry knows it (see :mod:`jobport.formats.spec`).
FORMAT = FormatSpec(
    name="jsonl",
    suffixes=(".jsonl", ".ndjson"),
    media_type="application/x-ndjson",
    label="JSON Lines",
    reader=JsonLinesFormat(),
    writer_at="jobport.formats.writers:JSONL_WRITER",
)
