"""The JobStore: every storage operation of jobport, by name, behind one entry point.

The store is the source of truth for a run: a queue only ever says "run chunk
n of run r". Its operations are split by concern, one module each: runs and
their chunks (:mod:`~jobport.store.runs`), how runs end or are reopened
(:mod:`~jobport.store.run_ends`), leases (:mod:`~jobport.store.leases`),
commits (:mod:`~jobport.store.commits`), users and sessions
(:mod:`~jobport.store.users`), events (:mod:`~jobport.store.outbox`), the
dashboard's statistics (:mod:`~jobport.store.stats`), the column mappings
people saved (:mod:`~jobport.store.mappings`), undo logs
(:mod:`~jobport.store.undo`), the audit trail (:mod:`~jobport.store.audit`)
and the slots of types with ``max_active`` (:mod:`~jobport.store.slots`).
:class:`JobStore` composes them, so callers hold one object
(``engine.store.get_run(...)``) and a fake replaces one object. Schedules,
whose operations have names of their own (``add``, ``due``, ``claim``), are
one attribute away: ``engine.store.schedules`` (:mod:`~jobport.store.schedules`).
"""

from __future__ import annotations

import sqlalchemy as sa

from jobport.store.audit import Audit
from jobport.store.commits import CommitConflict, Commits, NotYourTurn
from jobport.store.leases import Leases, Reclaimed
from jobport.store.mappings import Mappings, SavedMapping
from jobport.store.outbox import Outbox, event_from_dict
from jobport.store.run_ends import RunEnds
from jobport.store.runs import NewRun, RunFilter, Runs
from jobport.store.schedules import ScheduleStore
from jobport.store.section import utcnow
from jobport.store.slots import Slots
from jobport.store.stats import STATS_DAYS, STATS_WINDOW, RunStats, Stats, TypeStats
from jobport.store.undo import UndoLog
from jobport.store.users import UserRecord, Users


class JobStore(
    Runs, RunEnds, Leases, Commits, Users, Outbox, Stats, Mappings, UndoLog, Audit, Slots
):
    """Every storage operation of jobport, over one state database."""

    @property
    def schedules(self) -> ScheduleStore:
        """The schedules, their firings and the files import schedules took (a new view
        over the same engine each time: it holds nothing but the engine)."""
        return ScheduleStore(self.engine)

    def ping(self) -> None:
        """Touch the database (readiness checks): raises if it cannot be reached."""
        with self._read() as conn:
            conn.execute(sa.select(1))


__all__ = [
    "STATS_DAYS",
    "STATS_WINDOW",
    "CommitConflict",
    "JobStore",
    "NewRun",
    "NotYourTurn",
    "Reclaimed",
    "RunFilter",
    "RunStats",
    "SavedMapping",
    "TypeStats",
    "UserRecord",
    "event_from_dict",
    "utcnow",
]
