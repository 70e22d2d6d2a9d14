"""When a schedule's slots fall: a cron expression in a time zone, or an interval.

Cron expressions are croniter's (five fields, or croniter's ``@hourly``-style
aliases), read in the schedule's time zone (zoneinfo), so "0 9 * * *" is nine
o'clock local time on both sides of a daylight-saving change; an hour that a
change skips or repeats is croniter's to resolve. An interval ("every 15m")
counts from the Unix epoch in UTC, so its slots are the same in every process
(every 15 minutes falls on :00, :15, :30 and :45) and need no time zone.

Slots are computed, never remembered: two processes asked for the slot at or
before a moment answer the same time, which is what lets the state database
decide which of them fires it (:mod:`jobport.store.schedules`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jobport.errors import InputError, shown

if TYPE_CHECKING:
    from croniter import croniter

    from jobport.store.schedule_records import Schedule

#: "every 15m", "every 2h", "every 1d", "every 90s".
_EVERY = re.compile(r"^every\s+(\d{1,7})\s*(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: The shortest interval: a sweep runs every few seconds, so shorter would not be kept.
MIN_INTERVAL = timedelta(minutes=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Timing:
    """A schedule's spec read once: its slots, as aware UTC datetimes."""

    spec: str
    zone: ZoneInfo
    interval: timedelta | None

    @classmethod
    def parse(cls, spec: str, timezone: str = "UTC") -> Timing:
        """Read ``spec`` (cron or "every N[smhd]") in ``timezone``; a bad one says why."""
        spec = " ".join(spec.split())
        zone = parse_zone(timezone)
        every = _EVERY.match(spec.lower())
        if every:
            interval = timedelta(seconds=int(every.group(1)) * _UNITS[every.group(2)])
            if interval < MIN_INTERVAL:
                raise InputError(f"'{spec}' is too often: a schedule fires at most every minute")
            return cls(spec.lower(), zone, interval)
        if not spec or len(spec.split()) > 5 or not _croniter().is_valid(spec):
            raise InputError(
                f"'{shown(spec)}' is neither a cron expression (five fields, e.g. '0 * * * *' "
                "for every hour) nor an interval (e.g. 'every 15m', 'every 2h', 'every 1d')"
            )
        return cls(spec, zone, None)

    @classmethod
    def of(cls, schedule: Schedule) -> Timing:
        """The timing of a stored schedule (its spec and time zone)."""
        return cls.parse(schedule.spec, schedule.timezone)

    def latest(self, moment: datetime) -> datetime:
        """The last slot at or before ``moment``."""
        if self.interval is not None:
            steps = (moment - _EPOCH) // self.interval
            return _EPOCH + steps * self.interval
        local = moment.astimezone(self.zone)
        before = _croniter()(self.spec, local).get_prev(datetime)
        after = _croniter()(self.spec, before).get_next(datetime)
        return (after if after <= local else before).astimezone(UTC)

    def after(self, moment: datetime) -> datetime:
        """The first slot strictly after ``moment``."""
        if self.interval is not None:
            return self.latest(moment) + self.interval
        found: datetime = _croniter()(self.spec, moment.astimezone(self.zone)).get_next(datetime)
        return found.astimezone(UTC)

    def describe(self) -> str:
        """The spec as people read it: the interval, or the expression with its zone."""
        return self.spec if self.interval is not None else f"{self.spec} ({self.zone.key})"


def parse_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` ("Europe/Paris", "UTC"); an unknown one says so."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"unknown time zone '{shown(name)}'; use an IANA name such as 'UTC' or 'Europe/Paris'"
        ) from None


def _croniter() -> type[croniter]:
    """croniter, imported when a cron expression is read or run: loading the schedules'
    records (every command that reads runs does) must not pay for it and dateutil."""
    from croniter import croniter

    return croniter
