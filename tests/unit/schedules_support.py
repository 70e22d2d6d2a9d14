"""What the schedules and concurrency tests share: a clock they move, an executor that holds."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from jobport import Jobport
from jobport.principal import Principal
from jobport.schedules.book import ScheduleBook
from jobport.schedules.firing import Scheduler
from jobport.schedules.model import NewSchedule, Schedule
from jobport.store.tables import job_runs

#: Monday, 1 January 2024, midnight UTC: where simulated weeks start.
START = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class Clock:
    """A clock the test moves; shared by every scheduler of a test, as real time would be."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Held:
    """An executor that delivers nothing: runs started through it stay active."""

    held: list[tuple[str, list[int]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def submit(self, run_id: str, chunks: Sequence[int]) -> None:
        with self._lock:
            self.held.append((run_id, list(chunks)))

    def warm(self) -> None:
        pass

    def close(self) -> None:
        pass


def scheduler(engine: Jobport, clock: Clock, **kwargs: Any) -> Scheduler:
    """A scheduler over ``engine`` on the test's clock, named apart from any other."""
    made = Scheduler(dispatcher=engine.dispatcher, clock=clock, **kwargs)
    made.me = f"{made.me}:{id(made)}"
    return made


def book(engine: Jobport, clock: Clock) -> ScheduleBook:
    return ScheduleBook(
        dispatcher=engine.dispatcher,
        registry=engine.registry,
        store=scheduler(engine, clock).store,
        clock=clock,
    )


def add(engine: Jobport, clock: Clock, type: str, spec: str, **values: Any) -> Schedule:
    return book(engine, clock).add(
        Principal.operator(), NewSchedule(type=type, spec=spec, **values)
    )


def runs_of(engine: Jobport, type: str) -> list[dict[str, Any]]:
    """The type's runs, oldest first (id, status, created_at)."""
    with engine.database.connect() as conn:
        rows = conn.execute(
            sa.select(job_runs.c.id, job_runs.c.status, job_runs.c.created_at)
            .where(job_runs.c.type == type)
            .order_by(job_runs.c.created_at)
        ).mappings()
        return [dict(row) for row in rows]
