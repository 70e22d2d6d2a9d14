"""The workbook as a ZIP archive: its limits checked before anything is unpacked, where
the chosen sheet's parts are, and which cell styles show a date.

Everything here reads the archive's directory or small XML parts whole; the sheet
and the shared strings, which may be large, are streamed elsewhere.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
import zipfile
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat

from jobport.errors import InputError, LimitExceeded, listed, shown

ZIP_MAGIC = b"PK\x03\x04"

#: Default limits checked before a workbook is unpacked.
MAX_ENTRIES = 10_000
MAX_UNCOMPRESSED_BYTES = 4 << 30
MAX_COMPRESSION_RATIO = 100
#: Entries smaller than this are not held to the ratio (tiny parts compress very well).
RATIO_FLOOR_BYTES = 1 << 20


_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_REL_STRICT_NS = "http://purl.oclc.org/ooxml/officeDocument/relationships"

#: Built-in number formats that show a date or a time (as calamine and Excel read them).
_DATE_FORMAT_IDS = frozenset(
    [*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59), *range(71, 82)]
)


@dataclass(frozen=True)
class ZipLimits:
    max_entries: int = MAX_ENTRIES
    max_uncompressed_bytes: int = MAX_UNCOMPRESSED_BYTES
    max_ratio: float = MAX_COMPRESSION_RATIO


def check_archive(archive: zipfile.ZipFile, limits: ZipLimits) -> None:
    """Refuse an archive over the limits, from its directory alone (nothing is unpacked)."""
    entries = archive.infolist()
    if len(entries) > limits.max_entries:
        raise LimitExceeded(
            f"the workbook holds {len(entries):,} ZIP entries, over the limit of "
            f"{limits.max_entries:,}; it is not a plain spreadsheet"
        )
    total = sum(entry.file_size for entry in entries)
    if total > limits.max_uncompressed_bytes:
        raise LimitExceeded(
            f"the workbook unpacks to {total:,} bytes, over the limit of "
            f"{limits.max_uncompressed_bytes:,}; split it or export it as CSV"
        )
    for entry in entries:
        if entry.flag_bits & 0x1:
            raise InputError("the workbook is encrypted; save it without a password")
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size > RATIO_FLOOR_BYTES and ratio > limits.max_ratio:
            raise LimitExceeded(
                f"the workbook part {entry.filename} unpacks {ratio:,.0f} times its size, over "
                f"the limit of {limits.max_ratio:,.0f}: refused as a possible ZIP bomb"
            )


@dataclass(frozen=True)
class Workbook:
    """Where the parts of the chosen sheet are inside the archive."""

    sheet_name: str
    sheet_part: str
    shared_strings: str | None
    styles: str | None
    date1904: bool
    #: The names of the workbook's sheets in tab order (the first ``MAX_LISTED_SHEETS``).
    sheets: tuple[str, ...] = ()


#: Sheets a workbook's listing names (the preview's choice); longer names are cut.
MAX_LISTED_SHEETS = 100
MAX_SHEET_NAME = 200


def locate(archive: zipfile.ZipFile, sheet: str | None) -> Workbook:
    """The parts of the sheet ``sheet`` names (see :func:`choose_sheet`), and the sheets."""
    names = set(archive.namelist())
    workbook_part = _office_document(archive, names)
    if workbook_part is None or workbook_part not in names:
        raise InputError(
            "the file is a ZIP archive but not an Excel workbook (it has no xl/workbook.xml)"
        )
    sheets, date1904 = _workbook_sheets(archive.read(workbook_part))
    relations = _relations(archive, workbook_part, names)
    if not sheets:
        raise InputError("the workbook has no worksheet")
    name, rel_id = choose_sheet(sheets, sheet)
    target = relations.get(rel_id, (None, ""))[0]
    if target is None or target not in names:
        raise InputError(f"the sheet {shown(name)!r} is missing from the workbook")
    by_type = {kind: part for part, kind in relations.values()}
    shared = by_type.get("sharedStrings")
    styles = by_type.get("styles")
    return Workbook(
        sheet_name=name,
        sheet_part=target,
        shared_strings=shared if shared in names else None,
        styles=styles if styles in names else None,
        date1904=date1904,
        sheets=tuple(s[:MAX_SHEET_NAME] for s, _ in sheets[:MAX_LISTED_SHEETS]),
    )


def choose_sheet(sheets: list[tuple[str, str]], sheet: str | None) -> tuple[str, str]:
    """The (name, relationship id) of the sheet ``sheet`` names.

    None: the first sheet in tab order (not the active one, which is wherever the
    last person to save the file left it). Otherwise a name, exactly, then
    ignoring case and surrounding spaces; then, for digits, a 1-based position:
    a sheet named "2" wins over the second sheet. An unknown sheet is refused,
    naming the sheets there are.
    """
    if sheet is None:
        return sheets[0]
    wanted = sheet.strip().lower()
    matches = [s for s in sheets if s[0] == sheet] or [
        s for s in sheets if s[0].strip().lower() == wanted
    ]
    if matches:
        return matches[0]
    if wanted.isascii() and wanted.isdigit() and 1 <= int(wanted) <= len(sheets):
        return sheets[int(wanted) - 1]
    listing = listed(repr(s[0]) for s in sheets)
    raise InputError(
        f"the workbook has no sheet named {shown(sheet)!r}; its sheets are {listing} "
        f"(or give a position, 1 to {len(sheets):,})"
    )


def _office_document(archive: zipfile.ZipFile, names: set[str]) -> str | None:
    if "_rels/.rels" in names:
        for target, kind in _parse_relations(archive.read("_rels/.rels"), "").values():
            if kind == "officeDocument":
                return target
    return "xl/workbook.xml" if "xl/workbook.xml" in names else None


def _relations(archive: zipfile.ZipFile, part: str, names: set[str]) -> dict[str, tuple[str, str]]:
    folder, base = posixpath.split(part)
    rels = posixpath.join(folder, "_rels", base + ".rels")
    if rels not in names:
        return {}
    return _parse_relations(archive.read(rels), folder)


def _parse_relations(data: bytes, folder: str) -> dict[str, tuple[str, str]]:
    """Relationship id -> (part path in the archive, short type such as "worksheet")."""
    found: dict[str, tuple[str, str]] = {}

    def start(name: str, attrs: dict[str, str]) -> None:
        if _local(name) == "Relationship" and attrs.get("TargetMode") != "External":
            target = attrs.get("Target", "")
            path = (
                target.lstrip("/")
                if target.startswith("/")
                else posixpath.normpath(posixpath.join(folder, target))
            )
            found[attrs.get("Id", "")] = (path, attrs.get("Type", "").rsplit("/", 1)[-1])

    _parse(data, start)
    return found


def _workbook_sheets(data: bytes) -> tuple[list[tuple[str, str]], bool]:
    sheets: list[tuple[str, str]] = []
    date1904 = [False]

    def start(name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        if local == "sheet":
            rel_id = next(
                (v for k, v in attrs.items() if k.endswith(":id") or k in ("r:id", "id")), ""
            )
            sheets.append((attrs.get("name", ""), rel_id))
        elif local == "workbookPr":
            date1904[0] = attrs.get("date1904", "0").lower() in ("1", "true")

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = lambda n, a: start(
        n.rsplit(" ", 1)[-1], {_attr_name(k): v for k, v in a.items()}
    )
    _feed(parser, data)
    return sheets, date1904[0]


def _attr_name(name: str) -> str:
    uri, _, local = name.rpartition(" ")
    if uri in (_REL_NS, _REL_STRICT_NS):
        return "r:" + local
    return local


def date_styles(data: bytes) -> list[int]:
    """Indices of the cell styles (``s`` attributes) whose number format shows a date."""
    custom: dict[int, str] = {}
    xf_formats: list[int] = []
    depth = {"cellXfs": False}

    def start(name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        if local == "numFmt":
            with contextlib.suppress(ValueError):
                custom[int(attrs.get("numFmtId", "-1"))] = attrs.get("formatCode", "")
        elif local == "cellXfs":
            depth["cellXfs"] = True
        elif local == "xf" and depth["cellXfs"]:
            try:
                xf_formats.append(int(attrs.get("numFmtId", "0")))
            except ValueError:
                xf_formats.append(0)

    def end(name: str) -> None:
        if _local(name) == "cellXfs":
            depth["cellXfs"] = False

    _parse(data, start, end)
    dates = []
    for index, format_id in enumerate(xf_formats):
        code = custom.get(format_id)
        if (code is None and format_id in _DATE_FORMAT_IDS) or (
            code is not None and is_date_format(code)
        ):
            dates.append(index)
    return dates


_QUOTED = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]|_.|\*.')


def is_date_format(code: str) -> bool:
    """Whether a number format code shows a date or time (d, m, y, h, s outside literals)."""
    section = code.split(";", 1)[0]
    if re.search(r"\[h+\]|\[m+\]|\[s+\]", section, re.IGNORECASE):
        return True
    bare = _QUOTED.sub("", section).lower()
    if "general" in bare:
        return False
    return any(c in bare for c in "dmyhse") and not re.fullmatch(r"[#0.,%e+\- ]*", bare)


def _local(name: str) -> str:
    return name.rsplit(":", 1)[-1].rsplit(" ", 1)[-1]


def _parse(data: bytes, start: Any, end: Any = None) -> None:
    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    if end is not None:
        parser.EndElementHandler = end
    _feed(parser, data)


def _feed(parser: Any, data: bytes) -> None:
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise InputError(f"the workbook is damaged (malformed XML: {exc})") from None
