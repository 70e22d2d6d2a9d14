"""Helpers of the format tests: a file store in a temporary folder, reading a whole file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobport.files import FileStore
from jobport.formats import ReadOptions, reader_for


def stored(files: FileStore, path: Path) -> str:
    key, _ = files.put_file(str(path), extension=path.suffix)
    return key


def read_all(
    files: FileStore, fmt: str, key: str, rows_per_chunk: int = 1000, **read: Any
) -> tuple[list[str], list[tuple[int, Any]], list[dict[str, Any]]]:
    """(header, every record of every chunk in order, the chunk specs)."""
    reader = reader_for(fmt)
    prepared = reader.prepare(files, key, ReadOptions(**read))
    specs = list(reader.plan(files, prepared, rows_per_chunk))
    layout = {**prepared.params, "header": prepared.header}
    records = [
        record for spec in specs for record in reader.read(files, prepared.source_key, layout, spec)
    ]
    return prepared.header, records, specs
