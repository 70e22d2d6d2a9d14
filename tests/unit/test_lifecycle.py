"""The run lifecycle's pure rules: statuses, transitions, progress, which event when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobport import lifecycle
from jobport.lifecycle import ChunkStatus, RunStatus

START = datetime(2024, 1, 1, tzinfo=UTC)


def test_statuses_keep_their_stored_strings() -> None:
    assert [str(s) for s in RunStatus] == [
        "queued",
        "running",
        "completed",
        "completed_with_errors",
        "failed",
        "cancelled",
    ]
    assert [str(s) for s in ChunkStatus] == ["pending", "running", "done", "failed", "cancelled"]
    assert RunStatus("completed") == "completed"
    assert f"{RunStatus.COMPLETED_WITH_ERRORS}" == "completed_with_errors"


def test_active_and_finished_split_the_run_statuses() -> None:
    assert {s for s in RunStatus if s.active} == {RunStatus.QUEUED, RunStatus.RUNNING}
    assert all(s.active != s.finished for s in RunStatus)
    assert lifecycle.is_active("running")
    assert not lifecycle.is_active("failed")


@pytest.mark.parametrize(
    ("error", "chunks", "status"),
    [
        ("unreadable file", 3, RunStatus.FAILED),
        ("unreadable file", 0, RunStatus.FAILED),
        (None, 3, RunStatus.QUEUED),
        (None, 0, RunStatus.COMPLETED),
    ],
)
def test_status_at_creation(error: str | None, chunks: int, status: RunStatus) -> None:
    assert lifecycle.status_at_creation(error=error, chunks=chunks) == status


def test_transitions() -> None:
    assert lifecycle.status_when_claimed("queued") == RunStatus.RUNNING
    assert lifecycle.status_when_claimed("running") == RunStatus.RUNNING
    assert lifecycle.status_when_done(0) == RunStatus.COMPLETED
    assert lifecycle.status_when_done(2) == RunStatus.COMPLETED_WITH_ERRORS
    assert lifecycle.status_when_reopened(started=True) == RunStatus.RUNNING
    assert lifecycle.status_when_reopened(started=False) == RunStatus.QUEUED
    assert lifecycle.reopened_chunks(only_failed=True) == (ChunkStatus.FAILED,)
    assert set(lifecycle.reopened_chunks(only_failed=False)) == {
        ChunkStatus.FAILED,
        ChunkStatus.CANCELLED,
    }


@pytest.mark.parametrize(
    ("run_status", "chunk_status"),
    [("cancelled", ChunkStatus.CANCELLED), ("failed", ChunkStatus.PENDING)],
)
def test_a_chunk_of_a_stopped_run_is_set_aside(run_status: str, chunk_status: ChunkStatus) -> None:
    assert lifecycle.set_aside(run_status) == chunk_status


def test_attempts_and_backoff() -> None:
    assert not lifecycle.out_of_attempts(2, 3)
    assert lifecycle.out_of_attempts(3, 3)
    assert [lifecycle.retry_delay(1.5, n) for n in (1, 2, 3)] == [1.5, 3.0, 6.0]
    assert (
        lifecycle.failed_after_attempts(4, 3, "boom") == "chunk 4 failed after 3 attempt(s): boom"
    )


def test_progress_after_commit_caps_rows_and_ends_with_no_time_left() -> None:
    now = START + timedelta(seconds=10)
    middle = lifecycle.progress_after_commit(
        processed=500, total=1000, started=START, now=now, all_done=False
    )
    assert (middle.processed, middle.rows_per_second, middle.eta_seconds) == (500, 50.0, 10.0)
    over = lifecycle.progress_after_commit(
        processed=1200, total=1000, started=START, now=now, all_done=True
    )
    assert (over.processed, over.eta_seconds, over.total) == (1000, 0.0, 1000)
    unknown = lifecycle.progress_after_commit(
        processed=70, total=None, started=START, now=now, all_done=False
    )
    assert unknown.eta_seconds is None
    assert unknown.total is None
    learnt = lifecycle.progress_after_commit(
        processed=70, total=None, started=START, now=now, all_done=True
    )
    assert learnt.total == 70


def test_rate_of_a_run_that_just_started_is_finite() -> None:
    assert lifecycle.rate(10, START, START) == pytest.approx(10 / 1e-6)
    assert lifecycle.eta(100, 10, 0.0) is None
    assert lifecycle.percent(5, None) is None
    assert lifecycle.percent(0, 0) == 100.0


@given(
    total=st.one_of(st.none(), st.integers(min_value=0, max_value=10**9)),
    chunks=st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=30),
    gaps=st.lists(st.floats(min_value=0, max_value=3600), min_size=30, max_size=30),
)
def test_progress_never_goes_backwards_or_past_100_percent(
    total: int | None, chunks: list[int], gaps: list[float]
) -> None:
    """Commits in any order of sizes and times: the percent shown only ever grows, to 100."""
    processed = 0
    shown: float | None = None
    now = START
    for n, rows in enumerate(chunks):
        processed += rows
        now += timedelta(seconds=gaps[n])
        done = n == len(chunks) - 1
        step = lifecycle.progress_after_commit(
            processed=processed, total=total, started=START, now=now, all_done=done
        )
        assert step.eta_seconds is None or step.eta_seconds >= 0
        share = lifecycle.percent(step.processed, step.total)
        if share is None:
            continue
        assert 0.0 <= share <= 100.0
        if shown is not None:
            assert share >= shown
        shown = share
        if done and total is not None:
            assert step.processed <= total


@pytest.mark.parametrize(
    ("strategy", "event", "published"),
    [
        ("polling", "JobProgressed", True),
        ("websocket", "JobCompleted", True),
        ("none", "JobProgressed", False),
        ("none", "JobCompleted", True),
        ("none", "JobFailed", True),
    ],
)
def test_strategy_none_publishes_only_the_terminal_event(
    strategy: str, event: str, published: bool
) -> None:
    assert lifecycle.publishes(strategy, event) is published
    assert lifecycle.recorded(broadcast=True, strategy=strategy, event_name=event) is published
    assert lifecycle.recorded(broadcast=False, strategy=strategy, event_name=event) is False


def test_which_event_when() -> None:
    assert lifecycle.event_at_creation(RunStatus.FAILED) == "JobFailed"
    assert lifecycle.event_at_creation(RunStatus.COMPLETED) == "JobCompleted"
    assert lifecycle.event_after_commit("running") == "JobProgressed"
    assert lifecycle.event_after_commit("completed_with_errors") == "JobCompleted"


def test_the_event_that_ended_a_finished_run() -> None:
    """A live feed names a finished run's snapshot after the event that ended it: a
    cancel ends a run without completing it, so JobFailed, as the worker published."""
    ended = {status: lifecycle.final_event(status) for status in RunStatus if status.finished}
    assert ended == {
        RunStatus.COMPLETED: "JobCompleted",
        RunStatus.COMPLETED_WITH_ERRORS: "JobCompleted",
        RunStatus.FAILED: "JobFailed",
        RunStatus.CANCELLED: "JobFailed",
    }
    assert all(lifecycle.is_final_event(name) for name in ended.values())
    assert not lifecycle.is_final_event("JobProgressed")
