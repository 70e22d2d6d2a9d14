"""Workbooks written by hand, part by part, to say what no spreadsheet program writes.

The hardening tests need damaged and hostile sheets (cell references that do
not parse, cells far beyond the last column, shared string indices out of
range): xlsxwriter refuses to write them, so these workbooks are built here
from the few parts a reader needs.
"""

from __future__ import annotations

import io
import zipfile

_CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
)
_ROOT_RELS = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Target="xl/workbook.xml" Type="http://schemas.openxmlformats.org/'
    b'officeDocument/2006/relationships/officeDocument"/></Relationships>'
)
_WORKBOOK = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    b'<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_REL = (
    '<Relationship Id="{id}" Target="{target}" Type="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships/{kind}"/>'
)
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def crafted_workbook(
    rows: str, *, shared: list[str] | None = None, styles: str | None = None
) -> bytes:
    """An XLSX of one sheet whose ``<sheetData>`` holds ``rows`` (XML text) as given.

    ``shared`` becomes the shared strings part (one ``<si>`` each, escaped as
    given: pass XML text); ``styles`` is the ``<cellXfs>`` content of a styles part.
    """
    relations = [_REL.format(id="rId1", target="worksheets/sheet1.xml", kind="worksheet")]
    parts = {
        "[Content_Types].xml": _CONTENT_TYPES,
        "_rels/.rels": _ROOT_RELS,
        "xl/workbook.xml": _WORKBOOK,
        "xl/worksheets/sheet1.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_MAIN}">'
            f"<sheetData>{rows}</sheetData></worksheet>"
        ).encode(),
    }
    if shared is not None:
        items = "".join(f"<si><t>{text}</t></si>" for text in shared)
        parts["xl/sharedStrings.xml"] = f'<sst xmlns="{_MAIN}">{items}</sst>'.encode()
        relations.append(_REL.format(id="rId2", target="sharedStrings.xml", kind="sharedStrings"))
    if styles is not None:
        parts["xl/styles.xml"] = (
            f'<styleSheet xmlns="{_MAIN}"><cellXfs>{styles}</cellXfs></styleSheet>'
        ).encode()
        relations.append(_REL.format(id="rId3", target="styles.xml", kind="styles"))
    parts["xl/_rels/workbook.xml.rels"] = (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        f'openxmlformats.org/package/2006/relationships">{"".join(relations)}</Relationships>'
    ).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def inline(ref: str, text: str) -> str:
    """An inline string cell at ``ref``."""
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def header_row(*names: str, row: int = 1) -> str:
    """A row of inline string cells from column A on."""
    cells = "".join(inline(f"{_letters(i)}{row}", name) for i, name in enumerate(names))
    return f'<row r="{row}">{cells}</row>'


def _letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters
