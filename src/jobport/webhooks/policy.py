"""When a failed delivery is tried again, when it is given up, when a subscription pauses.

Pure functions of the attempts made and the clock, so each rule is written and
tested once. The schedule is the one Standard Webhooks' reference service
publishes: the first attempt at once, then after 5 seconds, 5 minutes, 30
minutes, 2, 5, 10 and 10 hours; eight attempts over about 27.6 hours.
"""

from __future__ import annotations

from datetime import datetime, timedelta

#: How long a delivery waits after its n-th failed attempt (n = 1, 2, ...).
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
#: Attempts of one delivery before it is given up: the first and one per delay.
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1


def retry_at(attempts: int, now: datetime) -> datetime | None:
    """When to try again after ``attempts`` failed attempts; None: give the delivery up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return now + RETRY_DELAYS[max(attempts, 1) - 1]


def pause_reason(
    failing_since: datetime | None, now: datetime, pause_after: timedelta, last_error: str
) -> str | None:
    """Why a subscription is paused now, or None: every attempt since ``failing_since``
    failed, for ``pause_after`` or longer."""
    if failing_since is None or now - failing_since < pause_after:
        return None
    hours = pause_after.total_seconds() / 3600
    return (
        f"paused automatically: every delivery attempt failed for {hours:g} h "
        f"(since {failing_since.isoformat(timespec='seconds')}); last: {last_error}"
    )


__all__ = ["MAX_ATTEMPTS", "RETRY_DELAYS", "pause_reason", "retry_at"]
