"""Streaming readers and writers, one module per file format.

Each format module declares its :class:`~jobport.formats.spec.FormatSpec`
(``FORMAT``); the registry knows the built-in ones by name and suffix and
imports a format's module on its first lookup, so importing a piece of this
package (cells, the read options) or reading a CSV file does not import every
reader and writer. Formats of other
packages join through the ``jobport.formats`` entry point group (see
:mod:`jobport.formats.spec`).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from jobport.formats.base import BadRecord, Prepared, ReadOptions, Record, TabularFormat
from jobport.formats.spec import FORMATS, Extra, FileWriter, FormatSpec, register

#: jobport's own formats, in the order they are listed to people: each one's name, the
#: suffixes that suggest it and the module whose ``FORMAT`` declares it. A module is
#: imported on its format's first lookup: a CSV import loads no XLSX or Parquet reader.
BUILT_INS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("csv", (".csv", ".tsv", ".txt"), "jobport.formats.csvfile"),
    ("xlsx", (".xlsx",), "jobport.formats.xlsx"),
    ("jsonl", (".jsonl", ".ndjson"), "jobport.formats.jsonl"),
    ("parquet", (".parquet",), "jobport.formats.parquet"),
)


def _loader(module: str) -> Callable[[], FormatSpec]:
    def load() -> FormatSpec:
        spec: FormatSpec = import_module(module).FORMAT
        return spec

    return load


for _name, _suffixes, _module in BUILT_INS:
    FORMATS.defer(_name, _suffixes, _loader(_module))


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
