"""Planning an export: keyset ranges cut in one pass over the key's index.

Each boundary is the key ``chunk_size`` rows after the previous one (``LIMIT 1
OFFSET chunk_size - 1``); the row total is what the steps skipped plus a count
of the last range. A key without an index is numbered in one query instead
(``ROW_NUMBER()``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from jobport.errors import ConfigurationError
from jobport.kinds.exporter import Exporter
from jobport.kinds.params import KeyRange

if TYPE_CHECKING:
    from jobport.registry import JobType


def keys_indexed(keys: Sequence[sa.ColumnElement[Any]]) -> bool:
    """Whether the table's declared primary key, a unique column or an index leads with
    the key columns, so stepping through them in key order reads an index, not a sort
    of the whole table each step. Without one, planning numbers the rows in one query."""
    columns = [key for key in keys if isinstance(key, sa.Column)]
    if len(columns) != len(keys) or not columns:
        return False
    table = columns[0].table
    if not isinstance(table, sa.Table) or any(c.table is not table for c in columns):
        return False
    names = [c.name for c in columns]
    leading = [[c.name for c in table.primary_key.columns]]
    leading += [[c.name for c in index.columns] for index in table.indexes]
    leading += [[c.name] for c in columns if c.unique or c.index]
    return any(candidate[: len(names)] == names for candidate in leading)


def step_boundaries(
    conn: sa.Connection,
    query: sa.Select[Any],
    keys: list[sa.ColumnElement[Any]],
    size: int,
) -> tuple[list[list[Any]], int]:
    """The key of every ``size``-th row and the row total, in one pass over the key's
    index: each step skips ``size - 1`` keys after the previous boundary."""
    ordered = (
        query.with_only_columns(*keys, maintain_column_froms=True).order_by(None).order_by(*keys)
    )
    boundaries: list[list[Any]] = []
    after: list[Any] | None = None
    while True:
        step = in_range(ordered, keys, after, None).offset(size - 1).limit(1)
        row = conn.execute(step).first()
        if row is None:
            break
        after = [_json_key(value) for value in row]
        boundaries.append(after)
    rest = in_range(query, keys, after, None).order_by(None).subquery()
    remainder = int(conn.execute(sa.select(sa.func.count()).select_from(rest)).scalar_one())
    return boundaries, size * len(boundaries) + remainder


def key_ranges(boundaries: list[list[Any]], total: int, size: int) -> list[KeyRange]:
    """The chunks between the boundaries: ``size`` rows each, the rest in the last one,
    whose upper side is open (a last range that would be full ends at its boundary
    through "no upper bound" instead, so a full last step adds no empty chunk)."""
    if boundaries and total % size == 0:
        boundaries = boundaries[:-1]
    ranges = []
    after: list[Any] | None = None
    for upto in boundaries:
        ranges.append(KeyRange(after, upto, size))
        after = upto
    ranges.append(KeyRange(after, None, total - size * len(boundaries)))
    return ranges


def numbered_boundaries(
    conn: sa.Connection,
    query: sa.Select[Any],
    keys: list[sa.ColumnElement[Any]],
    size: int,
) -> tuple[list[list[Any]], int]:
    """The same in one query numbering the rows (one sort, for keys without an index)."""
    numbered = (
        query.with_only_columns(
            *keys,
            sa.func.row_number().over(order_by=keys).label("jobport_rn"),
            sa.func.count().over().label("jobport_total"),
            maintain_column_froms=True,
        )
        .order_by(None)
        .subquery()
    )
    width = len(keys)
    rows = conn.execute(
        sa.select(
            *[numbered.c[i] for i in range(width)], numbered.c.jobport_rn, numbered.c.jobport_total
        )
        .where(
            sa.or_(
                numbered.c.jobport_rn % size == 0,
                numbered.c.jobport_rn == numbered.c.jobport_total,
            )
        )
        .order_by(numbered.c.jobport_rn)
    ).all()
    total = int(rows[-1][width + 1]) if rows else 0
    boundaries = [
        [_json_key(value) for value in row[:width]] for row in rows if row[width] % size == 0
    ]
    return boundaries, total


def key_columns(
    job_type: JobType, exporter: Exporter, query: sa.Select[Any]
) -> list[sa.ColumnElement[Any]]:
    if exporter.key is not None:
        names = [exporter.key] if isinstance(exporter.key, str) else list(exporter.key)
    else:
        table = job_type.table
        if table is None or not list(table.primary_key.columns):
            raise ConfigurationError(
                f"export type '{job_type.type}' needs a key: name the unique column(s) that "
                "order its rows with Exporter(key=...)"
            )
        names = [c.name for c in table.primary_key.columns]
    selected = query.selected_columns
    missing = [name for name in names if name not in selected]
    if missing:
        raise ConfigurationError(
            f"export type '{job_type.type}': key column(s) {missing} must be selected by its query"
        )
    return [selected[name] for name in names]


def in_range(
    query: sa.Select[Any],
    keys: list[sa.ColumnElement[Any]],
    after: list[Any] | None,
    upto: list[Any] | None,
) -> sa.Select[Any]:
    def row(values: list[Any]) -> Any:
        return keys[0] if len(keys) == 1 else sa.tuple_(*keys), (
            values[0] if len(keys) == 1 else sa.tuple_(*[sa.literal(v) for v in values])
        )

    if after is not None:
        left, right = row(after)
        query = query.where(left > right)
    if upto is not None:
        left, right = row(upto)
        query = query.where(left <= right)
    return query


def _json_key(value: Any) -> Any:
    if value is None or isinstance(value, int | str | float):
        return value
    raise ConfigurationError(
        f"export keys must be integers or strings to split an export into chunks, not "
        f"{type(value).__name__}; name another unique column with Exporter(key=...)"
    )
