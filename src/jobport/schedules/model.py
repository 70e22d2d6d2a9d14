"""A schedule and a firing as plain values: the store's records, by the schedules' names.

The records live with the storage that reads and writes them
(:mod:`jobport.store.schedule_records`); when a schedule's slots fall is
:meth:`jobport.schedules.timing.Timing.of`.
"""

from __future__ import annotations

from jobport.store.schedule_records import (
    FileClaim,
    Firing,
    Missed,
    NewSchedule,
    Outcome,
    Schedule,
)

__all__ = ["FileClaim", "Firing", "Missed", "NewSchedule", "Outcome", "Schedule"]
