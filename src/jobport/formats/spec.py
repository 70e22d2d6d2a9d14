"""The format registry: each file format declared once, as one :class:`FormatSpec`.

A format's name, the file suffixes that suggest it, the media type it is served
with, its reader, its writer, how its bytes are recognised and which optional
extra it needs live in one declaration in the format's own module. Everything
that used to keep its own table (the dispatcher's suffixes, the downloads'
media types, the writer tables, sniffing, the dashboard's "needs an extra")
asks :data:`FORMATS` instead, so a new format is one module and one line.

Formats of other packages register through the ``jobport.formats`` entry point
group: an entry point names a :class:`FormatSpec` (or a function returning
one). They are loaded once per process, on the first lookup; a broken one is
logged and left out, so it never takes the built-in formats down with it.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from typing import IO, TYPE_CHECKING, Any

from jobport.errors import ConfigurationError, InputError, MissingExtraError
from jobport.formats.base import TabularFormat

if TYPE_CHECKING:
    from jobport.formats.writers import OutputColumn, PartWriter

log = logging.getLogger(__name__)

#: The entry point group other packages declare their formats in.
ENTRY_POINT_GROUP = "jobport.formats"

#: Opens part ``n`` of an export (a context manager yielding a binary stream).
PartOpener = Callable[[int], Any]


@dataclass(frozen=True)
class Extra:
    """An optional dependency a format needs: the module it installs, the extra's name."""

    module: str
    name: str

    def missing(self) -> bool:
        return importlib.util.find_spec(self.module) is None


@dataclass(frozen=True)
class FileWriter:
    """How a format writes an export: chunks write parts in parallel, the last step
    makes the file from the parts in order.

    A format whose file is its ``header`` and the parts byte for byte (CSV, JSON
    Lines) is *concatenated* straight into storage; any other gives ``assemble``,
    which writes the file at a local path from the parts.
    """

    part: Callable[[IO[bytes], Sequence[OutputColumn]], PartWriter]
    header: Callable[[Sequence[OutputColumn]], bytes] | None = None
    assemble: Callable[[Sequence[OutputColumn], int, PartOpener, str], None] | None = None
    #: The suffix of a part file (a Parquet part is itself a Parquet file).
    part_suffix: str = ".part"

    @property
    def concatenated(self) -> bool:
        return self.assemble is None


@dataclass(frozen=True)
class FormatSpec:
    """Everything jobport knows of one file format, declared where the format lives."""

    name: str
    #: Suffixes (with the dot, lower case) whose files are read with this format; the
    #: first is the suffix of the files it writes.
    suffixes: tuple[str, ...]
    media_type: str
    #: How the format is named to people ("Parquet files need ...").
    label: str = ""
    reader: TabularFormat | None = None
    writer: FileWriter | None = None
    #: Whether these bytes are this format; the reader's own test when not given.
    sniff: Callable[[bytes], bool] | None = None
    #: Tried after every other format (CSV: any text that no other format claims).
    sniff_last: bool = False
    #: Whether one file splits into chunks read in parallel (every reader's ``plan``
    #: cuts it); False: the format's ``plan`` yields one chunk for the whole file.
    splits: bool = True
    #: Rows of data one file of this format holds, its header aside (an XLSX sheet's);
    #: None: no limit. An export of more is refused before a part is written.
    max_rows: int | None = None
    extra: Extra | None = None
    #: Where the format was declared (an entry point's name for another package's).
    origin: str = field(default="jobport", compare=False)

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise ConfigurationError(f"format name {self.name!r} must be letters and digits")
        if not self.suffixes or not all(s.startswith(".") for s in self.suffixes):
            raise ConfigurationError(f"format '{self.name}': suffixes start with a dot")

    @property
    def title(self) -> str:
        return self.label or self.name.upper()

    @property
    def extension(self) -> str:
        """The suffix of the files this format writes."""
        return self.suffixes[0]

    def recognises(self, head: bytes) -> bool:
        if self.sniff is not None:
            return self.sniff(head)
        return self.reader is not None and self.reader.sniff(head)

    def missing_extra(self) -> str | None:
        """The extra this format needs and this process lacks; None when it can be used."""
        return self.extra.name if self.extra is not None and self.extra.missing() else None

    def require_extra(self) -> None:
        """Refuse, in a sentence, to use a format whose extra is not installed."""
        missing = self.missing_extra()
        if missing is not None:
            raise MissingExtraError(self.title, missing)


class FormatRegistry:
    """The formats of this process: the built-ins, then those of entry points."""

    def __init__(self, load_entry_points: bool = True) -> None:
        #: The formats by name, in registration order (the order they are listed in).
        self.by_name: dict[str, FormatSpec] = {}
        self._suffixes: dict[str, str] = {}
        self._pending = load_entry_points
        #: Gives the built-in formats, added first, on the first lookup or registration.
        self._built_ins: Callable[[], Iterable[FormatSpec]] | None = None
        self._lock = threading.RLock()

    def defer_built_ins(self, load: Callable[[], Iterable[FormatSpec]]) -> None:
        """Add the formats ``load`` gives before any other, but only when one is first needed."""
        self._built_ins = load

    def add(self, spec: FormatSpec) -> None:
        """Register ``spec``; a name or suffix another format holds is refused."""
        if spec.name in self.by_name:
            raise ConfigurationError(f"format '{spec.name}' is declared twice")
        taken = [s for s in spec.suffixes if s in self._suffixes]
        if taken:
            owner = self._suffixes[taken[0]]
            raise ConfigurationError(
                f"format '{spec.name}': suffix {taken[0]} already belongs to '{owner}'"
            )
        self.by_name[spec.name] = spec
        self._suffixes.update(dict.fromkeys(spec.suffixes, spec.name))

    def specs(self) -> list[FormatSpec]:
        self._load()
        return list(self.by_name.values())

    def get(self, name: str) -> FormatSpec | None:
        self._load()
        return self.by_name.get(name)

    def reader(self, name: str) -> TabularFormat:
        spec = self.get(name)
        if spec is None or spec.reader is None:
            known = ", ".join(sorted(s.name for s in self.specs() if s.reader is not None))
            raise InputError(f"cannot read '{name}' files; readable formats: {known}")
        return spec.reader

    def writer(self, name: str) -> FileWriter:
        spec = self.get(name)
        if spec is None or spec.writer is None:
            known = ", ".join(s.name for s in self.specs() if s.writer is not None)
            raise InputError(f"cannot write '{name}' files; formats: {known}")
        return spec.writer

    def writable(self, name: str) -> FormatSpec:
        """The spec of a format jobport can write, or the InputError of :meth:`writer`."""
        self.writer(name)
        return self.by_name[name]

    def by_suffix(self, suffix: str) -> FormatSpec | None:
        """The format of a suffix such as ``.tsv`` (any case), if one reads it."""
        self._load()
        name = self._suffixes.get(suffix.lower())
        return self.by_name.get(name) if name is not None else None

    def suffixes(self) -> frozenset[str]:
        self._load()
        return frozenset(self._suffixes)

    def media_type(self, name: str) -> str:
        spec = self.get(name)
        return spec.media_type if spec is not None else "application/octet-stream"

    def sniff(self, head: bytes) -> str | None:
        """The format these first bytes belong to, if any format recognises them."""
        specs = self.specs()
        for spec in [s for s in specs if not s.sniff_last] + [s for s in specs if s.sniff_last]:
            if spec.recognises(head):
                return spec.name
        return None

    def load_built_ins(self) -> None:
        """Add the built-in formats, once: before any other, so they keep their suffixes."""
        if self._built_ins is None:
            return
        with self._lock:
            built_ins, self._built_ins = self._built_ins, None
            for spec in built_ins() if built_ins is not None else ():
                self.add(spec)

    def _load(self) -> None:
        """Add the built-in formats, then the entry points' formats, once."""
        if not self._pending and self._built_ins is None:
            return
        with self._lock:
            self.load_built_ins()
            if self._pending:
                self._pending = False
                for point in entry_points(group=ENTRY_POINT_GROUP):
                    self._add_entry_point(point.name, point.load)

    def _add_entry_point(self, name: str, load: Callable[[], Any]) -> None:
        try:
            found = load()
            spec = found() if callable(found) and not isinstance(found, FormatSpec) else found
            if not isinstance(spec, FormatSpec):
                raise ConfigurationError(f"it names a {type(spec).__name__}, not a FormatSpec")
            self.add(replace(spec, origin=f"entry point {name}"))
        except Exception as exc:  # one broken package must not take the others down
            reason = exc.message if isinstance(exc, ConfigurationError) else repr(exc)
            log.error(
                "format entry point '%s' (%s) is left out: %s", name, ENTRY_POINT_GROUP, reason
            )


#: The formats jobport reads and writes: the built-ins (``jobport.formats`` defers them),
#: then the entry points' and the apps'.
FORMATS = FormatRegistry()


def register(specs: Iterable[FormatSpec]) -> None:
    """Register formats in :data:`FORMATS` (an embedding app's own), after the built-ins."""
    FORMATS.load_built_ins()
    for spec in specs:
        FORMATS.add(spec)


__all__ = [
    "ENTRY_POINT_GROUP",
    "FORMATS",
    "Extra",
    "FileWriter",
    "FormatRegistry",
    "FormatSpec",
    "PartOpener",
    "register",
]
