"""A CSV's encoding: the byte-order mark, whether lines split on b"\\n", and the UTF-8
copy made of a file whose lines cannot (UTF-16/32, bare-CR line ends).

Chunks seek to byte offsets and split on b"\\n"; this module is what makes that
true of every file the reader accepts, up to the first bare CR of a file whose
lines change to them later (planning finds those, see ``planning.plan_ranges``).
"""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING

from jobport.errors import InputError

if TYPE_CHECKING:
    from jobport.files import FileStore

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def detect_bom(head: bytes) -> tuple[str | None, int]:
    """The encoding a byte-order mark announces, and the mark's length."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding, len(bom)
    return None, 0


def is_line_splittable(encoding: str) -> bool:
    """Whether b"\\n" ends lines in this encoding (true of UTF-8 and single-byte codecs)."""
    try:
        info = codecs.lookup(encoding)
        if not getattr(info, "_is_text_encoding", True):
            raise LookupError(encoding)
        name = info.name
        if name.startswith(("utf-16", "utf-32")):
            return False
        b"a\n".decode(name, "replace")  # codecs such as idna refuse error handlers
        return "\n".encode(name) == b"\n"
    except (LookupError, UnicodeError):
        raise InputError(
            f"unknown encoding '{encoding}' (or not a text encoding); use one such as utf-8, "
            "utf-16, latin-1 or cp1252"
        ) from None


def _ends_lines_with_cr(files: FileStore, key: str) -> bool:
    """Old Mac files end lines with a bare CR, which line splitting on LF cannot see."""
    with files.open(key) as stream:
        head = stream.read(64 * 1024)
    return b"\r" in head and b"\n" not in head


def transcode_to_utf8(files: FileStore, key: str, encoding: str) -> str:
    """Rewrite a file as UTF-8 with LF line ends, so chunks can split it on newlines.

    Used for UTF-16/32 and for bare-CR line ends; everything else is read as stored.
    Bytes invalid in ``encoding`` are carried over as bytes invalid in UTF-8 (a
    lone surrogate of UTF-16 or 32, any undecodable byte of another encoding),
    so that the chunk holding one refuses that row alone.
    """
    new_key = files.new_key("work", ".csv")
    wide = codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
    errors = "surrogatepass" if wide else "surrogateescape"
    decoder = codecs.getincrementaldecoder(encoding)(errors=errors)
    pending_cr = False
    try:
        with files.open(key) as source, files.open(new_key, "wb") as target:
            while True:
                block = source.read(1 << 20)
                text = decoder.decode(block, final=not block)
                if pending_cr:
                    text = "\r" + text
                pending_cr = bool(block) and text.endswith("\r")
                if pending_cr:
                    text = text[:-1]
                text = text.replace("\r\n", "\n").replace("\r", "\n")
                target.write(text.encode("utf-8", errors))
                if not block:
                    break
    except UnicodeError as exc:
        files.delete(new_key)
        reason = getattr(exc, "reason", None) or str(exc)
        raise InputError(f"the file is not valid {encoding}: {reason}") from None
    return new_key
