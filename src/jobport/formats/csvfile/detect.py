"""Telling the encoding of a CSV that is not UTF-8, from a bounded sample of its bytes.

UTF-8 is decided by decoding the sample, as before: a UTF-8 file never meets
the rest of this module. Bytes that are not UTF-8 go to charset-normalizer,
limited to the encodings spreadsheets actually write. On the short text of a
CSV it often finds several encodings equally likely (cp1250 and cp1252 both
decode ``Müller``), and then it picks by its own order, which may be a DOS code
page or a wrong alphabet. So among its equally good candidates this module
prefers the one whose text looks like words (no symbol inside a word, no
Cyrillic letter beside a Latin one, no capital after a small letter), then the
most used (Windows-1252 first), and names cp1252 whenever the sample reads the
same in it. Every guess is said to the user, who can force another.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from functools import lru_cache
from itertools import islice

#: How much of a file the detection reads: its first MiB.
SAMPLE_BYTES = 1 << 20

#: The encodings detection chooses from, most used first (which wins a tie).
CANDIDATES = (
    "cp1252",  # Windows Western: Excel's "CSV" in Western Europe and the Americas
    "cp1251",  # Windows Cyrillic
    "cp1250",  # Windows Central European
    "cp1253",  # Windows Greek
    "cp1254",  # Windows Turkish
    "cp1257",  # Windows Baltic
    "iso8859_15",
    "mac_roman",
    "koi8_r",
    "cp932",  # Shift JIS as Windows writes it
    "gb18030",
    "big5",
    "euc_kr",
)

#: How much worse than the best charset-normalizer's "mess" a candidate may be and tie.
_TIE = 0.1
#: Non-ASCII characters looked at when telling tied candidates apart.
_LOOKED_AT = 1_000
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
#: Alphabets whose letters never sit inside one word with another's.
_SCRIPTS = frozenset(
    {
        "LATIN",
        "CYRILLIC",
        "GREEK",
        "ARABIC",
        "HEBREW",
        "THAI",
        "CJK",
        "HIRAGANA",
        "KATAKANA",
        "HANGUL",
    }
)


def guess_encoding(sample: bytes) -> str | None:
    """The encoding of a file whose first bytes are ``sample``; None for UTF-8.

    None too when the sample is mostly UTF-8 with a few bad bytes (a damaged
    UTF-8 file: read as UTF-8, the rows holding them fail, as they always
    did), and when nothing reads it as text.
    """
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return None
    except UnicodeDecodeError:
        pass
    if _damaged_utf8(sample):
        return None
    # Imported here: a UTF-8 file (most) never loads charset-normalizer.
    from charset_normalizer import from_bytes

    matches = from_bytes(sample, cp_isolation=list(CANDIDATES))
    if not matches:
        return None
    best = min(match.chaos for match in matches)
    tied = [match.encoding for match in matches if match.chaos <= best + _TIE]
    rank = {name: at for at, name in enumerate(CANDIDATES)}
    texts = {name: sample.decode(name, "replace") for name in tied}
    odd = {name: oddities(texts[name]) for name in tied}
    chosen = min(tied, key=lambda name: (odd[name][0], rank.get(name, len(rank))))
    found, looked_at = odd[chosen]
    if found * 2 > looked_at:
        # Even the best reading is mostly out of place: not text in some other encoding,
        # but stray bytes (a damaged file). Read as UTF-8, their rows fail.
        return None
    if chosen != "cp1252" and texts[chosen] == sample.decode("cp1252", "replace"):
        return "cp1252"  # the same text: name the encoding people know
    return codecs.lookup(chosen).name


def _damaged_utf8(sample: bytes) -> bool:
    """Whether valid UTF-8 sequences outnumber the stray high bytes around them.

    Counted by C-level calls alone: decoding with "ignore" keeps the valid
    sequences (one character each) and drops the stray bytes.
    """
    ascii_bytes = len(sample.translate(None, bytes(range(128, 256))))
    valid = sample.decode("utf-8", "ignore")
    sequences = len(valid) - ascii_bytes
    stray = len(sample) - ascii_bytes - (len(valid.encode("utf-8")) - ascii_bytes)
    return sequences > stray


def oddities(text: str) -> tuple[int, int]:
    """How many of the text's first non-ASCII characters sit where words never have one,
    and how many were looked at.

    What a wrong encoding makes of real words: a symbol or a control beside a
    letter (``£ódŸ``), a quote mark inside a word, a letter of
    another alphabet beside a letter (``cafй``), a capital beside a small
    letter inside a word (``ìQuotedî``).
    """
    count = looked_at = 0
    for found in islice(_NON_ASCII.finditer(text), _LOOKED_AT):
        looked_at += 1
        at = found.start()
        char = text[at]
        before = text[at - 1] if at else " "
        after = text[at + 1] if at + 1 < len(text) else " "
        if not char.isalpha():
            if char in _BESIDE_WORDS:
                continue
            if unicodedata.category(char)[0] in "SC":
                count += before.isalpha() or after.isalpha()
            else:
                count += before.isalpha() and after.isalpha()
            continue
        script = _script(char)
        count += script is not None and any(
            side.isalpha() and _script(side) not in (script, None) for side in (before, after)
        )
        count += (char.isupper() and before.islower()) or (char.islower() and after.isupper())
    return count, looked_at


#: Non-letters real words hold or carry: apostrophes, hyphens, the middle dot of l·l, and
#: the signs written right after a word or a number (°C, ACME®).
_BESIDE_WORDS = frozenset("\u2019\u2018\u02bc\u2010\u2011\u2013\u2014\u00b7°®™©")


@lru_cache(maxsize=4096)
def _script(char: str) -> str | None:
    """The alphabet of a letter (LATIN, CYRILLIC, KATAKANA...), or None if not one we tell."""
    words = unicodedata.name(char, "").split(" ")
    word = words[1] if words[0] in ("HALFWIDTH", "FULLWIDTH") and len(words) > 1 else words[0]
    if word in ("HIRAGANA", "KATAKANA"):
        return "CJK"  # Japanese writes its kana and kanji side by side
    return word if word in _SCRIPTS else None


__all__ = ["CANDIDATES", "SAMPLE_BYTES", "guess_encoding", "oddities"]
