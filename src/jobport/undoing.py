"""Undoing a run: what it would do, whether it may, and the undo run itself.

The use case beside :class:`~jobport.service.JobService` (which it is built
over): the faces call :meth:`Undoing.preview` for the confirmation they show
and :meth:`Undoing.undo` to start the undo run. The rules are here once: a
run can be undone when its type is undoable, it finished, it was no dry run,
it is not undone already and its log is still kept (``undo_days``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from jobport.audit import Action, AuditEntry
from jobport.dispatch import StartRequest
from jobport.errors import PermissionDenied, RunStateError
from jobport.kinds.undo import undo_plan
from jobport.lifecycle import RunStatus
from jobport.principal import Principal
from jobport.store import RunRecord
from jobport.store.undo import UndoSummary

if TYPE_CHECKING:
    from jobport.service import JobService

#: The kinds of run that keep an undo log (an undo of an undo is a redo).
UNDOABLE_KINDS = ("import", "undo")


@dataclass(frozen=True)
class UndoPreview:
    """What undoing ``run`` would do, shown before it starts."""

    run: RunRecord
    summary: UndoSummary
    #: Runs that wrote some of the same rows after it (their rows may be conflicts).
    later_runs: list[str]

    @property
    def warning(self) -> str | None:
        if not self.later_runs:
            return None
        count = len(self.later_runs)
        runs = ", ".join(run[:8] for run in self.later_runs[:5])
        return (
            f"{count} later run{'s' if count != 1 else ''} ({runs}) wrote some of the same "
            "rows: those no longer as this run left them will be left alone and reported, "
            "unless forced"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run.id,
            "restored": self.summary.restored,
            "deleted": self.summary.deleted,
            "reinserted": self.summary.reinserted,
            "chunks": len(self.summary.chunks),
            "later_runs": self.later_runs,
            "warning": self.warning,
        }


class Undoing:
    """The undo use cases, over the service's engine and its visibility rules."""

    def __init__(self, service: JobService) -> None:
        self.service = service

    def preview(self, who: Principal, run_id: str) -> UndoPreview:
        """What undoing the run would do; refuses (:class:`RunStateError`) a run that
        cannot be undone, saying why."""
        run = self.service.run(who, run_id)
        self._check(who, run)
        store = self.service.store
        summary = store.undo_summary(run.id)
        if not summary.entries:
            raise RunStateError(f"run {run.id} changed no rows: there is nothing to undo")
        return UndoPreview(run, summary, store.later_runs_over(run.id))

    def undo(self, who: Principal, run_id: str, *, force: bool = False) -> RunRecord:
        """Start the undo run of ``run_id``: its chunks restore the logged rows."""
        preview = self.preview(who, run_id)
        run = preview.run
        request = StartRequest(
            type=run.type,
            owner=who.owner,
            roles=who.roles,
            is_admin=who.is_admin,
            kind="undo",
            source_name=f"undo of {run.id[:8]}",
        )
        plan = undo_plan(run.id, preview.summary, force=force)
        started = self.service.engine.dispatcher.start(request, planned=plan)
        # Right after the start (the dispatcher's transaction is its own): see docs/undo.md.
        self.service.store.record_audit(
            AuditEntry(
                Action.UNDID,
                run.id,
                who.owner,
                who.via,
                detail={"undo_run": started.id, "force": force},
            )
        )
        return started

    def audit(
        self, who: Principal, *, run_id: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[AuditEntry]:
        """The audit trail (admins only), or one visible run's (anyone who may see it)."""
        if run_id is not None:
            run_id = self.service.run(who, run_id).id
        elif not who.is_admin:
            raise PermissionDenied("the audit trail is for admins")
        return self.service.store.audit_entries(run_id=run_id, limit=limit, offset=offset)

    def _check(self, who: Principal, run: RunRecord) -> None:
        job_type = self.service.registry.get(run.type)
        job_type.require_start(who)
        if run.kind not in UNDOABLE_KINDS or not job_type.undoable:
            raise RunStateError(
                f"run {run.id} cannot be undone: only imports of types declared undoable can "
                f"be undone, and '{run.type}' is not one"
            )
        if not run.finished:
            raise RunStateError(f"run {run.id} is {run.status}: wait for it to end, or cancel it")
        if run.dry_run:
            raise RunStateError(f"run {run.id} was a dry run: it changed nothing to undo")
        days = self.service.settings.undo_days
        if run.finished_at is not None and run.finished_at < datetime.now(UTC) - timedelta(
            days=days
        ):
            raise RunStateError(
                f"run {run.id} finished more than {days:g} days ago: its undo log is no longer "
                "kept (JOBPORT_UNDO_DAYS)"
            )
        for undo in self.service.store.undo_runs_of(run.id, run.type):
            status = RunStatus(undo["status"])
            if not status.finished:
                raise RunStateError(f"run {run.id} is being undone by run {undo['id']}")
            if status == RunStatus.COMPLETED and not undo["failed"]:
                raise RunStateError(f"run {run.id} was undone already by run {undo['id']}")


__all__ = ["UNDOABLE_KINDS", "UndoPreview", "Undoing"]
