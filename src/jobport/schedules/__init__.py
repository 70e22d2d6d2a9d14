"""Schedules: job types started on their own, and how many runs of a type may be active.

- :mod:`~jobport.schedules.timing`: when a schedule's slots fall (croniter for cron
  expressions, in the schedule's time zone; intervals counted from the epoch).
- :mod:`~jobport.schedules.model`: a schedule and a firing as plain values (the store's
  records, :mod:`jobport.store.schedule_records`).
- :mod:`~jobport.schedules.book`: adding, listing, pausing and removing schedules, by rule.
- :mod:`~jobport.schedules.firing`: the :class:`~jobport.schedules.firing.Scheduler`
  the supervisor's sweep calls in every long-lived process.
- :mod:`~jobport.schedules.folders`: the files an import schedule picks from a folder.
- :mod:`~jobport.schedules.gate`: ``JobType.max_active``, the slots a run takes, and
  the starts that wait for one (``queue_when_busy``).

Their rows are the store's, like every state table's: the schedules, their
claimed slots and files in :mod:`jobport.store.schedules` (``JobStore.schedules``),
the slots and waiting starts in :mod:`jobport.store.slots`.

``docs/operations.md`` states what is guaranteed. Nothing is imported here: the
dispatcher imports the gate, and the scheduler imports the dispatcher.
"""
