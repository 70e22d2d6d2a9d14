"""The review grid's storage: an import's rejected rows with each user's edits of them.

A rejected row is a ``job_failures`` row (its line, messages and original
values); what a user changed in it is a ``job_fix_edits`` row keyed on the run,
the user and the failure. Pages are read in line order through the failures'
``(run_id, line)`` index, with the user's edits joined in by their unique key,
so the first page of a run with 100,000 rejected rows costs what a page of 25
costs. Larger passes (bulk fixes, writing the fix file) walk the rows in keyset
pages of ``(line, id)``: constant memory however many rows match.

Filters read the run's original errors ("errors in column X", "message
contains"), not an edit's, so a row stays in the view a user filtered while
they fix it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jobport.store.section import Section, utcnow
from jobport.store.tables import job_failures, job_fix_edits

#: Which rows a view shows, by what the user did to them.
RowState = Literal["all", "open", "fixed", "dropped", "imported"]
ROW_STATES: tuple[RowState, ...] = ("all", "open", "fixed", "dropped", "imported")
#: What ``fix_run_id`` holds while the run importing the fixes is being started.
PENDING = "pending:"

_failure = job_failures.c
_edit = job_fix_edits.c


@dataclass(frozen=True)
class RowFilter:
    """Which rejected rows a view or a bulk fix covers."""

    #: Rows the run found an error in this column for.
    column: str | None = None
    #: Rows whose message holds this text (any case).
    contains: str | None = None
    state: RowState = "all"
    descending: bool = False


@dataclass(frozen=True)
class EditWrite:
    """A user's edit of one rejected row, as validated: what gets stored."""

    failure_id: int
    cells: dict[str, Any]
    dropped: bool
    valid: bool
    errors: list[dict[str, Any]]


@dataclass(frozen=True)
class FixedBy:
    """What one run imported of another's rejected rows (the original run's page says it)."""

    fix_run_id: str
    owner: str
    fixed: int
    dropped: int
    #: The first few original lines it imported, in order.
    lines: list[int]


class FixEdits(Section):
    """Named operations on the rejected rows of a run and the edits users made of them."""

    def row_page(
        self, run_id: str, owner: str, filters: RowFilter, *, limit: int, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the rows ``filters`` select, in line order, and how many they select."""
        with self._read() as conn:
            query = _rows(conn, run_id, owner, filters)
            order: tuple[sa.ColumnElement[Any], ...] = (_failure.line, _failure.id)
            if filters.descending:
                order = (_failure.line.desc(), _failure.id.desc())
            page = conn.execute(query.order_by(*order).limit(limit).offset(offset)).mappings()
            items = [dict(row) for row in page]
            counted = query.with_only_columns(sa.func.count()).order_by(None)
            total = conn.execute(counted).scalar_one()
        return items, int(total)

    def row(self, run_id: str, owner: str, failure_id: int) -> dict[str, Any] | None:
        """One rejected row of the run with the user's edit of it; None if not the run's."""
        with self._read() as conn:
            query = _rows(conn, run_id, owner, RowFilter()).where(_failure.id == failure_id)
            found = conn.execute(query).mappings().first()
        return dict(found) if found is not None else None

    def iter_rows(
        self, run_id: str, owner: str, filters: RowFilter, *, batch: int = 1_000
    ) -> Iterator[list[dict[str, Any]]]:
        """Every row ``filters`` select, in keyset pages of ``(line, id)`` (rows without a
        line last, by id): constant memory, each page read in a short transaction."""
        after: tuple[int, int] | None = None
        while True:
            with self._read() as conn:
                query = _rows(conn, run_id, owner, filters).where(_failure.line.is_not(None))
                if after is not None:
                    query = query.where(sa.tuple_(_failure.line, _failure.id) > sa.tuple_(*after))
                page = _page(conn, query.order_by(_failure.line, _failure.id).limit(batch))
            if not page:
                break
            yield page
            after = (page[-1]["line"], page[-1]["id"])
        last_id = -1
        while True:
            with self._read() as conn:
                query = _rows(conn, run_id, owner, filters).where(
                    _failure.line.is_(None), _failure.id > last_id
                )
                page = _page(conn, query.order_by(_failure.id).limit(batch))
            if not page:
                return
            yield page
            last_id = page[-1]["id"]

    def save_edits(self, run_id: str, owner: str, edits: Sequence[EditWrite]) -> None:
        """Store edits (one per row, replacing the user's earlier one); a row already
        imported by a fix run keeps the edit it was imported with."""
        if not edits:
            return
        now = utcnow()
        values = [
            {
                "run_id": run_id,
                "owner": owner,
                "failure_id": edit.failure_id,
                "cells": edit.cells,
                "dropped": edit.dropped,
                "valid": edit.valid,
                "errors": edit.errors,
                "updated_at": now,
            }
            for edit in edits
        ]
        with self._write() as conn:
            _upsert(conn, values)

    def discard_edits(self, run_id: str, owner: str) -> int:
        """Forget the user's edits of the run's rows that no run imported; returns how many."""
        with self._write() as conn:
            result = conn.execute(
                job_fix_edits.delete().where(
                    _edit.run_id == run_id, _edit.owner == owner, _edit.fix_run_id.is_(None)
                )
            )
        return int(result.rowcount or 0)

    def edit_counts(self, run_id: str, owner: str) -> dict[str, int]:
        """The user's edits of the run's rows by state: fixed (valid, waiting to be
        imported), still invalid, dropped, imported."""
        state = sa.case(
            (_edit.fix_run_id.is_not(None), "imported"),
            (_edit.dropped, "dropped"),
            (_edit.valid, "fixed"),
            else_="invalid",
        )
        with self._read() as conn:
            rows = conn.execute(
                sa.select(state, sa.func.count())
                .where(_edit.run_id == run_id, _edit.owner == owner)
                .group_by(state)
            ).all()
        counts = dict.fromkeys(("fixed", "invalid", "dropped", "imported"), 0)
        counts.update({str(name): int(count) for name, count in rows})
        return counts

    # -- importing the fixes ----------------------------------------------------------------

    def claim_fixes(self, run_id: str, owner: str, token: str) -> int:
        """Mark the user's valid and dropped edits that no run imported as ``token``'s
        (a pending import), so two clicks never import a row twice; returns how many
        rows the fix run will hold."""
        with self._write() as conn:
            conn.execute(
                job_fix_edits.update()
                .where(
                    _edit.run_id == run_id,
                    _edit.owner == owner,
                    _edit.fix_run_id.is_(None),
                    sa.or_(_edit.valid, _edit.dropped),
                )
                .values(fix_run_id=token)
            )
            count = conn.execute(
                sa.select(sa.func.count()).where(_edit.fix_run_id == token, ~_edit.dropped)
            ).scalar_one()
        return int(count)

    def claimed_rows(self, token: str, *, batch: int = 1_000) -> Iterator[list[dict[str, Any]]]:
        """The rows a claim imports (dropped ones left out): each with its line, original
        values and cells, in line order, in keyset pages."""
        after: tuple[int, int] = (-1, -1)
        line = sa.func.coalesce(_failure.line, 0)
        while True:
            with self._read() as conn:
                page = _page(
                    conn,
                    sa.select(_failure.id, _failure.line, _failure.raw, _edit.cells)
                    .join(job_fix_edits, _edit.failure_id == _failure.id)
                    .where(
                        _edit.fix_run_id == token,
                        ~_edit.dropped,
                        sa.tuple_(line, _failure.id) > sa.tuple_(*after),
                    )
                    .order_by(line, _failure.id)
                    .limit(batch),
                )
            if not page:
                return
            yield page
            after = (page[-1]["line"] or 0, page[-1]["id"])

    def settle_claim(self, token: str, fix_run_id: str | None) -> None:
        """Record the run that imported a claim's rows, or (None) give them back."""
        with self._write() as conn:
            conn.execute(
                job_fix_edits.update()
                .where(_edit.fix_run_id == token)
                .values(fix_run_id=fix_run_id, updated_at=utcnow())
            )

    def fixed_by(self, run_id: str, *, lines: int = 8) -> list[FixedBy]:
        """The runs that imported fixes of ``run_id``'s rows, oldest first, whoever made them."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(
                    _edit.fix_run_id,
                    _edit.owner,
                    sa.func.count().filter(~_edit.dropped),
                    sa.func.count().filter(_edit.dropped),
                    sa.func.min(_edit.updated_at),
                )
                .where(_edit.run_id == run_id, _edit.fix_run_id.is_not(None))
                .where(~_edit.fix_run_id.startswith(PENDING, autoescape=True))
                .group_by(_edit.fix_run_id, _edit.owner)
            ).all()
            found = []
            for fix_run_id, owner, fixed, dropped, _ in sorted(rows, key=_when):
                first = conn.execute(
                    sa.select(_failure.line)
                    .join(job_fix_edits, _edit.failure_id == _failure.id)
                    .where(_edit.fix_run_id == fix_run_id, ~_edit.dropped)
                    .order_by(_failure.line)
                    .limit(lines)
                ).scalars()
                found.append(
                    FixedBy(
                        fix_run_id,
                        owner,
                        int(fixed),
                        int(dropped),
                        [line for line in first if line is not None],
                    )
                )
        return found


def _when(row: Any) -> datetime:
    moment: datetime = row[4]
    return moment


def _rows(conn: Connection, run_id: str, owner: str, filters: RowFilter) -> sa.Select[Any]:
    """The run's rejected rows with the user's edit of each, as ``filters`` select them."""
    query = (
        sa.select(
            _failure.id,
            _failure.line,
            _failure.column,
            _failure.message,
            _failure.errors,
            _failure.raw,
            _edit.cells,
            _edit.dropped,
            _edit.valid,
            _edit.errors.label("edit_errors"),
            _edit.fix_run_id,
            _edit.id.label("edit_id"),
        )
        .select_from(
            job_failures.outerjoin(
                job_fix_edits,
                sa.and_(
                    _edit.run_id == run_id,
                    _edit.owner == owner,
                    _edit.failure_id == _failure.id,
                ),
            )
        )
        .where(_failure.run_id == run_id)
    )
    if filters.column:
        query = query.where(
            sa.or_(_failure.column == filters.column, _errors_name(conn, filters.column))
        )
    if filters.contains:
        query = query.where(
            sa.func.lower(_failure.message).contains(filters.contains.lower(), autoescape=True)
        )
    return query.where(*_state(filters.state))


def _errors_name(conn: Connection, column: str) -> sa.ColumnElement[bool]:
    """Whether a failure's error list names ``column`` (a row can fail in several)."""
    if conn.dialect.name == "postgresql":  # jsonb containment: [{"column": ...}] @> ...
        from sqlalchemy.dialects import postgresql  # on PostgreSQL's path alone: ~30 ms

        errors = sa.type_coerce(_failure.errors, postgresql.JSONB)
        return errors.contains([{"column": column}])
    if conn.dialect.name == "sqlite":
        each = sa.func.json_each(_failure.errors).table_valued("value", joins_implicitly=True)
        return sa.exists(
            sa.select(1)
            .select_from(each)
            .where(sa.func.json_extract(each.c.value, "$.column") == column)
        )
    return sa.false()


def _state(state: RowState) -> tuple[sa.ColumnElement[bool], ...]:
    unimported = _edit.fix_run_id.is_(None)
    if state == "open":
        return (sa.or_(_edit.id.is_(None), sa.and_(~_edit.valid, ~_edit.dropped, unimported)),)
    if state == "fixed":
        return (_edit.valid, ~_edit.dropped, unimported)
    if state == "dropped":
        return (_edit.dropped,)
    if state == "imported":
        return (_edit.fix_run_id.is_not(None), ~_edit.dropped)
    return ()


def _page(conn: Connection, query: sa.Select[Any]) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(query).mappings()]


def _upsert(conn: Connection, values: list[dict[str, Any]]) -> None:
    """Insert the edits, or replace the user's earlier edit of a row not yet imported."""
    name = conn.dialect.name
    if name in ("postgresql", "sqlite"):
        # the dialect in use alone is imported: PostgreSQL's costs a SQLite command ~30 ms
        insert = importlib.import_module(f"sqlalchemy.dialects.{name}").insert
        statement = insert(job_fix_edits)
        changed = ("cells", "dropped", "valid", "errors", "updated_at")
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[_edit.run_id, _edit.owner, _edit.failure_id],
                set_={name: statement.excluded[name] for name in changed},
                where=_edit.fix_run_id.is_(None),
            ),
            values,
        )
        return
    for value in values:  # any other database: one row at a time
        key = (
            _edit.run_id == value["run_id"],
            _edit.owner == value["owner"],
            _edit.failure_id == value["failure_id"],
        )
        found = conn.execute(sa.select(_edit.fix_run_id).where(*key)).first()
        if found is None:
            conn.execute(job_fix_edits.insert().values(**value))
        elif found[0] is None:
            conn.execute(job_fix_edits.update().where(*key).values(**value))


__all__ = [
    "PENDING",
    "ROW_STATES",
    "EditWrite",
    "FixEdits",
    "FixedBy",
    "RowFilter",
    "RowState",
]
