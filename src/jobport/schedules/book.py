"""Managing schedules for the faces (through :class:`jobport.service.JobService`), with its rules.

- Whoever may start a type may schedule it (:meth:`JobType.may_start`); its runs
  are started as them, with the rights they had when they added it.
- A non-admin sees, pauses, resumes and removes their own schedules; anyone
  else's answers as a missing one does (:class:`ScheduleNotFound`), so names
  and ids cannot be probed. Admins see them all.
- Syncs, exports and reports are scheduled as they are; an import needs a
  ``source`` (a folder or a storage glob it picks its files from), and only an
  admin may give one: it reads the server's files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from jobport.dispatch import Dispatcher, StartRequest
from jobport.errors import InputError, JobportError, shown
from jobport.principal import Principal
from jobport.registry import JobRegistry
from jobport.schedules.folders import Folder
from jobport.schedules.model import Missed, NewSchedule, Schedule
from jobport.schedules.timing import Timing
from jobport.store import RunRecord
from jobport.store.schedules import ScheduleStore

#: The kinds a schedule may start without a source.
SCHEDULED_KINDS = ("sync", "export", "report")
#: The longest schedule name.
MAX_NAME = 200


class ScheduleNotFound(JobportError):
    status_code = 404
    title = "Schedule not found"

    def __init__(self, given: str) -> None:
        super().__init__(
            f"no schedule with the name or id '{shown(given)}'; `jobport schedules list` shows them"
        )


def parse_missed(value: str) -> Missed:
    """A ``missed`` policy as typed: "catch_up" (or "catch-up") or "skip"."""
    try:
        return Missed(value.strip().lower().replace("-", "_"))
    except ValueError:
        raise InputError(
            f"missed must be 'catch_up' (one run for the slots missed) or 'skip', not "
            f"'{shown(value)}'"
        ) from None


class ScheduleBook:
    """Add, list, pause, resume and remove schedules, as a principal may."""

    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        registry: JobRegistry,
        store: ScheduleStore,
        clock: Callable[[], datetime],
    ) -> None:
        self.dispatcher = dispatcher
        self.registry = registry
        self.store = store
        self.clock = clock

    def add(self, who: Principal, new: NewSchedule) -> Schedule:
        """Check and store a schedule; it first fires at its next slot from now."""
        job_type = self.registry.get(new.type)
        job_type.require_start(who)
        if job_type.kind == "import":
            if new.source is None:
                raise InputError(
                    f"'{job_type.type}' is an import type: scheduling it needs a source, the "
                    "folder or storage glob its files come from (e.g. '/data/incoming/*.csv')"
                )
            if not who.is_admin:
                raise InputError("only an admin may schedule imports: they read the server's files")
            Folder(new.source)  # an unknown protocol or a missing extra says so now
        elif job_type.kind not in SCHEDULED_KINDS:
            raise InputError(f"'{job_type.type}' is a {job_type.kind} type: it cannot be scheduled")
        elif new.source is not None:
            raise InputError(f"only imports take a source; '{job_type.type}' is a {job_type.kind}")
        name = (new.name or new.type).strip()
        if not name or len(name) > MAX_NAME or not name.isprintable():
            raise InputError(f"a schedule's name is 1 to {MAX_NAME} printable characters")
        timing = Timing.parse(new.spec, new.timezone)
        self.dispatcher.check(
            StartRequest(
                type=job_type.type,
                options=new.options,
                read=new.read,
                owner=who.owner,
                roles=who.roles,
                is_admin=who.is_admin,
            )
        )
        now = self.clock()
        checked = replace(new, name=name, spec=timing.spec, timezone=timing.zone.key)
        return self.store.add(checked, who, next_fire_at=timing.after(now), now=now)

    def visible(self, who: Principal) -> list[Schedule]:
        """The schedules ``who`` may see (every one for an admin), by name."""
        return self.store.listed(owner=who.name, everyone=who.is_admin)

    def last_runs(self, schedules: list[Schedule]) -> dict[str, RunRecord]:
        """The runs of the schedules' last firings that exist, by run id."""
        found = {}
        for schedule in schedules:
            run_id = schedule.last.run_id if schedule.last else None
            run = self.dispatcher.store.find_run(run_id) if run_id else None
            if run is not None:
                found[run.id] = run
        return found

    def get(self, who: Principal, given: str) -> Schedule:
        """The schedule named (or with the id) ``given``, if ``who`` may see it."""
        found = self.store.named(given)
        if found is None or not who.can_see(found.owner):
            raise ScheduleNotFound(given)
        return found

    def pause(self, who: Principal, given: str) -> Schedule:
        found = self.get(who, given)
        now = self.clock()
        self.store.set_enabled(found.id, False, next_fire_at=found.next_fire_at, now=now)
        return self.get(who, found.id)

    def resume(self, who: Principal, given: str) -> Schedule:
        """Enable a schedule again: it fires from its next slot (no catch-up for the pause)."""
        found = self.get(who, given)
        now = self.clock()
        self.store.set_enabled(found.id, True, next_fire_at=Timing.of(found).after(now), now=now)
        return self.get(who, found.id)

    def remove(self, who: Principal, given: str) -> Schedule:
        """Delete a schedule (and its firings); the runs it started stay."""
        found = self.get(who, given)
        self.store.remove(found.id)
        return found
