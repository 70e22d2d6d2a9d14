"""The contract of a tabular input format, as the import kind uses it.

A format prepares a stored file once (reads its header, perhaps rewrites it
into a form that can be split), cuts it into chunk specs, and later reads
one chunk's records on its own. Records are (line or row number, values in
header order), or (number, a BadRecord saying why it was refused).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from jobport.errors import InputError, shown

if TYPE_CHECKING:
    from jobport.files import FileStore


class BadRecord(str):
    """A record that could not be read as values, with the reason (e.g. a NUL byte).

    ``cells`` are its values as far as they could be read, and ``column`` the index
    of the first one at fault, when known: its failure and the error report show
    them, so that the row can be fixed where it is wrong and imported again.
    """

    cells: list[str] | None
    column: int | None

    def __new__(
        cls, reason: str, cells: list[str] | None = None, column: int | None = None
    ) -> BadRecord:
        record = super().__new__(cls, reason)
        record.cells = cells
        record.column = column
        return record


def undecodable_row(cells: list[str] | None = None, column: int | None = None) -> BadRecord:
    """The refusal of a row holding bytes invalid in the file's encoding: its cells as far
    as they could be read (each such byte shown as U+FFFD) and the first cell at fault,
    so that the error report holds the row, to be fixed where it is wrong and imported
    again. The encoding is not named: a prepared copy's (UTF-8) may not be the file's."""
    return BadRecord(
        "the row holds bytes that are invalid in the file's encoding, shown as \ufffd: "
        "write the text there again (or save the whole file in one encoding)",
        cells,
        column,
    )


#: Why a row holding a NUL is refused, whatever the format: PostgreSQL text cannot hold one.
NUL_ROW = BadRecord("the row holds a NUL byte, which text data never contains")


#: (line or row number, the values in header order | a BadRecord: why it was refused, as
#: far as it could be read | None, undecodable, from a reader that keeps no cells).
Record = tuple[int, list[Any] | BadRecord | None]


#: Bounds of the read options: they come from users, and travel in every run's params.
MAX_HEADER_ROW = 1_000
MAX_MAPPED = 10_000
MAX_WORDS = 20


class ReadOptions(BaseModel):
    """How to read a file, whatever the job type: from the CLI, the upload form or the API."""

    model_config = ConfigDict(extra="forbid")

    encoding: str | None = None
    delimiter: str | None = None
    #: An XLSX sheet, by name or by 1-based position.
    sheet: str | None = Field(default=None, max_length=200)
    #: The 1-based row of the header (title rows above it are skipped); found if unset.
    header_row: int | None = Field(default=None, ge=1, le=MAX_HEADER_ROW)

    # -- which column feeds which field (see jobport.kinds.mapping) --
    #: File header -> field name; an empty name ignores the column.
    mapping: dict[str, str] = Field(default_factory=dict, max_length=MAX_MAPPED)
    #: Refuse a file with a column that feeds no field, instead of ignoring it.
    strict_columns: bool = False

    # -- how values are written (see jobport.kinds.locale) --
    #: The decimal separator of numbers ("," for 963,16).
    decimal: Literal[".", ","] | None = None
    #: The thousands separator of numbers, removed before parsing.
    thousands: Literal[",", ".", " ", "'", "_"] | None = None
    #: strftime formats tried in order on dates and datetimes.
    date_formats: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=MAX_WORDS
    )
    #: Words read as true / false (besides the usual true/false, yes/no, 1/0).
    true_words: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=MAX_WORDS
    )
    false_words: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=MAX_WORDS
    )

    @field_validator("mapping")
    @classmethod
    def _bounded_names(cls, value: dict[str, str]) -> dict[str, str]:
        if any(len(k) > 1_000 or len(v) > 200 for k, v in value.items()):
            raise ValueError("a header may be at most 1,000 characters, a field name 200")
        return value

    @field_validator("delimiter")
    @classmethod
    def _one_plain_character(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 1 or value in '"\r\n'):
            raise ValueError("must be one character, not a quote or a line end")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is not None and not is_text_encoding(value):
            raise ValueError(
                f"unknown encoding '{shown(value)}' (or not a text encoding); use one such "
                "as utf-8, utf-16, latin-1 or cp1252"
            )
        return value

    @classmethod
    def checked(cls, values: dict[str, Any]) -> ReadOptions:
        """Validated read options, or an InputError naming each bad option."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc'])}: "
                + (
                    f"not a read option (use {', '.join(cls.model_fields)})"
                    if error["type"] == "extra_forbidden"
                    else str(error["msg"]).removeprefix("Value error, ")
                )
                for error in exc.errors(include_url=False)
            )
            raise InputError(f"invalid read options: {problems}") from None


def is_text_encoding(name: str) -> bool:
    """Whether Python knows ``name`` (:func:`codecs.lookup`) as a text encoding that
    decodes with error handlers: not ``klingon``, nor a bytes-to-bytes codec such as
    ``hex``, nor ``idna``, which refuses them."""
    try:
        info = codecs.lookup(name)
        b"a\n".decode(info.name, "replace")
    except (LookupError, UnicodeError, ValueError):  # ValueError: a name holding a NUL
        return False
    return bool(getattr(info, "_is_text_encoding", True))


#: The read options that are lists: each may come as plain text from a form or a URL.
LIST_READ_OPTIONS = ("date_formats", "true_words", "false_words")


def plain_read_list(name: str, text: str) -> list[str]:
    """A list read option written as plain text, as the CLI and forms take it: one date
    format (a format may hold a comma), or words separated by commas."""
    if name == "date_formats":
        return [text.strip()] if text.strip() else []
    return comma_words(text)


def comma_words(text: str) -> list[str]:
    """Comma-separated words, trimmed, empty ones dropped."""
    return [word.strip() for word in text.split(",") if word.strip()]


@dataclass
class Prepared:
    """A source ready to plan: its header and what chunks need to read it alike."""

    source_key: str
    header: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    #: Files written while preparing (an unpacked sheet, a lookup table) for the run's
    #: chunks to read. Whoever abandons the preparation (a refusal, a preview) discards them.
    scratch: list[str] = field(default_factory=list)


def discard(files: FileStore, keys: list[str]) -> None:
    """Delete the scratch files of a preparation that will not run (a missing one is fine)."""
    for key in keys:
        files.delete(key)


class TabularFormat(Protocol):
    name: str

    def sniff(self, head: bytes) -> bool:
        """Whether these first bytes look like this format (content decides, not names)."""

    def prepare(self, files: FileStore, key: str, read: ReadOptions) -> Prepared: ...

    def plan(
        self, files: FileStore, prepared: Prepared, rows_per_chunk: int
    ) -> Iterator[dict[str, Any]]:
        """Chunk specs, each a JSON-able dict holding at least ``rows``."""

    def read(
        self, files: FileStore, source_key: str, params: dict[str, Any], spec: dict[str, Any]
    ) -> Iterator[Record]: ...
