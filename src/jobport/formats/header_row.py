"""Which row of a sheet holds the column names, when title rows may sit above them.

A report saved from a spreadsheet often starts with a title ("Customers, March
2024"), perhaps a date and an empty row, and only then the column names. When
the caller does not say which row is the header (``ReadOptions.header_row``),
a reader scans the first :data:`SCAN_ROWS` rows holding a value and applies
this rule, the same for every file:

1. A row *looks like a header* when more than half of its non-empty cells are
   labels (text of at most :data:`MAX_LABEL` characters that is not a number,
   a date, a time or a boolean) and more than half are distinct (case and
   spaces aside).
2. When header names are known (the headers of a mapping the caller gave),
   the header is the first row holding the most of them, if any row holds one.
3. Otherwise it is the first row that looks like a header and fills more than
   half as many cells as the widest row scanned: a title of a cell or two
   above a wider header is skipped; a header whose data rows run a column
   further is kept.
4. No row qualifies: the first row holding a value, as when there is no title.

The rule reads a bounded number of rows and depends on nothing but their
cells, so the preview and every chunk of the run agree on it. A file where it
guesses wrong is read right with ``header_row`` (``--header-row``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Rows holding a value that are looked at for the header.
SCAN_ROWS = 20
#: The longest text counted as a column name: longer text is data (or a title).
MAX_LABEL = 100

_NOT_A_LABEL = re.compile(
    r"""[-+]?(?:\d[\d,.' ]*|\.\d+)(?:[eE][-+]?\d+)?%?       # a number
    | \d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:[T ][\d:.]+)?     # a date, perhaps with a time
    | \d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?                  # a time
    | true | false""",
    re.IGNORECASE | re.VERBOSE,
)


def normalise(name: str) -> str:
    """A header name as names are compared: case and surrounding or repeated spaces aside."""
    return " ".join(name.strip().lower().split())


@dataclass(frozen=True)
class RowShape:
    """What the rule needs to know of one row: counts of its cells, never the cells."""

    #: Cells holding something other than spaces.
    filled: int
    #: Filled cells that read as a column name (see :func:`is_label`).
    labels: int
    #: Distinct filled cells (case and spaces aside).
    distinct: int
    #: Filled cells that are one of the known header names.
    known: int = 0

    @classmethod
    def of(cls, cells: Iterable[object], names: frozenset[str] = frozenset()) -> RowShape:
        texts = [normalise(str(cell)) for cell in cells if cell is not None]
        texts = [text for text in texts if text]
        return cls(
            filled=len(texts),
            labels=sum(1 for text in texts if is_label(text)),
            distinct=len(set(texts)),
            known=sum(1 for text in texts if text in names),
        )

    @property
    def looks_like_header(self) -> bool:
        return 2 * self.labels > self.filled and 2 * self.distinct > self.filled


def is_label(text: str) -> bool:
    """Whether a (normalised, non-empty) cell reads as a column name rather than a value."""
    return len(text) <= MAX_LABEL and _NOT_A_LABEL.fullmatch(text) is None


def choose_header(shapes: Sequence[RowShape]) -> int:
    """The index in ``shapes`` (the rows scanned, top down; at least one) of the header."""
    most_known = max(shape.known for shape in shapes)
    if most_known:
        return next(i for i, shape in enumerate(shapes) if shape.known == most_known)
    widest = max(shape.filled for shape in shapes)
    return next(
        (
            i
            for i, shape in enumerate(shapes)
            if shape.looks_like_header and 2 * shape.filled > widest
        ),
        0,
    )
