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
    #: Where the writer lives ("module:attribute") when ``writer`` is not given: imported
    #: on first use, so a process that only reads files never loads the writers.
    writer_at: str = ""
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

    @property
    def writes(self) -> bool:
        """Whether jobport can write this format (without importing its writer)."""
        return self.writer is not None or bool(self.writer_at)

    def file_writer(self) -> FileWriter | None:
        """The format's writer, imported from ``writer_at`` if it was not given."""
        if self.writer is not None or not self.writer_at:
            return self.writer
        import pkgutil

        found: FileWriter = pkgutil.resolve_name(self.writer_at)
        return found

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


@dataclass(frozen=True)
class _Deferred:
    """A format known by name and suffixes whose spec (and module) is not imported yet."""

    suffixes: tuple[str, ...]
    load: Callable[[], FormatSpec]


class FormatRegistry:
    """The formats of this process: the built-ins, then those of entry points.

    A built-in is declared by name and suffixes (:meth:`defer`) and its module
    imported when it is first looked up, so a CSV import never loads the XLSX or
    Parquet readers; the entry points are scanned only for a name or suffix no
    built-in holds, or for the whole list.
    """

    def __init__(self, load_entry_points: bool = True) -> None:
        self._by_name: dict[str, FormatSpec] = {}
        #: Every format's name in registration order (the order they are listed in).
        self._order: list[str] = []
        self._suffixes: dict[str, str] = {}
        self._deferred: dict[str, _Deferred] = {}
        self._pending = load_entry_points
        self._lock = threading.RLock()

    @property
    def by_name(self) -> dict[str, FormatSpec]:
        """The formats by name, every one loaded."""
        self._load()
        return self._by_name

    def defer(self, name: str, suffixes: tuple[str, ...], load: Callable[[], FormatSpec]) -> None:
        """Hold ``name`` and its ``suffixes`` now; ``load`` gives its spec on first lookup."""
        with self._lock:
            self._claim(name, suffixes)
            self._deferred[name] = _Deferred(suffixes, load)

    def add(self, spec: FormatSpec) -> None:
        """Register ``spec``; a name or suffix another format holds is refused."""
        with self._lock:
            self._claim(spec.name, spec.suffixes)
            self._by_name[spec.name] = spec

    def _claim(self, name: str, suffixes: tuple[str, ...]) -> None:
        if name in self._order:
            raise ConfigurationError(f"format '{name}' is declared twice")
        taken = [s for s in suffixes if s in self._suffixes]
        if taken:
            owner = self._suffixes[taken[0]]
            raise ConfigurationError(
                f"format '{name}': suffix {taken[0]} already belongs to '{owner}'"
            )
        self._order.append(name)
        self._suffixes.update(dict.fromkeys(suffixes, name))

    def specs(self) -> list[FormatSpec]:
        self._load()
        return [self._by_name[name] for name in self._order if name in self._by_name]

    def get(self, name: str) -> FormatSpec | None:
        if name not in self._order:
            self._load_entry_points()
        return self._spec(name)

    def reader(self, name: str) -> TabularFormat:
        spec = self.get(name)
        if spec is None or spec.reader is None:
            known = ", ".join(sorted(s.name for s in self.specs() if s.reader is not None))
            raise InputError(f"cannot read '{name}' files; readable formats: {known}")
        return spec.reader

    def writer(self, name: str) -> FileWriter:
        spec = self.get(name)
        writer = spec.file_writer() if spec is not None else None
        if writer is None:
            known = ", ".join(s.name for s in self.specs() if s.writes)
            raise InputError(f"cannot write '{name}' files; formats: {known}")
        return writer

    def writable(self, name: str) -> FormatSpec:
        """The spec of a format jobport can write, or the InputError of :meth:`writer`."""
        self.writer(name)
        return self._by_name[name]

    def by_suffix(self, suffix: str) -> FormatSpec | None:
        """The format of a suffix such as ``.tsv`` (any case), if one reads it."""
        if suffix.lower() not in self._suffixes:
            self._load_entry_points()
        name = self._suffixes.get(suffix.lower())
        return self._spec(name) if name is not None else None

    def knows_suffix(self, suffix: str) -> bool:
        """Whether a format reads files of this suffix, without importing its module; the
        plug-ins' entry points are scanned only for a suffix no built-in format has."""
        suffix = suffix.lower()
        if suffix not in self._suffixes:
            self._load_entry_points()
        return suffix in self._suffixes

    def suffixes(self) -> frozenset[str]:
        """Every format's suffixes (a deferred format's without importing it)."""
        self._load_entry_points()
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

    def _spec(self, name: str) -> FormatSpec | None:
        """A format by name, its module imported now if it was deferred."""
        if name in self._deferred:
            with self._lock:
                deferred = self._deferred.get(name)
                if deferred is not None:
                    spec = deferred.load()
                    if (spec.name, spec.suffixes) != (name, deferred.suffixes):
                        raise ConfigurationError(
                            f"format '{name}' was declared with the suffixes "
                            f"{deferred.suffixes}, its spec is '{spec.name}' {spec.suffixes}"
                        )
                    self._by_name.setdefault(name, spec)
                    del self._deferred[name]
        return self._by_name.get(name)

    def _load(self) -> None:
        """Every deferred format's module, then the entry points' formats, once."""
        for name in list(self._deferred):
            self._spec(name)
        self._load_entry_points()

    def _load_entry_points(self) -> None:
        if not self._pending:
            return
        with self._lock:
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
    """Register formats in :data:`FORMATS` (an embedding app's own), after the built-ins
    (declared when :mod:`jobport.formats` loads, so they keep their suffixes)."""
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
