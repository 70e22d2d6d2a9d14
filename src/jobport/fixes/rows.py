"""A rejected row as the review grid shows it, and its validation by the type's row model.

Everything here works on one run's *shape*: the header its file had, which
column fed which field, the row model, what the target columns can hold and
the read options (decimals, dates) the run was started with. An edited row is
put back into the file's header order as text, the very cells a CSV file
would hold, and checked by :func:`jobport.kinds.validation.validate_records`
(the import's own function, as the dashboard's preview uses it), so an edit is
judged with the same checks and the same messages as the run judged the row,
and what passes here passes in the fix run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from jobport.errors import InputError
from jobport.formats.base import ReadOptions
from jobport.formats.cells import as_text
from jobport.kinds.columns import normalise
from jobport.kinds.importer import Importer
from jobport.kinds.imports import target_capacity
from jobport.kinds.params import ImportParams, RunParams
from jobport.kinds.validation import validate_records
from jobport.registry import JobType
from jobport.store import RunRecord
from jobport.store.fixes import PENDING
from jobport.targets.capacity import Capacity

#: The column of a fix file that carries each row's line in the original file. It
#: feeds no field, so the fix run keeps it in each rejected row's values: the fix
#: run's failures (and its error report) name the original lines.
LINE_COLUMN = "original_line"
#: The name it takes when the type has a column of that name already.
LINE_COLUMN_TAKEN = "jobport_original_line"

RowStateName = Literal["open", "fixed", "dropped", "imported"]


@dataclass(frozen=True)
class Cell:
    """One cell of a rejected row in the grid."""

    column: str
    value: str
    original: str
    #: What the row model says of the cell ("" when nothing).
    message: str = ""

    @property
    def edited(self) -> bool:
        return self.value != self.original


@dataclass(frozen=True)
class ReviewRow:
    """A rejected row with the user's edit of it, ready to show or to answer with."""

    id: int
    #: The line of the row in the run's file.
    line: int | None
    #: The line in the file the row first came from (a fix run's rows carry it).
    original_line: int | None
    cells: list[Cell]
    state: RowStateName
    #: Messages that name no column of the grid (a row with too few fields).
    row_messages: list[str] = field(default_factory=list)
    #: The run that imported the fix (or dropped the row), once one did.
    fix_run_id: str | None = None

    @property
    def valid(self) -> bool:
        return self.state in ("fixed", "imported")

    @property
    def errors(self) -> list[dict[str, str]]:
        """What still fails, as ``{"column", "message"}`` items."""
        found = [{"column": c.column, "message": c.message} for c in self.cells if c.message]
        return found + [{"column": "", "message": m} for m in self.row_messages]


@dataclass(frozen=True)
class RowShape:
    """How one import run's rows are read and validated (see the module's docstring)."""

    run: RunRecord
    job_type: JobType
    importer: Importer
    #: The file's header as the run read it (positions matter; names as written).
    header: list[str]
    #: [[column index, field name], ...] as the run mapped the header.
    mapping: list[list[Any]]
    table_columns: list[str]
    capacity: Capacity | None
    read: ReadOptions
    #: The columns the grid shows and edits: those that feed a field, in the row
    #: model's field order (the type's own order).
    columns: list[str]
    #: The run's column carrying original lines (when the run is a fix run).
    line_column: str | None

    @classmethod
    def of(cls, run: RunRecord, job_type: JobType, dialect: str) -> RowShape:
        importer = job_type.handler
        if run.kind != "import" or not isinstance(importer, Importer):
            raise InputError(f"run {run.id} is not an import: only an import's rows are reviewed")
        if "layout" not in run.params:
            raise InputError(f"run {run.id} never read its file: it has no rows to review")
        params = ImportParams.of(run.params)
        header = params.header
        names = [name.strip() for name in header]
        order = list(importer.row.model_fields)
        fed = sorted(params.columns, key=lambda pair: order.index(pair[1]))
        table = job_type.table
        line_column = next(
            (n for n in (LINE_COLUMN, LINE_COLUMN_TAKEN) if run.retry_of and n in names), None
        )
        return cls(
            run=run,
            job_type=job_type,
            importer=importer,
            header=header,
            mapping=params.columns,
            table_columns=[c.name for c in table.c] if table is not None else order,
            capacity=target_capacity(importer, table, dialect) if table is not None else None,
            read=ReadOptions.checked(RunParams.of(run.params).read),
            columns=[names[index] for index, _ in fed],
            line_column=line_column,
        )

    def fix_line_column(self) -> str:
        """The name of the original-line column in a file of fixes of this run's rows."""
        taken = {normalise(name) for name in self.columns}
        for name, info in self.importer.row.model_fields.items():
            taken.add(normalise(name))
            if info.alias:
                taken.add(normalise(info.alias))
        return LINE_COLUMN if normalise(LINE_COLUMN) not in taken else LINE_COLUMN_TAKEN

    # -- values -----------------------------------------------------------------------------

    def current(self, row: Mapping[str, Any]) -> dict[str, str]:
        """A stored row's values as text by column: the original ones under the user's edits."""
        raw = row.get("raw") or {}
        values = {name.strip(): text(raw.get(name.strip())) for name in self.header}
        values.update({k: text(v) for k, v in (row.get("cells") or {}).items()})
        return values

    def original_line(self, row: Mapping[str, Any]) -> int | None:
        """The row's line in the file it first came from."""
        if self.line_column is not None:
            carried = (row.get("raw") or {}).get(self.line_column)
            try:
                return int(str(carried))
            except ValueError:
                pass
        line = row.get("line")
        return int(line) if line is not None else None

    def check(self, rows: Sequence[Mapping[str, str]]) -> list[list[dict[str, Any]]]:
        """What the row model says of each row of values ([] when it passes), in order.

        The rows go through the import's own validation in one call, numbered by
        their position (the lines only say which failure is whose).
        """
        if not rows:
            return []
        names = [name.strip() for name in self.header]
        records: list[tuple[int, Any]] = [
            (position, [values.get(name, "") for name in names])
            for position, values in enumerate(rows, start=1)
        ]
        _, _, failures = validate_records(
            records,
            self.header,
            self.mapping,
            self.importer,
            self.table_columns,
            capacity=self.capacity,
            read=self.read,
        )
        found: list[list[dict[str, Any]]] = [[] for _ in rows]
        for failure in failures:
            errors = failure.errors or [
                {"column": failure.column or "", "message": failure.message}
            ]
            found[int(failure.line or 1) - 1].extend(errors)
        return found

    # -- the grid's rows --------------------------------------------------------------------

    def review_row(self, row: Mapping[str, Any]) -> ReviewRow:
        """A stored row (a failure joined with the user's edit) as the grid shows it."""
        edited = row.get("edit_id") is not None
        raw = row.get("raw") or {}
        if edited:
            errors = list(row.get("edit_errors") or [])
        else:
            errors = list(row.get("errors") or []) or [
                {"column": row.get("column") or "", "message": row.get("message") or ""}
            ]
        by_column: dict[str, list[str]] = {}
        loose: list[str] = []
        for error in errors:
            column, message = str(error.get("column") or ""), str(error.get("message") or "")
            if column in self.columns:
                by_column.setdefault(column, []).append(message)
            else:
                loose.append(f"{column}: {message}" if column else message)
        values = self.current(row)
        cells = [
            Cell(
                column=name,
                value=values.get(name, ""),
                original=text(raw.get(name)),
                message="; ".join(by_column.get(name, [])),
            )
            for name in self.columns
        ]
        return ReviewRow(
            id=int(row["id"]),
            line=row.get("line"),
            original_line=self.original_line(row),
            cells=cells,
            state=state_of(row),
            row_messages=loose,
            fix_run_id=row.get("fix_run_id"),
        )


def state_of(row: Mapping[str, Any]) -> RowStateName:
    """Where the user is with a row: still failing, fixed, dropped, imported by a fix run."""
    if row.get("edit_id") is None:
        return "open"
    fix_run = row.get("fix_run_id")
    if row.get("dropped"):
        return "dropped"
    if fix_run is not None and not str(fix_run).startswith(PENDING):
        return "imported"
    return "fixed" if row.get("valid") else "open"


def check_text(value: str, what: str) -> str:
    """``value`` if a database and a CSV file can hold it: no NUL character, no lone
    surrogate (text a JSON body can carry, which no file's valid UTF-8 holds)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{what} holds characters that are not valid text") from None
    if "\x00" in value:
        raise InputError(f"{what} holds a NUL character, which no cell may hold")
    return value


def text(value: Any) -> str:
    """A stored value as the text of a CSV cell ("" for nothing)."""
    return as_text(value) or ""


__all__ = [
    "LINE_COLUMN",
    "LINE_COLUMN_TAKEN",
    "Cell",
    "ReviewRow",
    "RowShape",
    "check_text",
    "state_of",
    "text",
]
