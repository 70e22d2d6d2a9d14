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
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobport.errors import JobportError, LeaseLost
from jobport.events import EventBus, JobEvent
from jobport.kinds import ChunkTask, kind_for
from jobport.lifecycle import publishes
from jobport.store import Claim, CommitConflict, JobStore, NotYourTurn, Refused

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from jobport.files import FileStore
    from jobport.registry import JobRegistry, JobType

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
    with Heartbeat(ctx.store, claim, ctx.lease_seconds) as heartbeat:
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
                event = _commit(ctx, claim, outcome, in_order=kind.in_order, heartbeat=heartbeat)
                del outcome  # its rows go before the collector is back
        except _YieldTurn as turn:
            return ChunkResult(retry_in=turn.delay, detail="waiting for an earlier chunk")
        except LeaseLost as exc:
            log.warning("%s", exc)
            return ChunkResult(detail="lease lost")
        except Exception as exc:
            if not isinstance(exc, JobportError):
                log.exception("chunk %s of run %s raised", no, run_id)
            delay, event = ctx.store.fail_attempt(
                claim, _describe(exc), backoff_seconds=ctx.backoff_seconds
            )
            ctx.publish(event, run.strategy)
            return ChunkResult(retry_in=delay, detail=_describe(exc))
    if event is not None and event.name == "JobCompleted":
        _finish_run(ctx, kind, job_type, run_id, no, claim.spec)
    ctx.publish(event, run.strategy)
    return ChunkResult()


def _finish_run(
    ctx: WorkerContext, kind: object, job_type: JobType, run_id: str, no: int, spec: dict[str, Any]
) -> None:
    """The kind's last step (assembling an export's file), once, after the completing commit.

    It runs before the JobCompleted event is published, so listeners see the result.
    """
    finish = getattr(kind, "finish", None)
    if finish is None:
        return
    task = ChunkTask(
        job_type=job_type,
        run=ctx.store.get_run(run_id),
        no=no,
        spec=spec,
        files=ctx.files,
        database=ctx.database,
    )
    try:
        finish(task)
    except Exception:
        log.exception("the last step of run %s failed", run_id)


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
    ctx: WorkerContext, claim: Claim, outcome: object, *, in_order: bool, heartbeat: Heartbeat
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
            return ctx.store.commit_chunk(claim, outcome, in_order=in_order)
        except CommitConflict as conflict:
            log.info("%s; committing again", conflict)
            continue
        except NotYourTurn as turn:
            delay: float | None = None
            if turn.status == "running":
                pending_since = None
            elif turn.status == "pending" and turn.retry_in:
                delay = turn.retry_in + TURN_RETRY_SECONDS
            elif turn.status == "pending":
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


def _describe(exc: BaseException) -> str:
    if isinstance(exc, JobportError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


class Heartbeat:
    """Renews a chunk's lease in the background while the chunk is being worked on."""

    def __init__(self, store: JobStore, claim: Claim, lease_seconds: float) -> None:
        self._store = store
        self._claim = claim
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
                if not self._store.renew_lease(self._claim, self._lease):
                    self.lost = True
                    return
            except Exception:
                log.exception("could not renew the lease of chunk %s", self._claim.no)
