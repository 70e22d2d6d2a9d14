"""What a user declares for an export type: the :class:`Exporter` and its :class:`Column` s.

Apart from the export kind's machinery so that the pieces reading rows and
planning ranges can name these types without importing the kind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from jobport.errors import ConfigurationError

if TYPE_CHECKING:
    import sqlalchemy as sa

#: How long a result file is kept unless the type says otherwise.
DEFAULT_TTL = dt.timedelta(hours=72)

QueryFactory = Callable[[Any], "sa.Select[Any]"]
Formatter = Callable[[Any], Any]


@dataclass(frozen=True)
class Column:
    """One output column: the query column ``name``, its ``header`` in CSV and XLSX
    files (JSON Lines and Parquet use ``name``), and an optional ``formatter`` applied
    to each value.

    A formatter gets the Python value SQLAlchemy gives for the column (the column
    type's result processing applied: a ``date``, a ``Decimal``, a ``bool``, None for
    NULL), in every format and on every database, although the export itself reads
    the driver's values; what it returns is written as text (a string in Parquet)."""

    name: str
    header: str | None = None
    formatter: Formatter | None = None

    @property
    def label(self) -> str:
        return self.header if self.header is not None else self.name


@dataclass(frozen=True)
class Exporter:
    """The export handler of a job type.

    ``query`` is a select over the type's model, or a function of the type's
    validated options returning one (that is where filters come from).
    ``columns`` picks and labels the output columns (default: every selected
    column). ``key`` names the selected column(s) that order the rows and
    split them into chunks; it must be unique (default: the model's primary key).
    """

    query: sa.Select[Any] | QueryFactory
    columns: Sequence[Column | str] = ()
    default_format: str = "csv"
    key: str | Sequence[str] | None = None
    ttl: dt.timedelta = DEFAULT_TTL
    #: The download's name before ``-<date>.<ext>`` (default: the type key).
    filename: str | None = None

    def select(self, options: BaseModel) -> sa.Select[Any]:
        import sqlalchemy as sa  # a run's: declaring the type loads none

        query = self.query if isinstance(self.query, sa.Select) else self.query(options)
        if not isinstance(query, sa.Select):
            raise ConfigurationError("an export query must be a SQLAlchemy select")
        return query
