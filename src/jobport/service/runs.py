"""Runs once started: reading them, cancelling, retrying and resuming them, schedules,
and what the local operator (the CLI) does with the runs of its own process.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from jobport.audit import Action, entry
from jobport.dispatch import dispatcher_id
from jobport.errors import InputError, RunNotFound, RunStateError
from jobport.lifecycle import RunStatus
from jobport.principal import Principal
from jobport.service.base import ServiceCore
from jobport.store import RunFilter, RunRecord

if TYPE_CHECKING:
    from jobport.schedules.book import ScheduleBook
    from jobport.store.jobstore import RunStats

#: How many runs an ambiguous short id lists.
SHOWN_CANDIDATES = 5

#: How often a command waiting for a start that waits for a slot of its type tries it.
WAITING_POLL_SECONDS = 0.5


class RunUses(ServiceCore):
    """Reading and controlling the runs one may see, and the schedules that start them."""

    def history(
        self, who: Principal, filters: RunFilter, *, limit: int, offset: int = 0
    ) -> tuple[list[RunRecord], int]:
        """Runs newest first; a non-admin sees their own whatever the filter says."""
        if not who.is_admin:
            filters = RunFilter(**{**filters.__dict__, "owner": who.name})
        return self.store.list_runs(filters, limit=limit, offset=offset)

    def failures(
        self, who: Principal, run_id: str, *, limit: int, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        run = self.run(who, run_id)
        return self.store.list_failures(run.id, limit=limit, offset=offset)

    def error_report(self, who: Principal, run_id: str) -> Iterator[list[str]]:
        """The error report's rows (header first), cells neutralised as exports are."""
        from jobport.reports import report_rows  # loaded by a download, not by every command

        run = self.run(who, run_id)
        self.store.record_audit(entry(who, Action.DOWNLOADED, run.id, file="error report"))
        return report_rows(self.store, run)

    def error_report_delimiter(self, run: RunRecord) -> str:
        """The error report's delimiter: a CSV file's own, else a comma."""
        from jobport.reports import report_delimiter

        return report_delimiter(run)

    def error_report_name(self, run: RunRecord) -> str:
        """The file name an error report is downloaded under."""
        return f"{run.type}-{run.id[:8]}-failures.csv"

    def chunks(self, who: Principal, run_id: str) -> list[dict[str, Any]]:
        """The chunks of a run ``who`` may see, in order: status, rows, attempts, errors."""
        return self.store.chunks(self.run(who, run_id).id)

    def active_runs(self, who: Principal) -> list[RunRecord]:
        """The runs not finished yet that ``who`` may see, newest first."""
        runs = [run for run in self.store.active_runs() if who.can_see(run.owner)]
        runs.reverse()
        return runs

    def run_stats(self, who: Principal, *, since: datetime, until: datetime) -> RunStats:
        """Volume, outcomes, durations and speeds of the runs ``who`` may see, created in
        ``[since, until)``: every run for an admin, their own for anyone else."""
        owner = None if who.is_admin else who.name
        return self.store.run_stats(owner=owner, since=since, until=until)

    def cancel(self, who: Principal, run_id: str) -> RunRecord:
        run = self.run(who, run_id)
        if run.params.get("waiting") and self.engine.dispatcher.gate.forget_waiting(run.id):
            if run.source_key:
                self.discard_upload(run.source_key)
            # A start still waiting for a slot has no run row: nothing to audit it against.
            return replace(run, status=RunStatus.CANCELLED, finished_at=datetime.now(UTC))
        cancelled = self.engine.supervisor.cancel(run.id)
        self.store.record_audit(entry(who, Action.CANCELLED, run.id))
        return cancelled

    def retry(self, who: Principal, run_id: str) -> RunRecord:
        run = self.engine.supervisor.retry(self.run(who, run_id).id)
        self.store.record_audit(entry(who, Action.RETRIED, run.id))
        return run

    def resume(self, who: Principal, run_id: str) -> RunRecord:
        run = self.engine.supervisor.resume(self.run(who, run_id).id)
        self.store.record_audit(entry(who, Action.RESUMED, run.id))
        return run

    # -- the local operator's (CLI) ---------------------------------------------------------

    def run_id(self, who: Principal, given: str) -> str:
        """The full id of the run ``given`` names: its id or a unique start of it (a short id).

        Ambiguous starts list a few of the ids they match (bounded), so the user
        knows how much more to type.
        """
        if self.store.find_run(given) is not None or self._waiting(given) is not None:
            return self.run(who, given).id
        found = self.store.run_ids_starting_with(given, limit=SHOWN_CANDIDATES + 1) if given else []
        found = [run_id for run_id in found if who.can_see(self.store.get_run(run_id).owner)]
        if not found:
            raise RunNotFound(given)
        if len(found) == 1:
            return found[0]
        listed_ids = ", ".join(found[:SHOWN_CANDIDATES])
        more = ", ..." if len(found) > SHOWN_CANDIDATES else ""
        raise InputError(
            f"'{given}' starts the ids of several runs ({listed_ids}{more}): give more of it"
        )

    def wait(
        self,
        who: Principal,
        run_id: str,
        *,
        on_update: Callable[[RunRecord], None] | None = None,
    ) -> RunRecord:
        """Block until the run ends, reporting each change of its counters.

        A start waiting for a slot of its type is started from here when one is free
        (as the supervisor of a long-lived process would), then waited for.
        """
        run = self.run(who, run_id)
        while run.params.get("waiting"):
            if not self.engine.supervisor.scheduler.start_waiting([run.type]):
                time.sleep(WAITING_POLL_SECONDS)
            run = self.run(who, run_id)
        return self.engine.wait(run.id, on_update=on_update)

    def own_active_runs(self) -> list[RunRecord]:
        """The unfinished runs this process dispatched (what an interrupt stops)."""
        me = dispatcher_id()
        return [run for run in self.store.active_runs() if run.dispatcher == me]

    def stop_own_runs(self) -> list[RunRecord]:
        """After Ctrl-C or SIGTERM: stop this process's runs at once, leaving them resumable.

        The worker processes are ended rather than waited for, the chunks they held
        are put back without counting an attempt (the user stopped them, not their
        input), and each run is cancelled: ``jobport resume`` continues it from its
        unfinished chunks, and nothing is left ``running`` with no process behind it.
        """
        self.engine.stop_sweeper()
        self.engine.dispatcher.stop_here()
        self.engine.executor.terminate()
        self.store.lose_leases({dispatcher_id(): None})
        stopped = []
        for run in self.own_active_runs():
            try:
                stopped.append(self.engine.supervisor.cancel(run.id))
            except RunStateError:
                continue  # it ended meanwhile
        return stopped

    @functools.cached_property
    def schedules(self) -> ScheduleBook:
        """Adding, listing, pausing, resuming and removing schedules (their rules are
        :class:`~jobport.schedules.book.ScheduleBook`'s: whoever may start a type may
        schedule it; a non-admin sees and changes their own schedules only). Imported here:
        a command over runs needs no schedules."""
        from jobport.schedules.book import ScheduleBook

        scheduler = self.engine.supervisor.scheduler
        return ScheduleBook(
            dispatcher=self.engine.dispatcher,
            registry=self.registry,
            store=scheduler.store,
            clock=scheduler.clock,
        )
