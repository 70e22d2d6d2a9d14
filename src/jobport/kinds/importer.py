"""What a user declares for an import type: the :class:`Importer` (row model, key, transform).

Apart from the import kind's machinery so that mapping, validation and preview
can name it without importing the kind."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from jobport.errors import RegistryError

if TYPE_CHECKING:
    from jobport.kinds.locale import Locale

RowDict = dict[str, Any]
Transform = Callable[[RowDict], RowDict | None]


@dataclass(frozen=True)
class Importer:
    """The import handler of a job type.

    ``row`` validates one row (its fields are the file's columns), ``key`` names
    the column(s) an existing row is matched on, and ``transform`` may reshape a
    valid row (each row is written with exactly the table columns its dict
    holds) or return None to skip it. ``synonyms`` are other headers a field's
    column goes by (``{"email": ["e-mail", "mail"]}``), matched ignoring case,
    spaces and punctuation (see :mod:`jobport.kinds.mapping`); a name of no
    field is refused here, when the type is declared. ``locale`` says how the
    type's files write numbers, dates and booleans (a run's read options
    override it; see :mod:`jobport.kinds.locale`). ``max_failures`` and
    ``max_failure_ratio`` stop a run once more rows than that many, or than
    that share of the rows read so far, have failed (a run's own controls
    override them).
    """

    row: type[BaseModel]
    key: str | Sequence[str]
    transform: Transform | None = None
    locale: Locale | None = None
    synonyms: Mapping[str, Sequence[str]] = field(default_factory=dict, hash=False)
    max_failures: int | None = None
    max_failure_ratio: float | None = None

    def __post_init__(self) -> None:
        if self.synonyms:  # the matching rules load with them: declaring a type needs none
            from jobport.kinds.mapping import check_synonyms

            try:
                check_synonyms(self.row, self.synonyms)
            except ValueError as exc:
                raise RegistryError(f"Importer of {self.row.__name__}: {exc}") from None
        if self.max_failures is not None and self.max_failures < 0:
            raise RegistryError(f"Importer of {self.row.__name__}: max_failures must be >= 0")
        ratio = self.max_failure_ratio
        if ratio is not None and not 0 < ratio <= 1:
            raise RegistryError(
                f"Importer of {self.row.__name__}: max_failure_ratio must be over 0 and at most 1"
            )

    @property
    def key_columns(self) -> tuple[str, ...]:
        return (self.key,) if isinstance(self.key, str) else tuple(self.key)
