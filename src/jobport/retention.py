"""Retention: finished runs past an age go, with everything they hold.

``jobport prune --older-than 90d`` and, with ``JOBPORT_RETENTION_DAYS``, the
supervisor's sweep (:class:`PeriodicPrune`, at most once an hour) remove the
runs finished before the cutoff: their rows, chunks, failures and events,
and the files they hold in storage (the upload, or the copy planning made of
it; the result file; an export's part files; a sync's seen-keys files),
local or on S3 alike, through :class:`~jobport.files.FileStore`.

What is never removed: a run that is not finished; a run linked to a run
that is kept. Runs linked by ``retry_of`` form a chain, pruned whole only
when every run in it finished before the cutoff (see
:mod:`jobport.store.prune`), and the run a sync type's cursor names is kept.
Saved header mappings are kept whatever their age.

The database goes first, in short transactions (a chain's rows are checked
again under its lock), then the files of the runs actually deleted: a file
that cannot be deleted (storage unreachable) is logged and left behind, never
a run whose file is gone while its row says it is there.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from jobport.errors import InputError
from jobport.store.prune import Chain, PrunableRun, Pruning, delete_groups
from jobport.store.section import utcnow

if TYPE_CHECKING:
    from jobport.files import FileStore
    from jobport.store import JobStore

log = logging.getLogger(__name__)

#: The supervisor prunes at most this often (seconds).
PRUNE_EVERY_SECONDS = 3600.0
#: The longest one sweep spends pruning; the rest goes on at the next sweep.
SWEEP_BUDGET_SECONDS = 5.0

_AGE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_age(text: str) -> timedelta:
    """An age as people type it: ``90d``, ``12h``, ``30m``, ``2w``, ``45s``."""
    match = _AGE.fullmatch(text)
    if match is None or float(match[1]) <= 0:
        raise InputError(
            f"'{text}' is not an age: give a positive number and a unit, as in 90d, 12h, "
            "30m, 2w or 45s"
        )
    return timedelta(seconds=float(match[1]) * _UNITS[match[2]])


@dataclass(frozen=True)
class PruneReport:
    """What a prune removed (a dry run: would remove)."""

    cutoff: datetime
    runs: int = 0
    failures: int = 0
    bytes: int = 0
    dry_run: bool = False
    #: False when the prune stopped at its time budget with runs left to remove.
    complete: bool = True
    #: Show the cutoff to the day (an age in days) rather than to the minute.
    by_day: bool = True

    def summary(self) -> str:
        """One line: "pruned 1,204 runs (38,110 failures, 2.1 GB of files) finished before ..."."""
        verb = "would prune" if self.dry_run else "pruned"
        when = f"{self.cutoff:%Y-%m-%d}" if self.by_day else f"{self.cutoff:%Y-%m-%d %H:%M} UTC"
        return (
            f"{verb} {self.runs:,} run{'s' * (self.runs != 1)} ({self.failures:,} "
            f"failure{'s' * (self.failures != 1)}, {size_text(self.bytes)} of files) "
            f"finished before {when}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff.isoformat(),
            "runs": self.runs,
            "failures": self.failures,
            "bytes": self.bytes,
            "dry_run": self.dry_run,
            "complete": self.complete,
        }


def size_text(amount: float) -> str:
    """Bytes in the unit that reads best (1 kB = 1,000 bytes, as the dashboard shows)."""
    for unit in ("bytes", "kB", "MB", "GB"):
        if amount < 1000:
            return f"{amount:,.0f} {unit}" if unit == "bytes" else f"{amount:,.1f} {unit}"
        amount /= 1000
    return f"{amount:,.1f} TB"


class Retention:
    """Removing runs finished before a cutoff, with their rows and files."""

    def __init__(self, store: JobStore, files: FileStore) -> None:
        self.pruning = Pruning(store.engine)
        self.files = files

    def prune(
        self,
        older_than: timedelta,
        *,
        type: str | None = None,
        dry_run: bool = False,
        now: datetime | None = None,
        deadline: float | None = None,
    ) -> PruneReport:
        """Remove (``dry_run``: count) the runs finished more than ``older_than`` ago.

        ``type`` limits it to one job type. ``deadline`` (a ``time.monotonic()``
        moment) stops it between two batches; the report then says it is not
        complete, and pruning again goes on where it stopped.
        """
        cutoff = (now or utcnow()) - older_than
        report = PruneReport(
            cutoff, dry_run=dry_run, by_day=older_than % timedelta(days=1) == timedelta(0)
        )
        for chains in self.pruning.prunable_chains(cutoff, type=type):
            for group in delete_groups(chains):
                if deadline is not None and time.monotonic() >= deadline:
                    return replace(report, complete=False)
                report = self._count(group, report) if dry_run else self._remove(group, report)
        return report

    def _count(self, group: list[Chain], report: PruneReport) -> PruneReport:
        runs = [run for chain in group for run in chain]
        return replace(
            report,
            runs=report.runs + len(runs),
            failures=report.failures + self.pruning.stored_failures([run.id for run in runs]),
            bytes=report.bytes + sum(self._size(key) for key in self._keys(runs)),
        )

    def _remove(self, group: list[Chain], report: PruneReport) -> PruneReport:
        runs = [run for chain in group for run in chain]
        cutoff = report.cutoff
        failures = self.pruning.delete_failures([run.id for run in runs], cutoff)
        deleted = set(self.pruning.delete_chains(group, cutoff))
        freed = sum(self._delete(key) for key in self._keys(r for r in runs if r.id in deleted))
        return replace(
            report,
            runs=report.runs + len(deleted),
            failures=report.failures + failures,
            bytes=report.bytes + freed,
        )

    def _keys(self, runs: Iterable[PrunableRun]) -> list[str]:
        """The storage keys the runs hold, each once (anything not shaped as our keys is not
        ours to delete)."""
        keys: dict[str, None] = {}
        for run in runs:
            for key in held_keys(run):
                try:
                    self.files.path(key)
                except InputError:
                    continue
                keys[key] = None
        return list(keys)

    def _size(self, key: str) -> int:
        try:
            return self.files.size(key) if self.files.exists(key) else 0
        except FileNotFoundError:
            return 0

    def _delete(self, key: str) -> int:
        """Delete a file, returning its size; one that cannot be deleted is logged and left."""
        try:
            size = self._size(key)
            self.files.delete(key)
        except Exception:
            log.warning("retention: could not delete %s; it is left behind", key, exc_info=True)
            return 0
        return size


def held_keys(run: PrunableRun) -> list[str]:
    """The files a run's row names: its source (the upload, or the copy planning made), its
    result, and the files its kind listed in its params (an export's parts and their
    metadata, a sync's seen keys, an XLSX import's shared strings)."""
    params: Mapping[str, Any] = run.params
    layout = params.get("layout")
    layout = layout if isinstance(layout, Mapping) else {}
    keys: list[Any] = [run.source_key, run.result_key, layout.get("strings")]
    keys.append(layout.get("strings_index"))
    for name in ("parts", "parts_meta", "seen"):
        listed = params.get(name)
        if isinstance(listed, list):
            keys += listed
    return [key for key in keys if isinstance(key, str) and key]


class _Hourly:
    """A cadence of the supervisor's sweep: due at most once per ``every`` seconds.

    By default it follows the monotonic clock (a wall clock set back does not
    stop it); a ``now`` given (a test's clock) drives both the cadence and the
    cutoffs its work computes from ``now``.
    """

    def __init__(self, every: float, now: Callable[[], datetime] | None) -> None:
        self.every = every
        #: The clock of the cadence (seconds) and the wall clock of the cutoff.
        self.clock: Callable[[], float] = time.monotonic
        self.now: Callable[[], datetime] = utcnow
        if now is not None:
            self.now = now
            self.clock = lambda: now().timestamp()
        self._next: float | None = None

    def _due(self) -> float | None:
        """The time of this tick if it is due (the next is then ``every`` later), else None."""
        started = self.clock()
        if self._next is not None and started < self._next:
            return None
        self._next = started + self.every
        return started


class PeriodicPrune(_Hourly):
    """The supervisor's retention: ``JOBPORT_RETENTION_DAYS``, at most once per ``every``.

    Each sweep of the supervisor calls :meth:`tick`; a prune that has more to
    remove than ``budget`` seconds allow goes on at the next sweep rather
    than an hour later, so recovery (the sweep's first job) never waits long.
    Several processes may prune at once: each deletion is checked under the
    run's lock, and deleting what is gone already is harmless.
    """

    def __init__(
        self,
        retention: Retention,
        days: float | None,
        *,
        every: float = PRUNE_EVERY_SECONDS,
        budget: float = SWEEP_BUDGET_SECONDS,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(every, now)
        self.retention = retention
        self.days = days
        self.budget = budget

    def tick(self) -> PruneReport | None:
        """Prune if retention is on and due; never raises (a failure is logged)."""
        if self.days is None or (started := self._due()) is None:
            return None
        try:
            report = self.retention.prune(
                timedelta(days=self.days),
                now=self.now(),
                deadline=time.monotonic() + self.budget,
            )
        except Exception:
            log.exception("retention: pruning failed; trying again in %.0f s", self.every)
            return None
        if not report.complete:
            self._next = started  # more to remove: go on at the next sweep
        if report.runs:
            log.info("retention: %s", report.summary())
        return report


class PeriodicUndoPrune(_Hourly):
    """The supervisor's forgetting of expired undo logs (``JOBPORT_UNDO_DAYS``), hourly.

    An undo log is kept only while its run can still be undone; after that it
    is only space (it holds an image of every row the run changed). Unlike
    run retention this is always on: ``undo_days`` has a default.
    """

    def __init__(
        self,
        store: JobStore,
        days: float,
        *,
        every: float = PRUNE_EVERY_SECONDS,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(every, now)
        self.store = store
        self.days = days

    def tick(self) -> int | None:
        """Forget the expired logs if due; returns the records removed; never raises."""
        if self._due() is None:
            return None
        try:
            removed = self.store.prune_undo_logs(self.now() - timedelta(days=self.days))
        except Exception:
            log.exception("undo logs: pruning failed; trying again in %.0f s", self.every)
            return None
        if removed:
            log.info("undo logs: forgot %d record(s) of runs past their undo window", removed)
        return removed
