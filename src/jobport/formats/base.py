"""The contract of a tabular input format, as the import kind uses it.

A format prepares a stored file once (reads its header, perhaps rewrites it
into a form that can be split), cuts it into chunk specs, and later reads
one chunk's records on its own. Records are (line or row number, values in
header order), or (number, None) for a record that cannot be decoded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from jobport.errors import InputError

if TYPE_CHECKING:
    from jobport.files import FileStore


class BadRecord(str):
    """A record that could not be read as values, with the reason (e.g. a NUL byte)."""


#: Why a row holding a NUL is refused, whatever the format: PostgreSQL text cannot hold one.
NUL_ROW = BadRecord("the row holds a NUL byte, which text data never contains")


#: (line or row number, the values in header order | None if undecodable | BadRecord).
Record = tuple[int, list[Any] | BadRecord | None]


class ReadOptions(BaseModel):
    """How to read a file, whatever the job type: from the CLI, the upload form or the API."""

    model_config = ConfigDict(extra="forbid")

    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None

    @field_validator("delimiter")
    @classmethod
    def _one_plain_character(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 1 or value in '"\r\n'):
            raise ValueError("must be one character, not a quote or a line end")
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
                    "not a read option (use encoding, delimiter or sheet)"
                    if error["type"] == "extra_forbidden"
                    else error["msg"]
                )
                for error in exc.errors(include_url=False)
            )
            raise InputError(f"invalid read options: {problems}") from None


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
