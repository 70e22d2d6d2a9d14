"""A schedule, a firing and a file an import schedule took, as the store hands them out.

Plain values: when a schedule's slots fall is :class:`jobport.schedules.timing.Timing`'s
(``Timing.of(schedule)``), what fires them is :mod:`jobport.schedules.firing`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from jobport.principal import Principal


class Missed(StrEnum):
    """What a schedule does with the slots that passed while nothing was running."""

    #: One run for the latest missed slot, however many were missed (the default).
    CATCH_UP = "catch_up"
    #: No run for a slot seen later than ``Scheduler.late_after``; the next slot fires.
    SKIP = "skip"


class Outcome(StrEnum):
    """What came of a slot (or of a file an import schedule took)."""

    #: Claimed; its run is being started (or its claimer died: taken over after a while).
    CLAIMED = "claimed"
    STARTED = "started"
    #: The type was busy and queues: the run starts when one of the type ends.
    QUEUED = "queued"
    #: Not run: the type was busy (and does not queue), or the slot was missed ("skip").
    SKIPPED = "skipped"
    #: The start was refused (the type is gone, its options no longer valid, a role lost).
    FAILED = "failed"


@dataclass(frozen=True)
class NewSchedule:
    """What a face asks for when it adds a schedule (checked by the service)."""

    type: str
    spec: str
    name: str | None = None
    timezone: str = "UTC"
    options: dict[str, Any] = field(default_factory=dict)
    read: dict[str, Any] = field(default_factory=dict)
    #: An import schedule's files: "/data/incoming/*.csv" or "s3://bucket/incoming/*.csv".
    source: str | None = None
    missed: Missed = Missed.CATCH_UP
    enabled: bool = True


@dataclass(frozen=True)
class Firing:
    """One handled slot of a schedule: its run (if any) and what came of it."""

    schedule_id: str
    slot_at: datetime
    run_id: str | None
    outcome: Outcome
    detail: str | None
    claimed_by: str
    claimed_at: datetime


@dataclass(frozen=True)
class FileClaim:
    """A file an import schedule took: one run imports it, once."""

    schedule_id: str
    #: A digest of the file's path, size and modification time (or ETag).
    file_key: str
    path: str
    run_id: str
    outcome: Outcome
    claimed_by: str
    claimed_at: datetime


@dataclass(frozen=True)
class Schedule:
    """A stored schedule; ``last`` is its latest firing when the store read it with one."""

    id: str
    name: str
    type: str
    spec: str
    timezone: str
    options: dict[str, Any]
    read: dict[str, Any]
    source: str | None
    owner: str | None
    is_admin: bool
    roles: tuple[str, ...]
    enabled: bool
    missed: Missed
    next_fire_at: datetime
    created_at: datetime
    updated_at: datetime
    last: Firing | None = None

    @property
    def principal(self) -> Principal:
        """Whom its runs are started as: its owner, with the rights recorded when it was added."""
        return Principal(self.owner or "", self.is_admin, frozenset(self.roles))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601, the last firing nested."""
        last = self.last
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "when": self.spec,
            "timezone": self.timezone,
            "options": self.options,
            "read": self.read,
            "source": self.source,
            "owner": self.owner,
            "enabled": self.enabled,
            "missed": str(self.missed),
            "next_run_at": self.next_fire_at.isoformat() if self.enabled else None,
            "created_at": self.created_at.isoformat(),
            "last": None
            if last is None
            else {
                "slot_at": last.slot_at.isoformat(),
                "run_id": last.run_id,
                "outcome": str(last.outcome),
                "detail": last.detail,
            },
        }
