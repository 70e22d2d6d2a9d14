"""The workbook's shared strings: unpacked once as UTF-8 text with an offset index, then
looked up by the few each chunk names.

Neither unpacking nor a look-up holds the whole table: offsets are written and
read in windows, so memory stays flat however many strings the workbook holds.
"""

from __future__ import annotations

from array import array
from typing import IO, TYPE_CHECKING
from xml.parsers import expat

from jobport.errors import InputError
from jobport.formats.xlsx.archive import _local
from jobport.formats.xlsx.values import _ESCAPE_CHARS, MAX_CELL_CHARS, unescape_text

if TYPE_CHECKING:
    from jobport.files import FileStore


class SharedStringsWriter:
    """Writes shared strings as UTF-8 text, and where each one starts to an index file.

    The offsets go out in batches rather than staying in memory: a part of a
    hundred million tiny strings (a few MB zipped) would otherwise hold 800 MB.
    """

    _BATCH = 65_536

    def __init__(self, data: IO[bytes], index: IO[bytes]) -> None:
        self._data = data
        self._index = index
        self._pending = array("Q", [0])
        self._position = 0
        self.count = 0

    def add(self, text: str) -> None:
        encoded = text.encode("utf-8")
        self._data.write(encoded)
        self._position += len(encoded)
        self._pending.append(self._position)
        self.count += 1
        if len(self._pending) >= self._BATCH:
            self.flush()

    def flush(self) -> None:
        self._index.write(self._pending.tobytes())
        del self._pending[:]


def extract_shared_strings(stream: IO[bytes], writer: SharedStringsWriter) -> None:
    """Stream ``sharedStrings.xml`` into ``writer``: one text per ``<si>``, runs joined,
    phonetic hints (``<rPh>``) left out, Excel's ``_xHHHH_`` escapes decoded.

    A string longer than a cell can hold (Excel's 32,767 characters, decoded) is
    refused; as it grows past seven times that (every character escaped) already,
    so none is held whole.
    """
    parts: list[str] = []
    state = {"in_t": False, "skip": 0, "in_si": False, "length": 0}

    def start(name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        if local == "t":
            state["in_t"] = True
        elif local == "si":
            state["in_si"] = True
            state["length"] = 0
            parts.clear()
        elif local in ("rPh", "phoneticPr"):
            state["skip"] += 1

    def end(name: str) -> None:
        local = _local(name)
        if local == "t":
            state["in_t"] = False
        elif local == "si":
            state["in_si"] = False
            text = unescape_text("".join(parts))
            if len(text) > MAX_CELL_CHARS:
                _refuse_shared_string(writer.count)
            writer.add(text)
        elif local in ("rPh", "phoneticPr"):
            state["skip"] -= 1

    def text(data: str) -> None:
        if state["in_t"] and not state["skip"]:
            state["length"] += len(data)
            if state["length"] > _ESCAPE_CHARS * MAX_CELL_CHARS:
                _refuse_shared_string(writer.count)
            parts.append(data)

    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.ParseFile(stream)
    except expat.ExpatError as exc:
        raise InputError(
            f"the workbook's shared strings are damaged (malformed XML: {exc})"
        ) from None
    writer.flush()


def _refuse_shared_string(number: int) -> None:
    raise InputError(
        f"the workbook's shared string {number:,} holds more than {MAX_CELL_CHARS:,} "
        "characters, more than a cell can hold: the workbook is damaged"
    )


class SharedStrings:
    """Looks up the shared strings a chunk needs, reading only their bytes and offsets.

    Offsets are read in windows of ``_WINDOW``: memory stays flat however many
    strings the workbook holds.
    """

    _WINDOW = 65_536

    def __init__(self, files: FileStore, data_key: str, index_key: str) -> None:
        self._files = files
        self._data_key = data_key
        self._index_key = index_key
        self.count = max(files.size(index_key) // 8 - 1, 0)

    def lookup(self, indices: set[int]) -> dict[int, str]:
        """The strings at these indices; an index out of range is left out."""
        wanted = sorted(i for i in indices if 0 <= i < self.count)
        found: dict[int, str] = {}
        if not wanted:
            return found
        with self._files.open(self._index_key) as index:
            spans = self._spans(index, wanted)
        with self._files.open(self._data_key) as stream:
            group_start = 0
            while group_start < len(spans):
                # Read runs of strings that sit close together in one go.
                group_end = group_start
                while (
                    group_end + 1 < len(spans)
                    and spans[group_end + 1][1] - spans[group_end][2] < 65536
                ):
                    group_end += 1
                low = spans[group_start][1]
                stream.seek(low)
                block = stream.read(spans[group_end][2] - low)
                for number, a, b in spans[group_start : group_end + 1]:
                    found[number] = block[a - low : b - low].decode("utf-8")
                group_start = group_end + 1
        return found

    def _spans(self, index: IO[bytes], wanted: list[int]) -> list[tuple[int, int, int]]:
        """(string number, start, end) of each wanted string, ``wanted`` sorted."""
        spans = []
        window = array("Q")
        first = 0
        for number in wanted:
            if not first <= number < first + len(window) - 1:
                first = number
                index.seek(number * 8)
                window = array("Q")
                window.frombytes(index.read(min(self._WINDOW, self.count + 1 - number) * 8))
            spans.append((number, window[number - first], window[number - first + 1]))
        return spans
