"""Streaming readers and writers, one module per file format.

Each format module declares its :class:`~jobport.formats.spec.FormatSpec`
(``FORMAT``); the registry loads the built-in ones on its first lookup, in the
order they are listed to people, so importing a piece of this package (cells,
the read options) does not import every reader and writer. Formats of other
packages join through the ``jobport.formats`` entry point group (see
:mod:`jobport.formats.spec`).
"""

from __future__ import annotations

from jobport.formats.base import BadRecord, Prepared, ReadOptions, Record, TabularFormat
from jobport.formats.spec import FORMATS, Extra, FileWriter, FormatSpec, register


def _built_in_formats() -> list[FormatSpec]:
    """jobport's own formats: imported when a format is first needed, not with the package."""
    from jobport.formats import csvfile, jsonl, parquet, xlsx

    return [csvfile.FORMAT, xlsx.FORMAT, jsonl.FORMAT, parquet.FORMAT]


FORMATS.defer_built_ins(_built_in_formats)


def reader_for(name: str) -> TabularFormat:
    """The reader of a registered format, or an InputError listing the readable ones."""
    return FORMATS.reader(name)


def sniff_format(head: bytes) -> str | None:
    """The format these first bytes belong to, if any reader recognises them."""
    return FORMATS.sniff(head)


__all__ = [
    "FORMATS",
    "BadRecord",
    "Extra",
    "FileWriter",
    "FormatSpec",
    "Prepared",
    "ReadOptions",
    "Record",
    "TabularFormat",
    "reader_for",
    "register",
    "sniff_format",
]
