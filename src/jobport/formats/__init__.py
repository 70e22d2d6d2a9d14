"""Streaming readers and writers, one module per file format."""

from __future__ import annotations

from jobport.errors import InputError
from jobport.formats.base import BadRecord, Prepared, ReadOptions, Record, TabularFormat
from jobport.formats.csvfile import CsvFormat
from jobport.formats.jsonl import JsonLinesFormat
from jobport.formats.parquet import ParquetFormat
from jobport.formats.xlsx import XlsxFormat

_READERS: dict[str, TabularFormat] = {
    "csv": CsvFormat(),
    "jsonl": JsonLinesFormat(),
    "xlsx": XlsxFormat(),
    "parquet": ParquetFormat(),
}


def reader_for(name: str) -> TabularFormat:
    try:
        return _READERS[name]
    except KeyError:
        known = ", ".join(sorted(_READERS))
        raise InputError(f"cannot read '{name}' files; readable formats: {known}") from None


def sniff_format(head: bytes) -> str | None:
    """The format these first bytes belong to, if any reader recognises them."""
    for name, reader in _READERS.items():
        if name != "csv" and reader.sniff(head):
            return name
    return "csv" if _READERS["csv"].sniff(head) else None


__all__ = [
    "BadRecord",
    "Prepared",
    "ReadOptions",
    "Record",
    "TabularFormat",
    "reader_for",
    "sniff_format",
]
