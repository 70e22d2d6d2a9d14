"""The one supervisor: takes back what dead workers held, delivers lost chunks, gives up.

The store is the source of truth for a run, so recovery is a matter of
reading it: a chunk whose lease ran out lost its worker; a pending chunk
nobody claimed lost its delivery; a run whose dispatching process died on
this host has nobody left to deliver it. :class:`Supervisor` finds each and
acts, in one place, for every long-lived process: ``jobport serve``, the
parent of the local pool and the main process of a Celery worker each run
exactly one sweeper thread, every :func:`sweep_interval` seconds
(``JOBPORT_SWEEP_SECONDS``).

The user's stop/continue actions live here too (cancel, resume, retry):
resuming a run first takes it over from a dead dispatcher, which is
recovery's business.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from jobport import metrics
from jobport.dispatch import Dispatcher, dispatcher_id
from jobport.executors.base import Recovered
from jobport.lifecycle import publishes
from jobport.store.section import utcnow
from jobport.worker import WorkerContext, finish_stalled

if TYPE_CHECKING:
    from jobport.events import EventBus, JobEvent
    from jobport.retention import PeriodicPrune, PeriodicUndoPrune
    from jobport.schedules.firing import Scheduler
    from jobport.settings import Settings
    from jobport.store import JobStore, RunRecord
    from jobport.store.jobstore import Reclaimed
    from jobport.webhooks.deliverer import Deliverer

log = logging.getLogger(__name__)

#: The shortest default sweep interval, however short the lease.
MIN_SWEEP_SECONDS = 0.5


def sweep_interval(settings: Settings) -> float:
    """How often the supervisor sweeps: ``sweep_seconds``, else half the shorter deadline.

    A lost worker's chunk waits for its lease to run out and a lost delivery
    for ``redeliver_seconds``; sweeping twice per the shorter of them acts on
    either within one and a half of it.
    """
    if settings.sweep_seconds:
        return settings.sweep_seconds
    deadline = min(settings.lease_seconds, settings.redeliver_seconds)
    return max(deadline / 2, MIN_SWEEP_SECONDS)


class Supervisor:
    """Recovery for the runs of a dispatcher's job types, delivered again through it.

    The dispatcher's executor is asked what it knows of lost deliveries
    (:class:`jobport.executors.Executor`'s hooks) and carries the deliveries
    made again, as it carries the first ones.

    ``clock`` (default: the wall clock) is the time its sweep's schedules,
    webhook deliveries and retention read, one clock for the three, so a test
    can run them through a simulated week.
    """

    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        bus: EventBus,
        settings: Settings,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.store: JobStore = dispatcher.store
        self.registry = dispatcher.registry
        self.bus = bus
        self.settings = settings
        self._sweeper: Sweeper | None = None
        self._lock = threading.Lock()
        self._clock = clock

    # The sweep's parts are built (and their modules imported) on first use: a command
    # that reads runs or starts one never sweeps, and would pay for them at start.

    @functools.cached_property
    def scheduler(self) -> Scheduler:
        """Fires the due schedules and the waiting starts at each sweep (jobport.schedules)."""
        from jobport.schedules.firing import Scheduler

        return Scheduler(
            dispatcher=self.dispatcher, settings=self.settings, clock=self._clock or utcnow
        )

    @functools.cached_property
    def webhooks(self) -> Deliverer:
        """Webhook deliveries: a thread of their own, started by the first sweep."""
        from jobport.webhooks.deliverer import Deliverer

        return Deliverer.of(self.store, self.settings, clock=self._clock or utcnow)

    @functools.cached_property
    def undo_logs(self) -> PeriodicUndoPrune:
        """JOBPORT_UNDO_DAYS: undo logs of runs past their undo window, forgotten hourly."""
        from jobport.retention import PeriodicUndoPrune

        return PeriodicUndoPrune(self.store, self.settings.undo_days, now=self._clock)

    @functools.cached_property
    def retention(self) -> PeriodicPrune:
        """JOBPORT_RETENTION_DAYS: old runs pruned by the sweep, at most once an hour."""
        from jobport.retention import PeriodicPrune, Retention

        return PeriodicPrune(
            Retention(self.store, self.dispatcher.files),
            self.settings.retention_days,
            now=self._clock,
        )

    # -- the user's actions -----------------------------------------------------------------

    def cancel(self, run_id: str) -> RunRecord:
        """Stop a run: no new chunk starts; committed rows stay and stay counted."""
        run, event = self.store.cancel_run(run_id)
        self._publish(event, run.strategy)
        return run

    def resume(self, run_id: str) -> RunRecord:
        """Continue a stopped or interrupted run from its unfinished chunks.

        A failed or cancelled run gets its failed and cancelled chunks back; an
        interrupted one (still ``running``, its process dead) gets the chunks that
        process held; one still going gets its pending chunks delivered again (a
        lost delivery stalls no run for long). Chunks already done are never run
        again. A completed run is refused.
        """
        return self._reopen(run_id, only_failed=False)

    def retry(self, run_id: str) -> RunRecord:
        """Run the failed chunks of a run again (and those its failure kept from starting).

        Chunks already done are never run again; rows that failed validation are
        not chunks that failed: correct them in the error report and import it
        with ``retry_of``.
        """
        return self._reopen(run_id, only_failed=True)

    def _reopen(self, run_id: str, *, only_failed: bool) -> RunRecord:
        self.take_over(run_id)
        chunks = self.store.reopen_chunks(run_id, only_failed=only_failed)
        self.store.adopt_run(run_id, dispatcher_id())
        self._deliver(run_id, chunks)
        return self.store.get_run(run_id)

    def take_over(self, run_id: str) -> None:
        """Before resuming a run: take back what a dead process held, and expired leases.

        A run whose dispatching process is alive is not refused: that process
        may only be waiting for it (a CLI whose chunks go to Celery workers), and
        delivering its pending chunks again is harmless (a claim takes a chunk
        once) where it is not needed, and what the run wants where it is.
        """
        run = self.store.get_run(run_id)
        dispatcher = None if run.finished else run.dispatcher
        if dispatcher and dispatcher != dispatcher_id() and process_state(dispatcher) == "dead":
            self.reclaim({dispatcher: died(dispatcher)})
        self.expire()

    # -- the sweep --------------------------------------------------------------------------

    def sweep(self) -> int:
        """Take back chunks whose lease expired and deliver them again; returns how many.

        Only runs of this process's job types are swept (it must be able to
        deliver them again). An executor that tracks its deliveries (the local
        pool) is handed the pending chunks of this process's runs, to make again
        those it is not making; with one that counts its backlog (Celery), the
        chunks whose delivery the broker lost are sent again
        (:meth:`redeliver_lost`). Nothing waits forever either way.
        """
        self.webhooks.ensure_running()
        self.scheduler.sweep()  # due schedules and waiting starts: never raises
        requeued, events = self.store.requeue_expired(types=self._types())
        metrics.leases_lost(len(requeued))
        for event in events:
            self.bus.publish(event)
        for run_id, no in requeued:
            self._deliver(run_id, [no])
        executor = self.dispatcher.executor
        if executor.tracks_deliveries:
            me = dispatcher_id()
            for run in self.store.active_runs():
                if run.dispatcher == me:
                    executor.pump(run.id, self.store.pending_chunks(run.id))
        recovered = len(requeued) + self.redeliver_lost() + self.finish_stalled()
        self.retention.tick()
        self.undo_logs.tick()
        return recovered

    def finish_stalled(self) -> int:
        """Complete the runs whose chunks are all done but whose finishing worker died.

        The finishing step is leased (like a chunk), so only runs nobody is
        finishing are taken; finishing twice is harmless (see
        :func:`jobport.worker.finish_run`). Returns how many runs it completed.
        """
        dispatcher = self.dispatcher
        context = WorkerContext(
            store=self.store,
            files=dispatcher.files,
            registry=self.registry,
            bus=self.bus,
            database=dispatcher.database,
            owner=f"{dispatcher_id()}:supervisor",
            lease_seconds=self.settings.lease_seconds,
        )
        return finish_stalled(context, self._types())

    def redeliver_lost(self) -> int:
        """Send again the chunks whose delivery through a broker was lost; returns how many.

        A broker loses deliveries out of the store's sight: a worker killed
        holding one it had not started (Redis hands it out again only after
        its visibility timeout), a broker restarted without persistence. A
        pending chunk no worker claimed within ``redeliver_seconds`` is sent
        again, unless deliveries still wait in its run's queue (it may be one
        of them). A queue that other runs keep busy may not empty for long, and
        a broker may not say: past ``redeliver_busy_seconds`` such a chunk is
        sent again too. Only executors that count their backlog take part. A
        repeated delivery is harmless: the claim takes a pending chunk once.
        """
        executor = self.dispatcher.executor
        if not executor.counts_backlog:
            return 0
        after = self.settings.redeliver_seconds
        busy_after = self.settings.redeliver_busy_seconds or 3 * after
        overdue = self.store.overdue_runs(after, types=self._types())
        backlog = {run_id: executor.backlog(run_id) for run_id in overdue}
        lost = [run_id for run_id, waiting in backlog.items() if waiting == 0]
        busy = [run_id for run_id, waiting in backlog.items() if waiting != 0]
        chunks = self.store.take_overdue(lost, after) + self.store.take_overdue(
            busy, after, overdue_for=max(busy_after - after, 0.0)
        )
        for run_id in dict.fromkeys(run_id for run_id, _ in chunks):
            numbers = [no for r, no in chunks if r == run_id]
            log.warning("chunk(s) %s of run %s were not delivered; sending again", numbers, run_id)
            self._deliver(run_id, numbers)
        return len(chunks)

    def expire(self) -> None:
        """Take back chunks whose lease expired, without delivering them."""
        requeued, events = self.store.requeue_expired()
        metrics.leases_lost(len(requeued))
        for event in events:
            self.bus.publish(event)

    # -- dead processes ---------------------------------------------------------------------

    def recover(self, *, starting: bool = False) -> list[str]:
        """Adopt the runs whose dispatching process on this host died, and deliver them.

        Long-lived embedded processes (server, demo) call it on start-up
        (``starting``: a run naming this very process id was dispatched by an
        earlier process that had it, as in a restarted container), so no run
        stays ``running`` forever after a crash or a reboot. The chunks the dead
        process and its workers held are taken back at once, each counted as a
        failed attempt (a chunk whose input kills the process must not loop),
        and every pending chunk is delivered again. Runs dispatched from another
        host are left to that host and to the sweeper; runs of job types this
        process does not know are left alone. Returns the ids of the adopted runs.
        """
        me = dispatcher_id()
        dead: dict[str, str | None] = {}
        adopted = []
        for run in self.store.active_runs():
            if run.type not in self.registry:
                continue
            if run.dispatcher is not None:
                state = "dead" if starting and run.dispatcher == me else None
                if (state or process_state(run.dispatcher)) != "dead":
                    continue
                dead[run.dispatcher] = died(run.dispatcher)
            adopted.append(run.id)
        self.reclaim(dead)
        self.expire()
        for run_id in adopted:
            if self.store.get_run(run_id).finished:
                continue  # a chunk the dead process held was out of attempts
            self.store.adopt_run(run_id, me)
            self._deliver(run_id, self.store.pending_chunks(run_id))
        return adopted

    def reclaim(self, owners: Mapping[str, str | None]) -> Reclaimed:
        """Take back at once the chunks of workers known to be dead (see ``lose_leases``)."""
        reclaimed = self.store.lose_leases(owners)
        metrics.leases_lost(len(reclaimed.requeued))
        for event in reclaimed.events:
            self.bus.publish(event)
        return reclaimed

    def lost_workers(
        self, owners: Mapping[str, str | None], deliveries: Collection[tuple[str, int]]
    ) -> Recovered:
        """A local pool lost its workers: take back their chunks.

        Returns what to deliver again: the chunks taken back and the lost
        deliveries, where the run still goes on and the chunk is still pending.
        """
        reclaimed = self.reclaim(owners)
        wanted = set(deliveries) | set(reclaimed.requeued)
        redeliver = []
        for run_id in sorted({run_id for run_id, _ in wanted}):
            run = self.store.find_run(run_id)
            if run is None or run.finished:
                continue
            pending = self.store.pending_chunks(run_id)
            redeliver += [(run_id, no) for no in pending if (run_id, no) in wanted]
        return Recovered(redeliver, reclaimed.charged)

    def give_up(self, run_ids: Sequence[str], reason: str) -> None:
        """These runs' chunks cannot be delivered: fail the runs, saying why."""
        for run_id in run_ids:
            event = self.store.fail_run(run_id, reason)
            if event is not None:
                self.bus.publish(event)

    # -- the sweeper thread -----------------------------------------------------------------

    def start(self, interval: float | None = None) -> Sweeper:
        """Run :meth:`sweep` every ``interval`` seconds on a thread until :meth:`stop`.

        The default interval is :func:`sweep_interval`. A process runs one:
        starting it again returns the running one, whatever interval is asked.
        """
        with self._lock:
            if self._sweeper is not None and self._sweeper.running:
                return self._sweeper
            self._sweeper = Sweeper(self.sweep, interval or sweep_interval(self.settings))
            self._sweeper.start()
            return self._sweeper

    @property
    def sweeping(self) -> bool:
        """Whether this supervisor's sweeper thread runs."""
        sweeper = self._sweeper
        return sweeper is not None and sweeper.running

    def stop(self) -> None:
        with self._lock:
            sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.stop()
        if "webhooks" in self.__dict__:  # built, so perhaps delivering: else nothing to stop
            self.webhooks.stop()

    # -- helpers ----------------------------------------------------------------------------

    def _types(self) -> list[str]:
        return [t.type for t in self.registry]

    def _deliver(self, run_id: str, chunks: Sequence[int]) -> None:
        self.dispatcher.resubmit(run_id, list(chunks))

    def _publish(self, event: JobEvent | None, strategy: str) -> None:
        if event is not None and publishes(strategy, event.name):
            self.bus.publish(event)


class Sweeper:
    """A daemon thread calling ``sweep`` every ``interval`` seconds until stopped."""

    def __init__(self, sweep: Callable[[], int], interval: float) -> None:
        self.interval = interval
        self._sweep = sweep
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="jobport-sweeper", daemon=True)

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = 30) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                requeued = self._sweep()
                if requeued:
                    log.warning("sent %d chunk(s) of lost workers or deliveries again", requeued)
            except Exception:
                log.exception("the sweeper failed; trying again in %.1f s", self.interval)


def process_state(dispatcher: str) -> str:
    """Whether the process ``host:pid`` is "alive" or "dead"; "unknown" on another host."""
    host, _, pid = dispatcher.partition(":")
    pid = pid.split("/", 1)[0]
    if host != dispatcher_id().split(":", 1)[0] or not pid.isdigit():
        return "unknown"
    return "alive" if _alive(int(pid)) else "dead"


def died(dispatcher: str) -> str:
    """The failed attempt recorded against a chunk its dead dispatching process held."""
    return f"the process running it ({dispatcher}) died"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
