"""The review grid's use cases: list, edit, drop, bulk-fix and import an import's rejected rows.

:class:`FixService` stands beside :class:`~jobport.service.JobService` in the
application layer and keeps its rules: a run is reached through
:meth:`JobService.run`, so another user's run answers 404 like a missing one,
and the fix run is started through :meth:`JobService.start_import`, so the
type's roles, limits and the dispatcher apply as to any import.

Edits are kept per run and per user (``job_fix_edits``): two people reviewing
one run never see each other's half-done work, and an edit survives a reload
until it is imported or discarded. A row is always judged whole, by the type's
row model (:meth:`RowShape.check`), with the run's own messages.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from jobport.errors import InputError, JobportError, RunStateError, shown
from jobport.fixes.bulk import BulkFix, Change
from jobport.fixes.fixfile import fix_file, fix_file_name, fix_read_options
from jobport.fixes.rows import ReviewRow, RowShape, check_text, state_of
from jobport.kinds.controls import RunControls
from jobport.kinds.params import RunParams
from jobport.principal import Principal
from jobport.service import ImportStart, JobService
from jobport.store import RunRecord
from jobport.store.fixes import PENDING, EditWrite, FixedBy, FixEdits, RowFilter

#: The most rows one bulk fix may change (narrow the view with the filters for more).
MAX_BULK_ROWS = 50_000
#: The longest value a cell may be given, when the type sets no field limit.
MAX_CELL_BYTES = 1 << 20
#: The largest failure id there can be (the column is a 32-bit integer).
MAX_ID = (1 << 31) - 1


class RowNotFound(JobportError):
    status_code = 404
    title = "Row not found"

    def __init__(self, run_id: str, failure_id: int) -> None:
        super().__init__(f"run {shown(run_id)} has no rejected row {failure_id}")


@dataclass(frozen=True)
class RowPage:
    """One page of the grid: its rows, how many the view holds, the user's edit counts."""

    shape: RowShape
    rows: list[ReviewRow]
    total: int
    counts: dict[str, int]


@dataclass(frozen=True)
class BulkResult:
    """What a bulk fix did, or would do (``applied`` False: the preview)."""

    fix: BulkFix
    #: Rows of the view it looked at (rows already imported or dropped are left alone).
    rows: int
    #: Rows whose cell it changes.
    changed: int
    #: Of those, how many the row model then accepts.
    valid: int
    applied: bool


@dataclass(frozen=True)
class ReviewSummary:
    """What the run page says of a run's rejected rows and the fixes made of them."""

    run: RunRecord
    reviewable: bool
    counts: dict[str, int] = field(default_factory=dict)
    fixed_by: list[FixedBy] = field(default_factory=list)


class FixService:
    """Reviewing and fixing the rows an import rejected (see the module's docstring)."""

    def __init__(self, service: JobService) -> None:
        self.service = service
        self.edits = FixEdits(service.store.engine)

    # -- reading ----------------------------------------------------------------------------

    def shape(self, who: Principal, run_id: str) -> RowShape:
        """The run's shape, once ``who`` may see it and its rows can be reviewed."""
        run = self.service.run(who, run_id)
        registry = self.service.registry
        if run.kind != "import":
            raise InputError(f"run {run.id} is {run.kind} run: only an import's rows are reviewed")
        if run.type not in registry:
            raise InputError(
                f"the type '{shown(run.type)}' of run {run.id} is not registered here, so its "
                "rows cannot be validated; review them where the type is installed"
            )
        if not run.finished:
            raise RunStateError(
                f"run {run.id} is still {run.status}; review its rejected rows once it ends"
            )
        dialect = self.service.engine.database.dialect.name
        return RowShape.of(run, registry.get(run.type), dialect)

    def page(
        self, who: Principal, run_id: str, filters: RowFilter, *, limit: int, offset: int = 0
    ) -> RowPage:
        """One page of the rows the filters select, in line order, as the user edited them."""
        shape = self.shape(who, run_id)
        self._check_filter(shape, filters)
        owner = _owner(who)
        items, total = self.edits.row_page(shape.run.id, owner, filters, limit=limit, offset=offset)
        rows = [shape.review_row(item) for item in items]
        return RowPage(shape, rows, total, self.edits.edit_counts(shape.run.id, owner))

    def counts(self, who: Principal, run_id: str) -> tuple[RunRecord, dict[str, int]]:
        """The run, and the user's edits of its rows by state (see ``FixEdits.edit_counts``)."""
        run = self.service.run(who, run_id)
        return run, self.edits.edit_counts(run.id, _owner(who))

    def row(self, who: Principal, run_id: str, failure_id: int) -> ReviewRow:
        shape = self.shape(who, run_id)
        return shape.review_row(self._stored(shape, who, failure_id))

    def summary(self, who: Principal, run_id: str) -> ReviewSummary:
        """The run page's few words on its rejected rows: how many, who fixed which."""
        run = self.service.run(who, run_id)
        reviewable = run.kind == "import" and run.finished and run.type in self.service.registry
        if not reviewable:
            return ReviewSummary(run, False)
        counts = self.edits.edit_counts(run.id, _owner(who))
        return ReviewSummary(run, run.failed > 0, counts, self.edits.fixed_by(run.id))

    # -- editing ----------------------------------------------------------------------------

    def edit(
        self,
        who: Principal,
        run_id: str,
        failure_id: int,
        *,
        cells: dict[str, str] | None = None,
        dropped: bool | None = None,
    ) -> ReviewRow:
        """Change cells of a row (and/or drop or restore it), validated whole by the row
        model; returns the row as stored, with what still fails."""
        shape = self.shape(who, run_id)
        stored = self._stored(shape, who, failure_id)
        if state_of(stored) == "imported" or stored.get("fix_run_id"):
            raise RunStateError(
                f"line {stored.get('line')} was handled by run {stored['fix_run_id']}; "
                "it can no longer be changed here"
            )
        limit = self._cell_limit(shape)
        for column, value in (cells or {}).items():
            self._check_column(shape, column)
            if len(check_text(value, f"the value of '{shown(column)}'").encode()) > limit:
                raise InputError(f"a value of '{shown(column)}' may be at most {limit:,} bytes")
        values = {**shape.current(stored), **(cells or {})}
        edit = self._edit_of(shape, stored, values, dropped)
        self.edits.save_edits(shape.run.id, _owner(who), [edit])
        return shape.review_row(self._stored(shape, who, failure_id))

    def discard(self, who: Principal, run_id: str) -> int:
        """Forget the user's edits of the run that were not imported; returns how many."""
        run = self.service.run(who, run_id)
        return self.edits.discard_edits(run.id, _owner(who))

    def bulk(
        self, who: Principal, run_id: str, fix: BulkFix, filters: RowFilter, *, preview: bool
    ) -> BulkResult:
        """Apply ``fix`` to the column of every row the filters select (or count them).

        The rows are counted first, whatever is asked, so a fix over the limit, a
        regular expression out of time or a cell grown too long refuses before any
        row changes; then the changed rows are validated and stored page by page.
        """
        shape = self.shape(who, run_id)
        self._check_column(shape, fix.column)
        self._check_filter(shape, filters)
        for value in (fix.find, fix.replace, fix.value, fix.date_format):
            check_text(value, "the bulk fix")
        counted = self._bulk_pass(shape, who, fix, filters, store=False)
        if preview:
            return counted
        if counted.changed > MAX_BULK_ROWS:
            raise InputError(
                f"this fix would change {counted.changed:,} rows, over the limit of "
                f"{MAX_BULK_ROWS:,} at once; narrow the rows with the filters"
            )
        return self._bulk_pass(shape, who, fix, filters, store=True)

    def _bulk_pass(
        self, shape: RowShape, who: Principal, fix: BulkFix, filters: RowFilter, *, store: bool
    ) -> BulkResult:
        change: Change = fix.compile()
        owner = _owner(who)
        rows = changed = valid = 0
        for page in self.edits.iter_rows(shape.run.id, owner, filters):
            touched: list[tuple[dict[str, Any], dict[str, str]]] = []
            for stored in page:
                if stored.get("fix_run_id") or stored.get("dropped"):
                    continue
                rows += 1
                values = shape.current(stored)
                before = values.get(fix.column, "")
                after = change(before)
                if after != before:
                    touched.append((stored, {**values, fix.column: after}))
            changed += len(touched)
            if not store and changed > MAX_BULK_ROWS:
                continue  # counted only: the apply refuses
            checks = shape.check([values for _, values in touched])
            valid += sum(not errors for errors in checks)
            if store:
                edits = [
                    _write(shape, stored, values, stored.get("dropped") or False, errors)
                    for (stored, values), errors in zip(touched, checks, strict=True)
                ]
                self.edits.save_edits(shape.run.id, owner, edits)
        return BulkResult(fix, rows, changed, valid, applied=store)

    # -- importing the fixes ----------------------------------------------------------------

    def start_fix_run(self, who: Principal, run_id: str) -> RunRecord:
        """Import the user's fixed rows (only those: not the dropped ones, not the ones
        still failing) as a run linked to the original (``retry_of``).

        The rows are claimed first, so a second click cannot import them twice,
        then written as a CSV upload and started through the service like any
        import; if that fails they are given back untouched.
        """
        shape = self.shape(who, run_id)
        owner = _owner(who)
        token = PENDING + uuid.uuid4().hex
        claimed = self.edits.claim_fixes(shape.run.id, owner, token)
        try:
            if claimed == 0:
                raise InputError(
                    f"run {shape.run.id} has no fixed row of yours to import: fix rows in the "
                    "grid first (rows still failing and dropped rows are never imported)"
                )
            upload, _ = fix_file(shape, self.edits.claimed_rows(token))
            with upload:
                key = self.service.store_upload(shape.job_type, upload, fix_file_name(shape))
            started = self.service.start_import(
                who,
                ImportStart(
                    type=shape.run.type,
                    source_key=key,
                    source_name=fix_file_name(shape),
                    options=RunParams.of(shape.run.params).options,
                    format="csv",
                    read=fix_read_options(shape),
                    controls=RunControls.of(shape.run.params).to_json(),
                    retry_of=shape.run.id,
                ),
            )
        except BaseException:
            self.edits.settle_claim(token, None)
            raise
        self.edits.settle_claim(token, started.id)
        return started

    # -- helpers ----------------------------------------------------------------------------

    def _stored(self, shape: RowShape, who: Principal, failure_id: int) -> dict[str, Any]:
        if not 0 < failure_id <= MAX_ID:
            raise RowNotFound(shape.run.id, failure_id)
        found = self.edits.row(shape.run.id, _owner(who), failure_id)
        if found is None:
            raise RowNotFound(shape.run.id, failure_id)
        return found

    def _edit_of(
        self,
        shape: RowShape,
        stored: dict[str, Any],
        values: dict[str, str],
        dropped: bool | None,
    ) -> EditWrite:
        keep_dropped = bool(stored.get("dropped")) if dropped is None else dropped
        (errors,) = shape.check([values])
        return _write(shape, stored, values, keep_dropped, errors)

    def _check_column(self, shape: RowShape, column: str | None, allow_other: bool = False) -> None:
        """Refuse a column the grid does not edit (with the ones it does)."""
        if column is not None:
            check_text(column, "the column name")
        if column is None or column in shape.columns:
            return
        if allow_other and column in (name.strip() for name in shape.header):
            return
        raise InputError(
            f"'{shown(column)}' is not a column of run {shape.run.id}'s rows; "
            f"use one of: {', '.join(shape.columns)}"
        )

    def _check_filter(self, shape: RowShape, filters: RowFilter) -> None:
        self._check_column(shape, filters.column, allow_other=True)
        if filters.contains is not None:
            check_text(filters.contains, "the text to look for")

    def _cell_limit(self, shape: RowShape) -> int:
        limits = self.service.engine.dispatcher.limits_for(shape.job_type)
        return limits.max_field_bytes or MAX_CELL_BYTES


def _write(
    shape: RowShape,
    stored: dict[str, Any],
    values: dict[str, str],
    dropped: bool,
    errors: list[dict[str, Any]],
) -> EditWrite:
    """An edit as stored: only the cells that differ from the original values."""
    original = shape.current({"raw": stored.get("raw")})
    cells = {k: v for k, v in values.items() if k in shape.columns and v != original.get(k, "")}
    return EditWrite(int(stored["id"]), cells, dropped, not errors, errors)


def _owner(who: Principal) -> str:
    """Whose edits these are: the user's name ("" for the local operator)."""
    return who.name


__all__ = [
    "MAX_BULK_ROWS",
    "BulkResult",
    "FixService",
    "ReviewSummary",
    "RowNotFound",
    "RowPage",
]
