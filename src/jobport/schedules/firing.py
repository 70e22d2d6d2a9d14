"""Firing schedules: the supervisor's sweep starts what is due, once per slot, anywhere.

:meth:`Scheduler.sweep` runs in every long-lived process's sweep (``jobport
serve``, the Celery workers' main process; see :mod:`jobport.recovery`), so
any number of processes on any number of machines may see a slot due at the
same time: the claim in the state database decides which one fires it
(:mod:`jobport.store.schedules`). For each due schedule the latest slot at or
before now is fired, once: slots missed while nothing was running give one
catch-up run (``Missed.CATCH_UP``, the default), or none if the latest slot is
older than ``late_after`` (``Missed.SKIP``). A firing of a busy type is
recorded as skipped (or queued, for a type with ``queue_when_busy``), not
retried. Each sweep also takes over claims whose process died before their run
was recorded, and starts the waiting starts whose type has a free slot.

The clock is injected, so a test can run a simulated week in a second.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection
from dataclasses import fields, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from jobport.dispatch import Dispatcher, StartRequest, dispatcher_id
from jobport.errors import JobportError
from jobport.files import storage_options
from jobport.schedules.folders import Folder
from jobport.schedules.gate import TypeBusy, Waiting
from jobport.schedules.model import FileClaim, Firing, Missed, Outcome, Schedule
from jobport.schedules.timing import Timing
from jobport.store.section import utcnow

if TYPE_CHECKING:
    from jobport.settings import Settings

log = logging.getLogger(__name__)

#: A claim whose run is still not recorded after this is taken over (its process died).
STALE_AFTER = timedelta(minutes=5)
#: With ``Missed.SKIP``, a slot first seen later than this after its time is not run.
LATE_AFTER = timedelta(minutes=5)
#: How often, per ``stale_after``, a process looks for claims to take over.
TAKE_OVER_CHECKS = 5
#: Most files one firing of an import schedule takes (the rest go to the next slots).
FILES_PER_FIRING = 100
_REQUEST_FIELDS = {f.name for f in fields(StartRequest)}


class Scheduler:
    """Fires the due schedules of a dispatcher's job types through it."""

    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        settings: Settings | None = None,
        clock: Callable[[], datetime] = utcnow,
        stale_after: timedelta = STALE_AFTER,
        late_after: timedelta = LATE_AFTER,
        files_per_firing: int = FILES_PER_FIRING,
    ) -> None:
        self.dispatcher = dispatcher
        self.store = dispatcher.store.schedules
        self.settings = settings
        self.clock = clock
        self.stale_after = stale_after
        self.late_after = late_after
        self.files_per_firing = files_per_firing
        self.me = f"{dispatcher_id()}:scheduler"
        #: When this process next looks for claims whose process died (not at every sweep).
        self._next_take_over: datetime | None = None

    @property
    def fires(self) -> bool:
        """Whether this process fires schedules: not a command that waits for its own run
        (its dispatcher works ``here``: the CLI), which is gone when its command ends."""
        return self.dispatcher.here is None

    def sweep(self) -> int:
        """Start what is due; returns how many runs started (or queued). Never raises."""
        if not self.fires:
            return 0
        try:
            registry = self.dispatcher.registry
            queueing = [t.type for t in registry if t.queue_when_busy]
            started = self.start_waiting(queueing) if queueing else 0
            now = self.clock()
            types = [t.type for t in registry]
            if self._next_take_over is None or now >= self._next_take_over:
                self._next_take_over = now + self.stale_after / TAKE_OVER_CHECKS
                started += self.take_over(now, types)
            for schedule in self.store.due(now, types):
                started += self._fire_logged(schedule, now)
            return started
        except Exception:
            log.exception("firing schedules failed; trying again at the next sweep")
            return 0

    def _fire_logged(self, schedule: Schedule, now: datetime) -> int:
        try:
            return self.fire(schedule, now)
        except Exception:
            log.exception(
                "schedule '%s' could not fire; trying again at the next sweep", schedule.name
            )
            return 0

    def fire(self, schedule: Schedule, now: datetime) -> int:
        """Claim and fire the schedule's latest slot at or before ``now``, if nobody did."""
        timing = Timing.of(schedule)
        slot = timing.latest(now)
        if slot < schedule.next_fire_at:
            return 0  # another process fired it since the schedule was read
        late = now - slot > self.late_after
        skip = late and schedule.missed == Missed.SKIP
        firing = Firing(
            schedule_id=schedule.id,
            slot_at=slot,
            run_id=None if skip or schedule.source else str(uuid.uuid4()),
            outcome=Outcome.SKIPPED if skip else Outcome.CLAIMED,
            detail=f"missed: seen {now - slot} after its time" if skip else None,
            claimed_by=self.me,
            claimed_at=now,
        )
        if not self.store.claim(firing, timing.after(now)):
            return 0
        if skip:
            log.info("schedule '%s' skipped its slot %s: %s", schedule.name, slot, firing.detail)
            return 0
        return self._start(schedule, firing)

    def _start(self, schedule: Schedule, firing: Firing) -> int:
        if schedule.source is not None:
            return self._import_files(schedule, firing)
        outcome, detail = self._launch(self._request(schedule, run_id=firing.run_id), None)
        self.store.settle(firing, outcome, detail)
        return int(outcome in (Outcome.STARTED, Outcome.QUEUED))

    def _request(self, schedule: Schedule, **values: Any) -> StartRequest:
        who = schedule.principal
        return StartRequest(
            type=schedule.type,
            options=schedule.options,
            read=schedule.read,
            owner=who.owner,
            roles=who.roles,
            is_admin=who.is_admin,
            **values,
        )

    def _launch(self, request: StartRequest, source_key: str | None) -> tuple[Outcome, str | None]:
        """Start a run through the dispatcher, under the id chosen when it was claimed."""
        try:
            run = self.dispatcher.start(request, source_key=source_key)
        except TypeBusy as busy:
            log.info("skipped a start of '%s': %s", request.type, busy.message)
            return Outcome.SKIPPED, busy.message
        except JobportError as exc:
            log.warning("a scheduled start of '%s' was refused: %s", request.type, exc.message)
            return Outcome.FAILED, exc.message
        except IntegrityError:
            # Another process started this very run (a claim taken over too early).
            assert request.run_id is not None
            if self.dispatcher.store.find_run(request.run_id) is not None:
                return Outcome.STARTED, None
            if self.dispatcher.gate.waiting(request.run_id) is not None:
                return Outcome.QUEUED, None
            raise
        if run.params.get("waiting"):
            return Outcome.QUEUED, "; ".join(run.warnings)
        return Outcome.STARTED, None

    # -- an import schedule's files ---------------------------------------------------------

    def _import_files(self, schedule: Schedule, firing: Firing) -> int:
        """One run per new file of the schedule's source; the firing says how many."""
        assert schedule.source is not None
        try:
            folder = self._folder(schedule.source)
            found = folder.files(self.files_per_firing * 2)
        except (JobportError, OSError) as exc:  # unreachable: the next slot tries again
            log.warning("schedule '%s' could not list %s: %s", schedule.name, schedule.source, exc)
            self.store.settle(firing, Outcome.FAILED, f"could not list the source: {exc}"[:2000])
            return 0
        taken = self.store.taken_files(schedule.id, [f.key for f in found])
        started, last = 0, None
        for file in [f for f in found if f.key not in taken][: self.files_per_firing]:
            claim = FileClaim(
                schedule_id=schedule.id,
                file_key=file.key,
                path=file.path,
                run_id=str(uuid.uuid4()),
                outcome=Outcome.CLAIMED,
                claimed_by=self.me,
                claimed_at=firing.claimed_at,
            )
            if self.store.claim_file(claim) and self._import_file(schedule, claim, folder):
                started, last = started + 1, claim.run_id
        detail = f"{started} file(s)" if started else "no new file"
        self.store.settle(
            replace(firing, run_id=last), Outcome.STARTED if started else Outcome.SKIPPED, detail
        )
        return started

    def _import_file(self, schedule: Schedule, claim: FileClaim, folder: Folder) -> bool:
        """Copy one claimed file into storage and start its import; move it to ``done/``."""
        name = claim.path.rsplit("/", 1)[-1]
        request = self._request(schedule, run_id=claim.run_id, source_name=name)
        outcome: Outcome = Outcome.STARTED
        detail: str | None = None
        if self.dispatcher.store.find_run(claim.run_id) is None:  # else: started before
            try:
                job_type = self.dispatcher.check(request)
                with folder.open(claim.path) as stream:
                    key = self.dispatcher.store_upload(stream, name, job_type=job_type)
            except (JobportError, OSError) as exc:
                self.store.settle_file(claim, Outcome.FAILED, str(exc)[:2000])
                return False
            outcome, detail = self._launch(request, key)
            if outcome == Outcome.SKIPPED:  # the type was busy: the file waits for a later slot
                self.store.release_file(claim)
                self.dispatcher.files.delete(key)
                return False
        self.store.settle_file(claim, outcome, detail)
        if outcome == Outcome.FAILED:
            return False
        try:
            folder.move_done(claim.path, claim.run_id[:8])
        except OSError:
            log.warning("imported %s but could not move it to done/", claim.path, exc_info=True)
        return True

    def _folder(self, source: str) -> Folder:
        settings = self.settings
        same = (
            settings is not None and source.split("://")[0] == settings.storage_url.split("://")[0]
        )
        return Folder(source, storage_options(settings) if same and settings else None)

    # -- claims whose process died ----------------------------------------------------------

    def take_over(self, now: datetime, types: Collection[str]) -> int:
        """Fire the slots and files whose claimer died before recording what came of them."""
        started = 0
        for firing in self.store.stale(now, self.stale_after, types):
            schedule = self.store.get(firing.schedule_id)
            if schedule is None or not self.store.take_over(firing, self.me, now):
                continue
            log.warning(
                "schedule '%s': taking over slot %s from %s",
                schedule.name,
                firing.slot_at,
                firing.claimed_by,
            )
            started += self._start(schedule, replace(firing, claimed_by=self.me, claimed_at=now))
        for claim in self.store.stale_files(now, self.stale_after, types):
            schedule = self.store.get(claim.schedule_id)
            if schedule is None or schedule.source is None:
                continue
            if self.store.take_over_file(claim, self.me, now):
                started += self._import_file(schedule, claim, self._folder(schedule.source))
        return started

    # -- starts waiting for a slot ----------------------------------------------------------

    def start_waiting(self, types: Collection[str]) -> int:
        """Start the waiting starts of ``types`` whose type has a free slot, oldest first."""
        started = 0
        busy: set[str] = set()
        for waiting in self.dispatcher.gate.waiting_for(types):
            if waiting.type in busy:
                continue
            if not self.dispatcher.gate.claim_waiting(
                waiting.run_id, self.me, self.clock(), self.stale_after
            ):
                continue
            outcome, detail = self._launch(self._waited(waiting), waiting.source_key)
            if outcome == Outcome.SKIPPED:
                self.dispatcher.gate.unclaim_waiting(waiting.run_id)
                busy.add(waiting.type)
                continue
            self.dispatcher.gate.forget_waiting(waiting.run_id)
            if outcome == Outcome.FAILED:
                log.warning(
                    "waiting start %s of '%s' refused: %s", waiting.run_id, waiting.type, detail
                )
            else:
                started += 1
        return started

    def _waited(self, waiting: Waiting) -> StartRequest:
        values = {k: v for k, v in waiting.request.items() if k in _REQUEST_FIELDS}
        values["roles"] = frozenset(values.get("roles") or ())
        values.update(run_id=waiting.run_id, may_queue=False, type=waiting.type)
        return StartRequest(**values)
