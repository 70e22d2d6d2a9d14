"""The one generic chunk job: claim, run the kind's chunk, commit, publish.

Any executor (inline, a process pool, Celery) delivers "chunk n of run r"
to :func:`run_chunk`; everything that makes the result correct under
crashes and repeated deliveries happens here and in the store.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from jobport import metrics
from jobport.errors import JobportError, LeaseLost
from jobport.events import EventBus, JobEvent
from jobport.kinds import ChunkTask, kind_for
from jobport.lifecycle import ChunkStatus, publishes
from jobport.store import Claim, CommitConflict, JobStore, NotYourTurn, Refused, RunResult

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from jobport.files import FileStore
    from jobport.registry import JobRegistry

log = logging.getLogger(__name__)

#: How long an in-order commit waits for a previous chunk that is pending and due
#: (its claim may be under way) before giving its own chunk back. Short: a worker
#: waiting here may be the one the previous chunk needs.
TURN_PATIENCE_SECONDS = 0.1
#: How long after an earlier chunk's backoff ends a chunk waiting for it comes back,
#: so that the earlier chunk is delivered first.
TURN_RETRY_SECONDS = 0.05
#: The longest a chunk given back again and again to wait for an earlier chunk that
#: nobody holds stays away: well under the redelivery deadline (redeliver_seconds),
#: after which the sweeper sends the earlier chunk again if its delivery was lost.
MAX_TURN_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class ChunkResult:
    """What the executor should do next with this delivery."""

    #: Deliver the same chunk again after this many seconds (None: nothing more to do).
    retry_in: float | None = None
    detail: str = ""
    #: The chunk gave its turn to an earlier one of its run: an executor that sees that
    #: earlier chunk commit may deliver it again at once instead of waiting ``retry_in``.
    yielded: bool = False


@dataclass
class WorkerContext:
    store: JobStore
    files: FileStore
    registry: JobRegistry
    bus: EventBus
    database: Engine
    owner: str
    lease_seconds: float = 30.0
    backoff_seconds: float = 1.0
    #: Most failures a run stores unless its type says otherwise (the rest are counted).
    max_stored_failures: int | None = None

    def publish(self, event: JobEvent | None, strategy: str) -> None:
        if event is not None and publishes(strategy, event.name):
            self.bus.publish(event)


def run_chunk(ctx: WorkerContext, run_id: str, no: int) -> ChunkResult:
    """Deliver chunk ``no`` of run ``run_id`` once; safe to call any number of times.

    The claim refuses a chunk that is not pending (done, running elsewhere,
    cancelled) or whose run stopped, so a cancelled run starts no new chunk. A
    chunk running when its run is cancelled or fails is not committed: the
    commit sets it aside (its rows are never written) and the chunk is the
    unit, so "stop at the next batch boundary" means at the end of the chunk.
    """
    claim = ctx.store.claim_chunk(run_id, no, ctx.owner, ctx.lease_seconds)
    if isinstance(claim, Refused):
        return ChunkResult(retry_in=claim.retry_in, detail=claim.reason)
    run = claim.run if claim.run is not None else ctx.store.get_run(run_id)
    started = time.perf_counter()
    renew = partial(ctx.store.renew_lease, claim, ctx.lease_seconds)
    with Heartbeat(renew, ctx.lease_seconds) as heartbeat:
        try:
            job_type = ctx.registry.get(run.type)
            kind = kind_for(run.kind)
            if kind.in_order and claim.backoff_before is not None:
                # An earlier chunk is backing off after a failure: our commit would have
                # to wait for it, so neither spend the work nor hold a worker now.
                ctx.store.release_chunk(claim)
                raise _YieldTurn(claim.backoff_before[1] + TURN_RETRY_SECONDS)
            if kind.in_order and claim.handed_back and claim.idle_before is not None:
                # Given back before, and the earlier chunk is still not taken: its delivery
                # may be lost (the sweeper sends it again). Wait longer, without the work.
                ctx.store.release_chunk(claim)
                raise _YieldTurn(turn_wait(claim.handed_back))
            with gc_paused():
                outcome = kind.run_chunk(
                    ChunkTask(
                        job_type=job_type,
                        run=run,
                        no=no,
                        spec=claim.spec,
                        files=ctx.files,
                        database=ctx.database,
                    )
                )
                event = _commit(
                    ctx,
                    claim,
                    outcome,
                    in_order=kind.in_order,
                    then_finish=kind.finishes,
                    heartbeat=heartbeat,
                    max_stored_failures=_first(
                        job_type.max_stored_failures, ctx.max_stored_failures
                    ),
                )
                processed, failed = outcome.processed, outcome.failed
                del outcome  # its rows go before the collector is back
        except _YieldTurn as turn:
            return ChunkResult(
                retry_in=turn.delay, detail="waiting for an earlier chunk", yielded=True
            )
        except LeaseLost as exc:
            log.warning("%s", exc)
            metrics.chunk_attempt(run.type, metrics.LEASE_LOST, time.perf_counter() - started)
            return ChunkResult(detail="lease lost")
        except Exception as exc:
            if not isinstance(exc, JobportError):
                log.exception("chunk %s of run %s raised", no, run_id)
            delay, event = ctx.store.fail_attempt(
                claim, _describe(exc), backoff_seconds=ctx.backoff_seconds
            )
            ctx.publish(event, run.strategy)
            metrics.chunk_attempt(run.type, metrics.FAILED, time.perf_counter() - started)
            return ChunkResult(retry_in=delay, detail=_describe(exc))
    outcome_name = metrics.DONE if event is not None else metrics.SET_ASIDE
    seconds = time.perf_counter() - started
    metrics.chunk_attempt(run.type, outcome_name, seconds, processed=processed, failed=failed)
    ctx.publish(event, run.strategy)
    if event is not None and kind.finishes:
        finish_run(ctx, run_id)
    return ChunkResult()


def finish_run(ctx: WorkerContext, run_id: str) -> JobEvent | None:
    """Run the kind's last step once every chunk is done, and complete the run with its result.

    Called after each commit of a kind with a last step (only the commit of
    the last chunk finds the step to take) and by recovery for runs whose
    finishing worker died (:func:`finish_stalled`). The step is leased, so
    one worker runs it at a time; it must be idempotent, as a worker may die
    in it. The run becomes completed with its result and its JobCompleted
    event in one transaction; files the step left for later go after that. A
    step that raises fails the run (JobFailed) with its error.
    """
    run = ctx.store.claim_finish(run_id, ctx.lease_seconds)
    if run is None:
        return None
    job_type = ctx.registry.get(run.type)
    kind = kind_for(run.kind)
    task = ChunkTask(
        job_type=job_type,
        run=run,
        no=max(run.chunks_total - 1, 0),
        spec={},
        files=ctx.files,
        database=ctx.database,
    )
    with Heartbeat(lambda: ctx.store.renew_finish(run_id, ctx.lease_seconds), ctx.lease_seconds):
        try:
            result = kind.finish(task) or RunResult("", {})
        except Exception as exc:
            # No file, no completion: the run fails with JobFailed (a resume runs the step
            # again), so no reader ever sees a completed export without its file.
            log.exception("the last step of run %s failed", run_id)
            event = ctx.store.fail_run(run_id, _describe(exc))
            ctx.publish(event, run.strategy)
            return event
    event = ctx.store.complete_run(run_id, result.key, result.result)
    # Completed: what the step kept for a second attempt goes. Not completed (another
    # worker did it, or the run stopped): this attempt's own file goes.
    unused = result.leftovers if event is not None else (result.key,) if result.key else ()
    for key in unused:
        _delete_quietly(ctx.files, key)
    ctx.publish(event, run.strategy)
    return event


def finish_stalled(ctx: WorkerContext, types: Collection[str] | None = None) -> int:
    """Finish the runs of ``types`` whose chunks are all done but which nobody finishes.

    The worker that committed such a run's last chunk died before completing
    it; recovery calls this on each sweep. Returns how many runs it ended (completed,
    or failed by their last step).
    """
    done = 0
    for run_id in ctx.store.unfinished_runs(types=types):
        if finish_run(ctx, run_id) is not None:
            done += 1
    return done


def _delete_quietly(files: FileStore, key: str) -> None:
    try:
        files.delete(key)
    except Exception:
        log.warning("could not delete %s; it is left behind", key, exc_info=True)


def turn_wait(handed_back: int) -> float:
    """How long a chunk waiting for an earlier one that nobody holds stays away this time.

    The first time it comes back at once: the earlier chunk's delivery is most
    likely just ahead of it. After that the wait doubles up to
    :data:`MAX_TURN_WAIT_SECONDS`, so a chunk whose earlier one's delivery was
    lost is not claimed and given back without end while the sweeper notices.
    """
    if handed_back <= 0:
        return 0.0
    return min(TURN_RETRY_SECONDS * 2.0 ** min(handed_back - 1, 16), MAX_TURN_WAIT_SECONDS)


class _YieldTurn(Exception):
    def __init__(self, delay: float) -> None:
        self.delay = delay


def _commit(
    ctx: WorkerContext,
    claim: Claim,
    outcome: object,
    *,
    in_order: bool,
    heartbeat: Heartbeat,
    then_finish: bool = False,
    max_stored_failures: int | None = None,
) -> JobEvent | None:
    """Commit, waiting for the previous chunk when commits must keep file order.

    A worker waits only for a previous chunk that another worker is running:
    that wait ends when it commits, fails, or its worker is found dead (its
    lease runs out and the sweeper puts it back). A previous chunk that nobody
    is running (backing off after a failure, or still queued) may need this
    very worker, and a pool whose every worker waits for such a chunk would
    never move again; so then the chunk is given back unprocessed (no attempt
    counted) and asks to be delivered again once the previous one can be done,
    later each time it is given back again (see :func:`turn_wait`). A commit
    the database failed to break a lock cycle with another one wrote nothing
    and is simply made again.
    """
    from jobport.store import ChunkOutcome

    assert isinstance(outcome, ChunkOutcome)
    pending_since: float | None = None
    pause = 0.005
    while True:
        if heartbeat.lost:
            raise LeaseLost(f"chunk {claim.no} of run {claim.run_id}: lease taken over")
        try:
            return ctx.store.commit_chunk(
                claim,
                outcome,
                in_order=in_order,
                then_finish=then_finish,
                max_stored_failures=max_stored_failures,
            )
        except CommitConflict as conflict:
            log.info("%s; committing again", conflict)
            continue
        except NotYourTurn as turn:
            delay: float | None = None
            if turn.status == ChunkStatus.RUNNING:
                pending_since = None
            elif turn.status == ChunkStatus.PENDING and turn.retry_in:
                delay = turn.retry_in + TURN_RETRY_SECONDS
            elif turn.status == ChunkStatus.PENDING:
                # Due but nobody holds it: come back soon; executors deliver the lowest
                # chunk first, so it goes before us (unless its delivery was lost).
                now = time.monotonic()
                pending_since = pending_since if pending_since is not None else now
                if now - pending_since > TURN_PATIENCE_SECONDS:
                    delay = turn_wait(claim.handed_back)
            else:
                delay = 0.0
            if delay is not None:
                # Given back due at once: only a failed attempt makes a chunk back off,
                # so a backoff seen on a chunk always means a failure to wait for.
                ctx.store.release_chunk(claim)
                raise _YieldTurn(delay) from None
            time.sleep(pause)
            pause = min(pause * 2, 0.01)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cycle collector while a chunk builds and commits its rows.

    A chunk allocates many small containers that all stay alive until it ends;
    the collector would keep re-scanning them for nothing (a third of the read
    time), and, back on before the commit, would scan them all again while the
    driver formats them. Memory stays bounded by the chunk size; cycles are
    collected after.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _first(*values: int | None) -> int | None:
    return next((value for value in values if value is not None), None)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, JobportError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


class Heartbeat:
    """Renews a lease in the background (a chunk's, or a run's last step) while it is worked on.

    ``renew`` returns False when the lease was taken away: ``lost`` then says so.
    """

    def __init__(self, renew: Callable[[], bool], lease_seconds: float) -> None:
        self._renew = renew
        self._lease = lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="jobport-heartbeat", daemon=True)
        self.lost = False

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._lease / 3):
            try:
                if not self._renew():
                    self.lost = True
                    return
            except Exception:
                log.exception("could not renew a lease")
