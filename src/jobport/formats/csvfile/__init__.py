"""CSV reading in byte ranges, so chunks of one file can be read in parallel.

Planning walks the file once, counting records by quote parity and noting
the byte offset and line number where every chunk starts; a chunk then seeks
to its offset and parses only its own bytes. Memory depends on the chunk size, never on the
file size.

The work is split by step: ``encoding`` (byte-order marks, the UTF-8 copy),
``layout`` (the header and what chunks share), ``planning`` (cutting ranges),
``reading`` and ``longlines`` (a range into records). This module is the reader
the registry knows, and what other code imports.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from jobport.formats.base import Prepared, ReadOptions, Record, discard
from jobport.formats.csvfile.detect import SAMPLE_BYTES, guess_encoding
from jobport.formats.csvfile.encoding import (
    _ends_lines_with_cr,
    detect_bom,
    is_line_splittable,
    transcode_to_utf8,
)
from jobport.formats.csvfile.layout import FIELD_LIMIT, ByteRange, CsvLayout, read_layout
from jobport.formats.csvfile.planning import plan_ranges
from jobport.formats.csvfile.reading import read_range
from jobport.formats.spec import FormatSpec

if TYPE_CHECKING:
    from jobport.files import FileStore

__all__ = [
    "FIELD_LIMIT",
    "FORMAT",
    "ByteRange",
    "CsvFormat",
    "CsvLayout",
    "detect_bom",
    "guess_encoding",
    "is_line_splittable",
    "plan_ranges",
    "read_layout",
    "read_range",
    "transcode_to_utf8",
]

_ZIP_MAGIC = b"PK\x03\x04"
_PARQUET_MAGIC = b"PAR1"
#: Compressed, image and document formats people upload by mistake.
_BINARY_MAGIC = (
    b"\x1f\x8b",  # gzip
    b"BZh",  # bzip2
    b"\xfd7zXZ\x00",  # xz
    b"7z\xbc\xaf\x27\x1c",  # 7-Zip
    b"\x89PNG",
    b"\xff\xd8\xff",  # JPEG
    b"GIF8",
    b"%PDF",
    b"\xd0\xcf\x11\xe0",  # OLE2: legacy .xls / .doc
)


class CsvFormat:
    """Delimited text: UTF-8 by default, BOMs honoured, another encoding detected (or
    given), UTF-16/32 rewritten as UTF-8."""

    name = "csv"

    def sniff(self, head: bytes) -> bool:
        """Text, not a known binary format. A stray NUL is a row problem, many mean binary."""
        if head.startswith((_ZIP_MAGIC, _PARQUET_MAGIC, *_BINARY_MAGIC)):
            return False
        encoding, _ = detect_bom(head)
        if encoding in ("utf-16", "utf-32"):
            return True
        return head.count(b"\x00") * 100 <= len(head)

    def prepare(self, files: FileStore, key: str, read: ReadOptions) -> Prepared:
        """The header read, from a UTF-8 copy under ``work/`` where lines cannot be split
        as stored; the copy is the run's to read later, and a file refused here
        leaves none behind (nor one refused later: it is in ``Prepared.scratch``).

        The encoding is the byte-order mark's, else the one the user gave, else
        UTF-8 when the first MiB is, else the one detected there (see
        :mod:`.detect`). The params say which (``file_encoding``) and whether it
        was a guess (``encoding_detected``), for the run and the preview to say.
        """
        encoding, detected = _file_encoding(files, key, read)
        splittable = is_line_splittable(encoding)  # refuses an unknown encoding in words
        file_encoding = codecs.lookup(encoding).name
        scratch: list[str] = []
        if not splittable or _ends_lines_with_cr(files, key):
            key = transcode_to_utf8(files, key, encoding)
            scratch.append(key)
            encoding = "utf-8"
        encoding = codecs.lookup(encoding).name
        try:
            with files.open(key) as stream:
                layout = read_layout(
                    stream, encoding=encoding, delimiter=read.delimiter, header_row=read.header_row
                )
        except BaseException:
            discard(files, scratch)
            raise
        params = layout.to_params()
        params["file_encoding"] = file_encoding
        if detected:
            params["encoding_detected"] = True
        return Prepared(source_key=key, header=layout.header, params=params, scratch=scratch)

    def plan(
        self, files: FileStore, prepared: Prepared, rows_per_chunk: int
    ) -> Iterator[dict[str, Any]]:
        layout = CsvLayout.from_params(prepared.params)
        with files.open(prepared.source_key) as stream:
            limit = prepared.params.get("max_field_bytes")
            for r in plan_ranges(stream, layout, rows_per_chunk, max_field_bytes=limit):
                spec: dict[str, Any] = {
                    "start": r.start,
                    "end": r.end,
                    "first_line": r.first_line,
                    "rows": r.rows,
                }
                if r.long_lines:
                    spec["long_lines"] = list(r.long_lines)
                if r.cr_lines:
                    spec["cr_lines"] = True
                yield spec

    def read(
        self, files: FileStore, source_key: str, params: dict[str, Any], spec: dict[str, Any]
    ) -> Iterator[Record]:
        layout = CsvLayout.from_params(params)
        with files.open(source_key) as stream:
            byte_range = ByteRange(**{**spec, "long_lines": tuple(spec.get("long_lines", ()))})
            return iter(
                read_range(
                    stream, layout, byte_range, max_field_bytes=params.get("max_field_bytes")
                )
            )


def _file_encoding(files: FileStore, key: str, read: ReadOptions) -> tuple[str, bool]:
    """The encoding to read the file in, and whether it was detected rather than known."""
    with files.open(key) as stream:
        head = stream.read(4 if read.encoding else SAMPLE_BYTES)
    bom_encoding, _ = detect_bom(head)
    if bom_encoding or read.encoding:
        return bom_encoding or str(read.encoding), False
    guessed = guess_encoding(head)
    return (guessed, True) if guessed else ("utf-8", False)


#: The CSV format, as the registry knows it (see :mod:`jobport.formats.spec`). Any text no
#: other format claims is CSV, so it is sniffed last.
FORMAT = FormatSpec(
    name="csv",
    suffixes=(".csv", ".tsv", ".txt"),
    media_type="text/csv; charset=utf-8",
    label="CSV",
    reader=CsvFormat(),
    writer_at="jobport.formats.writers:CSV_WRITER",
    sniff_last=True,
)
