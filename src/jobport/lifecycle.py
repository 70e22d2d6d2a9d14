"""The run lifecycle in one place: statuses, transitions, progress and which event when.

Everything here is pure: the store reads a run's row under its lock, asks
these functions what the row becomes, and writes the answer in the same
transaction. Keeping the rules out of the SQL means each is written (and
tested) once, whichever path applies it: a commit, a failed attempt, a lost
lease, a cancel, a resume.

The enums are :class:`~enum.StrEnum`, so the strings stored in the state
tables and shown by every face stay exactly what they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from jobport.errors import shown
from jobport.events import TERMINAL_EVENTS, EventName


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        """Whether chunks may still start and commit."""
        return self in ACTIVE_STATUSES

    @property
    def finished(self) -> bool:
        return self in FINAL_STATUSES


class ChunkStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: A run that may still change: chunks are claimed and committed.
ACTIVE_STATUSES: tuple[RunStatus, ...] = (RunStatus.QUEUED, RunStatus.RUNNING)
#: A run that went all the way: its rows (or its file) are there.
COMPLETED_STATUSES: tuple[RunStatus, ...] = (
    RunStatus.COMPLETED,
    RunStatus.COMPLETED_WITH_ERRORS,
)
FINAL_STATUSES: tuple[RunStatus, ...] = (
    *COMPLETED_STATUSES,
    RunStatus.FAILED,
    RunStatus.CANCELLED,
)


def is_active(status: str) -> bool:
    return status in ACTIVE_STATUSES


# -- transitions --------------------------------------------------------------------------------


def status_at_creation(*, error: str | None, chunks: int) -> RunStatus:
    """A refused file fails the run at once; a run with nothing to do is already complete."""
    if error:
        return RunStatus.FAILED
    return RunStatus.QUEUED if chunks else RunStatus.COMPLETED


def status_when_claimed(status: str) -> RunStatus:
    """The first claim of a queued run starts it; later claims leave it running."""
    return RunStatus.RUNNING if status == RunStatus.QUEUED else RunStatus(status)


def status_when_done(failed_rows: int, processed_rows: int | None = None) -> RunStatus:
    """What a run whose every chunk is done (and finished, if its kind has a last step) reads.

    A run that rejected every row it read did nothing it was asked to: it
    failed, however well its chunks ran (:func:`every_row_failed` says why).
    """
    if processed_rows and failed_rows >= processed_rows:
        return RunStatus.FAILED
    return RunStatus.COMPLETED_WITH_ERRORS if failed_rows else RunStatus.COMPLETED


def every_row_failed(failed_rows: int, *, dry_run: bool = False) -> str:
    """The error of a run whose every row was rejected."""
    written = "nothing would be written (dry run)" if dry_run else "nothing was written"
    return f"every row failed ({failed_rows:,} of {failed_rows:,}); {written}"


def status_when_reopened(*, started: bool) -> RunStatus:
    """A stopped run resumed or retried: running again if it ever ran, else queued."""
    return RunStatus.RUNNING if started else RunStatus.QUEUED


def set_aside(run_status: str) -> ChunkStatus:
    """Where a chunk goes when its run stopped under it: cancelled with it, or back to
    pending (a failed run can be resumed, and the chunk is then still to do)."""
    return ChunkStatus.CANCELLED if run_status == RunStatus.CANCELLED else ChunkStatus.PENDING


def out_of_attempts(errors: int, max_attempts: int) -> bool:
    """Whether a chunk with ``errors`` failed attempts fails for good (and its run with it)."""
    return errors >= max_attempts


def retry_delay(backoff_seconds: float, errors: int) -> float:
    """How long a chunk backs off after its ``errors``-th failed attempt (doubling)."""
    return backoff_seconds * 2.0 ** (errors - 1)


def failed_after_attempts(no: int, errors: int, error: str) -> str:
    """The run's error when chunk ``no`` ran out of attempts."""
    return f"chunk {no} failed after {errors} attempt(s): {error}"


def reopened_chunks(*, only_failed: bool) -> tuple[ChunkStatus, ...]:
    """Which chunks a retry (failed ones) or a resume (every one not done) makes pending."""
    if only_failed:
        return (ChunkStatus.FAILED,)
    return (ChunkStatus.FAILED, ChunkStatus.CANCELLED)


CANCELLED_BY_USER = "cancelled by user"


# -- error thresholds ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FailureLimits:
    """When a run has rejected too many rows to go on (a type's defaults, a run's own).

    Checked at each chunk commit against the run's totals so far, this chunk's
    included: past either limit no new chunk starts, and the chunks committed
    so far stay.
    """

    #: Stop once more rows than this have failed.
    max_failures: int | None = None
    #: Stop once the failed rows are more than this share of the rows read so far.
    max_failure_ratio: float | None = None

    def exceeded(self, failed: int, processed: int) -> str | None:
        """What was passed ("1,203 failures (max 1,000)"), or None while within both limits."""
        failures = f"{failed:,} failure{'s' if failed != 1 else ''}"
        if self.max_failures is not None and failed > self.max_failures:
            return f"{failures} (max {self.max_failures:,})"
        ratio = self.max_failure_ratio
        if ratio is not None and processed and failed / processed > ratio:
            return f"{failures} in {processed:,} rows ({failed / processed:.1%}, max {ratio:.1%})"
        return None


def stopped_by_failures(
    exceeded: str, committed: Sequence[int], rows: int, *, dry_run: bool = False
) -> str:
    """The error of a run stopped by a threshold: what passed it, and what stays committed.

    ``committed`` are the numbers of the chunks done (this one included) and
    ``rows`` the rows they read: "stopped after 1,203 failures (max 1,000);
    chunks 0-3 (80,000 rows) were committed".
    """
    if dry_run:
        checked = _chunks_were(committed, rows, "checked")
        return f"stopped after {exceeded}; {checked}; nothing was written"
    return f"stopped after {exceeded}; {_chunks_were(committed, rows, 'committed')}"


def _chunks_were(committed: Sequence[int], rows: int, done: str) -> str:
    """``chunks 0-3 (80,000 rows) were committed``, ``chunk 0 (4 rows) was checked``."""
    one = len(committed) == 1
    chunks = f"chunk{'' if one else 's'} {number_ranges(committed)} ({rows:,} rows)"
    return f"{chunks} {'was' if one else 'were'} {done}"


#: How many of a withheld chunk's rejected rows its run's error quotes.
FIRST_SHOWN = 3


def withheld_by_failures(
    exceeded: str,
    rows: int,
    committed: Sequence[int],
    committed_rows: int,
    first: Sequence[tuple[int | None, str]],
) -> str:
    """The error of a run stopped before a chunk that passed its thresholds.

    "stopped after 429 failures (max 10); the chunk that passed it (20,000 rows)
    was not written and nothing was committed; its first rejected rows: line 12:
    email: ...; a dry run lists them all". ``first`` are the chunk's first failures
    (line, message), each cut short: its failures are not kept, as nothing of it is.
    """
    kept = (
        _chunks_were(committed, committed_rows, "committed")
        if committed
        else "nothing was committed"
    )
    quoted = "; ".join(
        f"line {line}: {shown(message, 200)}" if line else shown(message, 200)
        for line, message in first
    )
    return (
        f"stopped after {exceeded}; the chunk that passed it ({rows:,} rows) was not written "
        f"and {kept}; its first rejected rows: {quoted}; a dry run lists them all"
    )


def number_ranges(numbers: Sequence[int]) -> str:
    """Sorted numbers as ranges: [0, 1, 2, 3, 5] -> "0-3, 5"."""
    spans: list[list[int]] = []
    for no in sorted(numbers):
        if spans and no == spans[-1][1] + 1:
            spans[-1][1] = no
        else:
            spans.append([no, no])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in spans)


# -- progress -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """A run's counters after a commit: rows so far (capped at the total), speed, time left."""

    processed: int
    rows_per_second: float
    eta_seconds: float | None
    #: The total, known once every chunk is done even when planning could not count rows.
    total: int | None


def rate(processed: int, started: datetime, now: datetime) -> float:
    """Rows per second since the run started (a run that just started took a microsecond)."""
    elapsed = max((now - started).total_seconds(), 1e-6)
    return processed / elapsed


def eta(total: int | None, processed: int, rows_per_second: float) -> float | None:
    """Seconds left at the current speed; None while the total or the speed is unknown."""
    if total is None or rows_per_second <= 0:
        return None
    return max(total - processed, 0) / rows_per_second


def percent(processed: int, total: int | None) -> float | None:
    """How far a run got, from 0 to 100; None while its total is unknown."""
    if total is None:
        return None
    if total <= 0:
        return 100.0
    return min(100.0 * max(processed, 0) / total, 100.0)


def progress_after_commit(
    *, processed: int, total: int | None, started: datetime, now: datetime, all_done: bool
) -> Progress:
    """The counters a commit writes, from the run's rows so far (this chunk's included).

    Rows never pass the planned total (a file that grew after planning), and
    a run whose every chunk is done has no time left; one planned without a
    total learns it then.
    """
    speed = rate(processed, started, now)
    if total is not None:
        processed = min(processed, total)
    if all_done:
        return Progress(processed, speed, 0.0, processed if total is None else total)
    return Progress(processed, speed, eta(total, processed, speed), total)


# -- events -------------------------------------------------------------------------------------

JOB_PROGRESSED: EventName = "JobProgressed"
JOB_COMPLETED: EventName = "JobCompleted"
JOB_FAILED: EventName = "JobFailed"


def event_at_creation(status: RunStatus) -> EventName:
    """The event of a run that ended as it was created (refused, or nothing to do)."""
    return JOB_FAILED if status == RunStatus.FAILED else JOB_COMPLETED


def event_after_commit(status: str) -> EventName:
    """A commit that completed the run says so, one that failed it (a threshold passed,
    every row rejected) too; any other commit is progress."""
    if status == RunStatus.FAILED:
        return JOB_FAILED
    return JOB_COMPLETED if status in COMPLETED_STATUSES else JOB_PROGRESSED


def final_event(status: str) -> EventName:
    """The event that ended a finished run: JobCompleted for a completed one, JobFailed
    for a failed or cancelled one (a cancel ends the run without completing it)."""
    return JOB_COMPLETED if status in COMPLETED_STATUSES else JOB_FAILED


def is_final_event(event_name: str) -> bool:
    """Whether an event ends its run: nothing of the run follows it."""
    return event_name in TERMINAL_EVENTS


def publishes(strategy: str, event_name: str) -> bool:
    """Whether an event of a run with this progress ``strategy`` goes to listeners.

    Strategy ``none`` publishes only the event that ends the run.
    """
    return strategy != "none" or event_name in TERMINAL_EVENTS


def recorded(*, broadcast: bool, strategy: str, event_name: str) -> bool:
    """Whether an event is kept in the outbox for other processes to stream.

    Types with ``broadcast`` off keep their events in-process.
    """
    return broadcast and publishes(strategy, event_name)
