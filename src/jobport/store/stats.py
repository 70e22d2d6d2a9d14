"""Dashboard statistics, computed by the database: volume, outcomes, speed, durations.

One ``GROUP BY`` over the newest runs of the chosen period gives each type's
counts, rows and speed, another the volume per type and UTC day. Duration
percentiles are PostgreSQL's ``percentile_cont``; SQLite has none, so there
the completed runs' durations (at most the window's) are read and ranked in
Python, the same linear interpolation. The window bounds a page's cost
however long the history grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jobport.lifecycle import ACTIVE_STATUSES, COMPLETED_STATUSES, RunStatus
from jobport.store.section import Section, utcnow
from jobport.store.tables import job_runs

#: Most runs :meth:`Stats.run_stats` counts for one answer.
STATS_WINDOW = 20_000
#: Days of history :meth:`Stats.run_stats` covers by default.
STATS_DAYS = 14


@dataclass(frozen=True)
class TypeStats:
    """The runs of one job type over a period: outcomes, rows, speed and duration."""

    type: str
    kind: str
    runs: int
    active: int
    completed: int
    #: Completed, with some rows rejected.
    with_errors: int
    failed: int
    cancelled: int
    rows: int
    failed_rows: int
    #: Rows processed per second of run time, over the finished runs that took time.
    rows_per_second: float | None
    #: Median and 95th percentile of the completed runs' durations (started to finished).
    p50_seconds: float | None
    p95_seconds: float | None

    @property
    def finished(self) -> int:
        return self.completed + self.with_errors + self.failed + self.cancelled

    @property
    def success_rate(self) -> float | None:
        """Share of finished runs that completed (with or without rejected rows)."""
        return (self.completed + self.with_errors) / self.finished if self.finished else None

    @property
    def failure_rate(self) -> float | None:
        """Share of finished runs that failed (cancelled runs are neither)."""
        return self.failed / self.finished if self.finished else None


@dataclass(frozen=True)
class RunStats:
    """What :meth:`Stats.run_stats` found for one period."""

    since: datetime
    until: datetime
    #: Every UTC day of the period (midnight), oldest first.
    days: list[datetime]
    #: Runs created per day, by type key, aligned with ``days``.
    volume: dict[str, list[int]]
    #: One entry per type seen, by type key.
    types: list[TypeStats]
    runs: int
    #: More runs than the window were created in the period; the oldest are not counted.
    truncated: bool


class Stats(Section):
    def run_stats(
        self,
        *,
        owner: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        window: int | None = None,
    ) -> RunStats:
        """Volume per day and type, outcome rates, rows/s and p50/p95 duration per type.

        Counts the newest ``window`` runs (default :data:`STATS_WINDOW`) created in
        ``[since, until)`` (default: the last :data:`STATS_DAYS` UTC days);
        ``truncated`` says older runs of the period were left out. ``owner``
        None counts everyone's runs (what an admin sees).
        """
        window = window or STATS_WINDOW
        until = until or utcnow()
        if since is None:
            today = until.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            since = today - timedelta(days=STATS_DAYS - 1)
        conditions = [job_runs.c.created_at >= since, job_runs.c.created_at < until]
        if owner is not None:
            conditions.append(job_runs.c.owner == owner)
        newest = (
            sa.select(job_runs)
            .where(*conditions)
            .order_by(job_runs.c.created_at.desc())
            .limit(window)
            .subquery()
        )
        days = _days(since, until)
        with self._read() as conn:
            found = conn.execute(
                sa.select(sa.func.count()).select_from(
                    sa.select(job_runs.c.id).where(*conditions).limit(window + 1).subquery()
                )
            ).scalar_one()
            types = _type_stats(conn, newest)
            volume = _volume(conn, newest, days)
        runs = min(int(found), window)
        return RunStats(since, until, days, volume, types, runs, found > window)


def _days(since: datetime, until: datetime) -> list[datetime]:
    first = since.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    last = (until - timedelta(microseconds=1)).astimezone(UTC)
    days = []
    day = first
    while day <= last:
        days.append(day)
        day += timedelta(days=1)
    return days


def _seconds(conn: Connection, runs: sa.Subquery) -> sa.ColumnElement[float]:
    """A run's duration in seconds (NULL unless it started and finished), per dialect.

    SQLite keeps UTC datetimes as text with microseconds: whole seconds from
    ``strftime('%s')`` plus the fraction, exact where ``julianday`` is not.
    """
    started, finished = runs.c.started_at, runs.c.finished_at
    if conn.dialect.name == "sqlite":

        def whole(column: Any) -> Any:
            return sa.cast(sa.func.strftime("%s", column), sa.Float)

        def fraction(column: Any) -> Any:
            return sa.cast(sa.func.substr(column, 20), sa.Float)

        seconds = whole(finished) - whole(started) + (fraction(finished) - fraction(started))
    else:
        seconds = sa.extract("epoch", finished - started)
    return sa.cast(seconds, sa.Float)


def _count_of(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _type_stats(conn: Connection, runs: sa.Subquery) -> list[TypeStats]:
    seconds = _seconds(conn, runs)
    busy = sa.and_(seconds > 0, runs.c.processed != 0)
    status = runs.c.status
    rows = conn.execute(
        sa.select(
            runs.c.type,
            sa.func.max(runs.c.kind),
            sa.func.count(),
            _count_of(status.in_(ACTIVE_STATUSES)),
            _count_of(status == RunStatus.COMPLETED),
            _count_of(status == RunStatus.COMPLETED_WITH_ERRORS),
            _count_of(status == RunStatus.FAILED),
            _count_of(status == RunStatus.CANCELLED),
            sa.func.coalesce(sa.func.sum(runs.c.processed), 0),
            sa.func.coalesce(sa.func.sum(runs.c.failed), 0),
            sa.func.sum(sa.case((busy, runs.c.processed))),
            sa.func.sum(sa.case((busy, seconds))),
        )
        .group_by(runs.c.type)
        .order_by(runs.c.type)
    ).all()
    percentiles = _percentiles(conn, runs, seconds)
    return [
        TypeStats(
            type=name,
            kind=kind,
            runs=int(count),
            active=int(active),
            completed=int(completed),
            with_errors=int(with_errors),
            failed=int(failed),
            cancelled=int(cancelled),
            rows=int(processed),
            failed_rows=int(failed_rows),
            rows_per_second=float(busy_rows) / busy_seconds if busy_seconds else None,
            p50_seconds=percentiles.get(name, (None, None))[0],
            p95_seconds=percentiles.get(name, (None, None))[1],
        )
        for (
            name,
            kind,
            count,
            active,
            completed,
            with_errors,
            failed,
            cancelled,
            processed,
            failed_rows,
            busy_rows,
            busy_seconds,
        ) in rows
    ]


def _percentiles(
    conn: Connection, runs: sa.Subquery, seconds: sa.ColumnElement[float]
) -> dict[str, tuple[float | None, float | None]]:
    """p50 and p95 of the completed runs' durations, by type (types with none are absent)."""
    completed = sa.and_(runs.c.status.in_(COMPLETED_STATUSES), seconds.is_not(None))
    if conn.dialect.name == "postgresql":
        found = conn.execute(
            sa.select(
                runs.c.type,
                sa.func.percentile_cont(0.5).within_group(seconds),
                sa.func.percentile_cont(0.95).within_group(seconds),
            )
            .where(completed)
            .group_by(runs.c.type)
        ).all()
        return {name: (float(p50), float(p95)) for name, p50, p95 in found}
    durations: dict[str, list[float]] = {}
    for name, duration in conn.execute(
        sa.select(runs.c.type, seconds).where(completed).order_by(runs.c.type, seconds)
    ):
        durations.setdefault(name, []).append(float(duration))
    return {
        name: (percentile(ordered, 0.50), percentile(ordered, 0.95))
        for name, ordered in durations.items()
    }


def _volume(conn: Connection, runs: sa.Subquery, days: list[datetime]) -> dict[str, list[int]]:
    """Runs created per type and UTC day, aligned with ``days`` (types with none are absent)."""
    if conn.dialect.name == "sqlite":
        day: Any = sa.func.substr(runs.c.created_at, 1, 10)
    else:
        day = sa.cast(sa.func.timezone("UTC", runs.c.created_at), sa.Date)
    index = {d.date(): n for n, d in enumerate(days)}
    volume: dict[str, list[int]] = {}
    for name, created, count in conn.execute(
        sa.select(runs.c.type, day, sa.func.count()).group_by(runs.c.type, day)
    ):
        on = created if isinstance(created, date) else date.fromisoformat(created)
        slot = index.get(on)
        if slot is not None:
            volume.setdefault(name, [0] * len(days))[slot] += int(count)
    return volume


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile of sorted values, interpolated linearly between ranks."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)
