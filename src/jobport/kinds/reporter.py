"""What a user declares for a report type: the :class:`Report`.

Apart from the report kind's machinery (:mod:`jobport.kinds.reports`), as
:mod:`jobport.kinds.exporter` is from the export kind's: an app module that
declares a report loads this, not the writers and the store a report's run uses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from jobport.errors import ConfigurationError
from jobport.kinds.exporter import DEFAULT_TTL, Column, QueryFactory

if TYPE_CHECKING:
    import sqlalchemy as sa


@dataclass(frozen=True)
class Report:
    """The report handler of a job type.

    ``query`` is an aggregate select (or a function of the type's options
    returning one); ``format`` the default output format; ``totals`` the
    numeric columns summed into the run's summary.
    """

    query: sa.Select[Any] | QueryFactory
    format: str = "csv"
    columns: Sequence[Column | str] = ()
    totals: Sequence[str] = ()
    ttl: dt.timedelta = DEFAULT_TTL
    filename: str | None = None

    def select(self, options: BaseModel) -> sa.Select[Any]:
        import sqlalchemy as sa  # a run's: declaring the type loads none

        query = self.query if isinstance(self.query, sa.Select) else self.query(options)
        if not isinstance(query, sa.Select):
            raise ConfigurationError("a report query must be a SQLAlchemy select")
        return query


__all__ = ["Report"]
