"""How many runs of a type may be active at once (``JobType.max_active``), and what a busy
type answers.

A run of a limited type takes one numbered slot of its type just before it is
recorded; the slots are rows the store takes atomically
(:mod:`jobport.store.slots`, reached through the :class:`~jobport.store.JobStore`),
so two starts racing for the last slot never both get it, and no process has
to free a slot: a slot is free once its run has finished, or when its run was
never recorded (the start died between the two transactions) after
:data:`UNRECORDED_GRACE`.

A start that finds its type busy is refused with :class:`TypeBusy` (409, exit
code 75), or, for a type with ``queue_when_busy``, waits as a row of
``jobport_waiting_starts`` under the id its run will have; the supervisor's
sweep starts it when a slot is free (:mod:`jobport.schedules.firing`).
Resuming or retrying a run takes no slot: it is the same run going on.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from jobport.errors import JobportError, listed
from jobport.lifecycle import RunStatus
from jobport.store import RunRecord
from jobport.store.section import utcnow
from jobport.store.slots import UNRECORDED_GRACE, Waiting

if TYPE_CHECKING:
    from jobport.registry import JobType
    from jobport.store.slots import Slots


class TypeBusy(JobportError):
    """A start beyond the type's ``max_active``: says which runs hold it and what to do."""

    status_code = 409
    #: EX_TEMPFAIL: the same command may work later.
    exit_code = 75
    title = "Job type busy"

    def __init__(self, type: str, limit: int, active: Sequence[str]) -> None:
        runs = "run" if limit == 1 else "runs"
        super().__init__(
            f"'{type}' allows {limit} active {runs} at a time and has {len(active)} "
            f"({listed(active)}); start it again once one has ended, or cancel one"
        )
        self.type = type
        self.limit = limit
        self.active = tuple(active)


class Gate:
    """The slots of the limited types, and the starts waiting for one, by the types' rules."""

    def __init__(self, store: Slots) -> None:
        self.store = store

    # -- slots ------------------------------------------------------------------------------

    def holders(self, type: str, *, now: datetime | None = None) -> list[str]:
        """The runs holding a slot of ``type`` now (oldest slot first)."""
        return self.store.slot_holders(type, now or utcnow())

    def check(self, job_type: JobType) -> None:
        """Refuse at once a start that would find its type busy (nothing is taken)."""
        limit = job_type.active_limit
        if limit is not None:
            held = self.holders(job_type.type)
            if len(held) >= limit:
                raise TypeBusy(job_type.type, limit, held)

    def take(self, job_type: JobType, run_id: str, *, now: datetime | None = None) -> int | None:
        """Take a slot of the type for ``run_id`` (the slot it holds already, if any).

        Returns the slot's number (None for a type without a limit); raises
        :class:`TypeBusy` when every slot is held by an active run.
        """
        limit = job_type.active_limit
        if limit is None:
            return None
        taken = self.store.take_slot(job_type.type, limit, run_id, now or utcnow())
        if isinstance(taken, list):
            raise TypeBusy(job_type.type, limit, taken)
        return taken

    def release(self, run_id: str) -> None:
        """Give back the slot of a run that was never recorded (its start failed)."""
        self.store.release_slot(run_id)

    # -- waiting starts ---------------------------------------------------------------------

    def wait(self, waiting: Waiting) -> None:
        """Record a start that waits for a slot (its request as JSON)."""
        self.store.add_waiting(waiting)

    def waiting(self, run_id: str) -> Waiting | None:
        return self.store.waiting_start(run_id)

    def waiting_for(self, types: Collection[str], *, limit: int = 100) -> list[Waiting]:
        """The starts waiting for a slot of ``types``, oldest first."""
        return self.store.waiting_starts(types, limit=limit)

    def claim_waiting(self, run_id: str, by: str, now: datetime, stale: timedelta) -> bool:
        """Take a waiting start to start it: only one process at a time gets it (a claim
        older than ``stale``, whose process died starting it, is taken over)."""
        return self.store.claim_waiting(run_id, by, now, stale)

    def unclaim_waiting(self, run_id: str) -> None:
        """Put a waiting start back: its type was still busy."""
        self.store.unclaim_waiting(run_id)

    def forget_waiting(self, run_id: str) -> bool:
        """Remove a waiting start (started, or cancelled); whether it was there."""
        return self.store.forget_waiting(run_id)


def placeholder(waiting: Waiting, job_type: JobType, status: RunStatus) -> RunRecord:
    """What a face shows of a waiting start: a run not recorded yet, ``queued``."""
    request = waiting.request
    note = f"waiting for a run of '{waiting.type}' to end (at most {job_type.active_limit} at once)"
    return RunRecord(
        id=waiting.run_id,
        type=waiting.type,
        kind=job_type.kind,
        status=status,
        strategy=job_type.strategy,
        broadcast=job_type.broadcast,
        total=None,
        processed=0,
        failed=0,
        owner=waiting.owner,
        params={"options": request.get("options", {}), "warnings": [note], "waiting": True},
        format=request.get("format"),
        source_key=waiting.source_key,
        source_name=request.get("source_name"),
        result_key=None,
        result=None,
        created_at=waiting.created_at,
        started_at=None,
        finished_at=None if status == RunStatus.QUEUED else utcnow(),
        error=None,
        retry_of=request.get("retry_of"),
        chunks_total=0,
        chunks_done=0,
        seq=0,
        rows_per_second=None,
        eta_seconds=None,
        max_attempts=job_type.max_attempts,
    )


__all__ = ["UNRECORDED_GRACE", "Gate", "TypeBusy", "Waiting", "placeholder"]
