"""Fixing an import's rejected rows in the dashboard or through the API, and importing the
fixes as a run linked to the original (the review grid).

- :mod:`.rows`: a rejected row as the grid shows it, and its validation by the
  type's row model with the run's own messages;
- :mod:`.bulk`: bulk fixes of a column (find/replace, trim, case, a value, decimal
  comma, a date format), their cost bounded;
- :mod:`.fixfile`: the CSV file a fix run imports, carrying the original lines;
- :mod:`.service`: the use cases (:class:`FixService`), over
  :class:`~jobport.service.JobService` and the store's :mod:`jobport.store.fixes`.
"""

from jobport.fixes.bulk import OPERATIONS, BulkFix
from jobport.fixes.rows import LINE_COLUMN, Cell, ReviewRow, RowShape
from jobport.fixes.service import (
    MAX_BULK_ROWS,
    BulkResult,
    FixService,
    ReviewSummary,
    RowNotFound,
    RowPage,
)
from jobport.store.fixes import ROW_STATES, RowFilter, RowState

__all__ = [
    "LINE_COLUMN",
    "MAX_BULK_ROWS",
    "OPERATIONS",
    "ROW_STATES",
    "BulkFix",
    "BulkResult",
    "Cell",
    "FixService",
    "ReviewRow",
    "ReviewSummary",
    "RowFilter",
    "RowNotFound",
    "RowPage",
    "RowShape",
    "RowState",
]
