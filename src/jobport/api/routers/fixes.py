"""Reviewing an import's rejected rows from the API: the review grid for your own front end.

List a finished import's rejected rows with filters, change a row's values
(``PATCH``: the answer says what the type's row model makes of the row, with
the run's own messages), drop or restore it, apply a bulk fix to a column of
the rows a filter selects (``?preview=true`` counts first), discard your
edits, and import the fixed rows as a run linked to the original
(``retry_of``). Edits are the caller's own, per run; another user's run
answers 404 like a missing one (see :mod:`jobport.fixes`).
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from jobport.api.context import MAX_OFFSET, Caller, Service, accepted
from jobport.api.schemas import RunOut
from jobport.fixes import BulkFix, FixService, ReviewRow, RowFilter, RowState
from jobport.fixes.bulk import MAX_PATTERN
from jobport.fixes.service import MAX_ID
from jobport.http.problems import responses

router = APIRouter()

#: The most cells one PATCH may set.
MAX_CELLS = 1_000

#: A failure's id in a path.
FailureId = Annotated[int, Path(ge=1, le=MAX_ID, description="The rejected row's id.")]


class CellError(BaseModel):
    column: str = Field(description="The column (empty: the row as a whole).")
    message: str


class ReviewRowOut(BaseModel):
    """A rejected row with the caller's edit of it, as the type's row model judges it."""

    id: int = Field(description="The failure's id: where to PATCH.")
    line: int | None = Field(description="The row's line in this run's file.")
    original_line: int | None = Field(
        description="Its line in the file it first came from (differs in a fix run)."
    )
    state: Literal["open", "fixed", "dropped", "imported"] = Field(
        description="open: still failing; fixed: passes, not imported yet; dropped; imported."
    )
    valid: bool = Field(description="Whether the row model accepts the row as it is now.")
    values: dict[str, str] = Field(description="The row's values now, by column.")
    original: dict[str, str] = Field(description="The values the run read.")
    edited: list[str] = Field(description="The columns whose value was changed.")
    errors: list[CellError] = Field(description="What still fails; empty once it passes.")
    fix_run_id: str | None = Field(description="The run that imported (or dropped) the row.")

    @classmethod
    def of(cls, row: ReviewRow) -> "ReviewRowOut":
        return cls(
            id=row.id,
            line=row.line,
            original_line=row.original_line,
            state=row.state,
            valid=row.valid,
            values={c.column: c.value for c in row.cells},
            original={c.column: c.original for c in row.cells},
            edited=[c.column for c in row.cells if c.edited],
            errors=[CellError(**e) for e in row.errors],
            fix_run_id=row.fix_run_id,
        )


class EditCounts(BaseModel):
    fixed: int = Field(description="Rows you fixed, waiting to be imported.")
    invalid: int = Field(description="Rows you edited that still fail.")
    dropped: int
    imported: int = Field(description="Rows a fix run of yours imported.")


class ReviewPage(BaseModel):
    items: list[ReviewRowOut]
    total: int = Field(description="Rows the filters select.")
    limit: int
    offset: int
    columns: list[str] = Field(description="The columns that can be edited, in order.")
    counts: EditCounts


class RowPatch(BaseModel):
    """New values for some cells of a row, and/or dropping or restoring it."""

    model_config = ConfigDict(extra="forbid")

    values: dict[str, str] = Field(default_factory=dict, max_length=MAX_CELLS)
    dropped: bool | None = Field(
        default=None, description="true drops the row from the fixes, false restores it."
    )


class RowView(BaseModel):
    """Which rows a bulk fix covers: the filters of the listing."""

    model_config = ConfigDict(extra="forbid")

    column: str | None = Field(default=None, max_length=1_000)
    contains: str | None = Field(default=None, max_length=MAX_PATTERN)
    state: RowState = "all"


class BulkIn(BulkFix):
    """A bulk fix and the rows it applies to."""

    where: RowView = Field(default_factory=RowView)


class BulkOut(BaseModel):
    rows: int = Field(description="Rows of the view looked at (imported and dropped ones left).")
    changed: int = Field(description="Rows whose cell the fix changes.")
    valid: int = Field(description="Of those, rows the row model then accepts.")
    applied: bool = Field(description="false: a preview, nothing was stored.")


class Discarded(BaseModel):
    discarded: int


@router.get(
    "/jobs/{run_id}/review/rows",
    summary="A finished import's rejected rows, with your edits",
    description=(
        "In line order (`order=-line`: last first), filtered by the column an error is in "
        "and by text in the message (the run's own errors), and by what you did to the row."
    ),
    responses=responses(401, 404, 409, 422),
)
def list_rows(
    run_id: str,
    caller: Caller,
    service: Service,
    column: Annotated[str | None, Query(max_length=1_000)] = None,
    contains: Annotated[str | None, Query(max_length=MAX_PATTERN)] = None,
    state: RowState = "all",
    order: Literal["line", "-line"] = "line",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ReviewPage:
    view = RowFilter(column, contains, state, descending=order == "-line")
    page = FixService(service).page(caller, run_id, view, limit=limit, offset=offset)
    return ReviewPage(
        items=[ReviewRowOut.of(row) for row in page.rows],
        total=page.total,
        limit=limit,
        offset=offset,
        columns=page.shape.columns,
        counts=EditCounts(**page.counts),
    )


@router.get(
    "/jobs/{run_id}/review/rows/{failure_id}",
    summary="One rejected row, with your edit",
    responses=responses(401, 404, 409, 422),
)
def get_row(run_id: str, failure_id: FailureId, caller: Caller, service: Service) -> ReviewRowOut:
    return ReviewRowOut.of(FixService(service).row(caller, run_id, failure_id))


@router.patch(
    "/jobs/{run_id}/review/rows/{failure_id}",
    summary="Change a rejected row's values, or drop it",
    description=(
        "The row is validated whole by the type's row model, with the messages the run "
        "gave; the answer says whether it passes now (`valid`) and what still fails."
    ),
    responses=responses(401, 404, 409, 422),
)
def patch_row(
    run_id: str, failure_id: FailureId, patch: RowPatch, caller: Caller, service: Service
) -> ReviewRowOut:
    row = FixService(service).edit(
        caller, run_id, failure_id, cells=patch.values, dropped=patch.dropped
    )
    return ReviewRowOut.of(row)


@router.post(
    "/jobs/{run_id}/review/bulk",
    summary="Fix a column in every row a filter selects",
    description=(
        "Find/replace (plain or a regular expression, stopped after a time budget), trim, "
        "change case, set a value, decimal comma to dot, a date format to ISO. "
        "`?preview=true` only counts the rows it would change and how many would pass."
    ),
    responses=responses(401, 404, 409, 422),
)
async def bulk_fix(
    run_id: str, fix: BulkIn, caller: Caller, service: Service, preview: bool = False
) -> BulkOut:
    where = RowFilter(fix.where.column, fix.where.contains, fix.where.state)
    plain = BulkFix.model_validate(fix.model_dump(exclude={"where"}))
    done = await run_in_threadpool(
        FixService(service).bulk, caller, run_id, plain, where, preview=preview
    )
    return BulkOut(rows=done.rows, changed=done.changed, valid=done.valid, applied=done.applied)


@router.delete(
    "/jobs/{run_id}/review/edits",
    summary="Discard your edits of a run's rows",
    description="Rows already imported by a fix run keep the edit they were imported with.",
    responses=responses(401, 404),
)
def discard_edits(run_id: str, caller: Caller, service: Service) -> Discarded:
    return Discarded(discarded=FixService(service).discard(caller, run_id))


@router.post(
    "/jobs/{run_id}/review/import",
    status_code=202,
    summary="Import your fixed rows as a run linked to this one",
    description=(
        "Only the rows that pass (not the dropped ones, not those still failing) are "
        "written as a CSV file in the type's column order, with an `original_line` column "
        "that feeds no field: the new run's rejected rows keep it, so they name the "
        "original lines. The new run has `retry_of` set to this run."
    ),
    responses=responses(401, 403, 404, 409, 413, 422),
)
async def import_fixes(
    run_id: str, request: Request, response: Response, caller: Caller, service: Service
) -> RunOut:
    started = await run_in_threadpool(FixService(service).start_fix_run, caller, run_id)
    return accepted(request, response, started)


__all__ = ["router"]
