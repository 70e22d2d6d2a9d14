"""Schedules in the state database, and the claim that makes each slot fire once.

A slot is claimed by inserting its row into ``jobport_schedule_firings``
(primary key: schedule and slot time), with the id its run will have, in the
transaction that moves the schedule's ``next_fire_at`` past it. Of several
processes that see the slot due, one insert commits; the others fail on the
key (PostgreSQL makes them wait for the first to commit; SQLite's writers
take turns) and go on to the next schedule. A process killed inside that
transaction leaves no claim (the slot is still due, and another fires it); one
killed after it leaves a claim whose run may be missing: once the claim is
older than the scheduler's ``stale_after``, another process takes it over and
starts the run under the id the claim chose, which ``job_runs``' primary key
lets exist once. An import schedule's files are claimed the same way, one row
per file (``jobport_schedule_files``).

When a slot falls and what a firing starts are the schedules' rules
(:mod:`jobport.schedules`); this module only keeps their rows. It is reached
as ``JobStore.schedules``.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from jobport.errors import InputError, shown
from jobport.principal import Principal
from jobport.store.schedule_records import (
    FileClaim,
    Firing,
    Missed,
    NewSchedule,
    Outcome,
    Schedule,
)
from jobport.store.section import Section
from jobport.store.tables import schedule_files, schedule_firings, schedules

_F = schedule_firings.c
_FILES = schedule_files.c
#: Most stale claims one sweep takes over.
STALE_BATCH = 100


class ScheduleStore(Section):
    """Every storage operation of schedules, by name."""

    # -- the schedules ----------------------------------------------------------------------

    def add(
        self, new: NewSchedule, who: Principal, *, next_fire_at: datetime, now: datetime
    ) -> Schedule:
        """Store a schedule (its name must be free) and return it."""
        schedule_id = str(uuid.uuid4())
        values = {
            "id": schedule_id,
            "name": new.name or new.type,
            "type": new.type,
            "spec": new.spec,
            "timezone": new.timezone,
            "options": new.options,
            "read": new.read,
            "source": new.source,
            "owner": who.owner,
            "is_admin": who.is_admin,
            "roles": sorted(who.roles),
            "enabled": new.enabled,
            "missed": str(new.missed),
            "next_fire_at": next_fire_at,
            "created_at": now,
            "updated_at": now,
        }
        try:
            with self._write() as conn:
                conn.execute(schedules.insert().values(**values))
        except IntegrityError:
            raise InputError(
                f"a schedule named '{shown(values['name'])}' exists already; give another --name"
            ) from None
        found = self.get(schedule_id)
        assert found is not None
        return found

    def get(self, schedule_id: str) -> Schedule | None:
        found = self._select(schedules.c.id == schedule_id)
        return found[0] if found else None

    def named(self, given: str) -> Schedule | None:
        """The schedule whose id or name is ``given``."""
        found = self._select(sa.or_(schedules.c.id == given, schedules.c.name == given))
        return found[0] if found else None

    def listed(self, *, owner: str | None = None, everyone: bool = True) -> list[Schedule]:
        """Every schedule (or ``owner``'s only), by name, each with its latest firing."""
        where = sa.true() if everyone else schedules.c.owner == owner
        return self._select(where)

    def _select(self, where: sa.ColumnElement[bool]) -> list[Schedule]:
        latest = (
            sa.select(_F.schedule_id, sa.func.max(_F.slot_at).label("slot_at"))
            .group_by(_F.schedule_id)
            .subquery()
        )
        last = schedule_firings.alias("last")
        query = (
            sa.select(schedules, *[c.label(f"last_{c.name}") for c in last.c])
            .select_from(
                schedules.outerjoin(latest, latest.c.schedule_id == schedules.c.id).outerjoin(
                    last,
                    sa.and_(
                        last.c.schedule_id == latest.c.schedule_id,
                        last.c.slot_at == latest.c.slot_at,
                    ),
                )
            )
            .where(where)
            .order_by(schedules.c.name)
        )
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [_schedule(row) for row in rows]

    def set_enabled(
        self, schedule_id: str, enabled: bool, *, next_fire_at: datetime, now: datetime
    ) -> None:
        """Pause or resume; a resumed schedule fires from its next slot after ``now``."""
        with self._write() as conn:
            conn.execute(
                schedules.update()
                .where(schedules.c.id == schedule_id)
                .values(enabled=enabled, next_fire_at=next_fire_at, updated_at=now)
            )

    def remove(self, schedule_id: str) -> None:
        """Delete a schedule and its firings (its runs stay)."""
        with self._write() as conn:
            conn.execute(schedules.delete().where(schedules.c.id == schedule_id))

    def due(self, now: datetime, types: Collection[str]) -> list[Schedule]:
        """The enabled schedules of ``types`` whose next slot has passed."""
        query = (
            sa.select(schedules)
            .where(
                schedules.c.enabled.is_(True),
                schedules.c.next_fire_at <= now,
                schedules.c.type.in_(list(types)),
            )
            .order_by(schedules.c.next_fire_at)
        )
        with self._read() as conn:
            return [_schedule(row) for row in conn.execute(query).mappings()]

    # -- claiming slots ---------------------------------------------------------------------

    def claim(self, firing: Firing, next_fire_at: datetime) -> bool:
        """Claim a slot and move the schedule's next slot past it, in one transaction.

        False when another process claimed the slot first. ``next_fire_at`` never
        moves back (a process that computed an earlier one leaves it as it is).
        """
        try:
            with self._write() as conn:
                conn.execute(schedule_firings.insert().values(**_firing_values(firing)))
                conn.execute(
                    schedules.update()
                    .where(
                        schedules.c.id == firing.schedule_id,
                        schedules.c.next_fire_at < next_fire_at,
                    )
                    .values(next_fire_at=next_fire_at)
                )
        except IntegrityError:
            return False
        return True

    def settle(self, firing: Firing, outcome: Outcome, detail: str | None = None) -> None:
        """Record what came of a claimed slot."""
        with self._write() as conn:
            conn.execute(
                schedule_firings.update()
                .where(_F.schedule_id == firing.schedule_id, _F.slot_at == firing.slot_at)
                .values(outcome=str(outcome), detail=detail)
            )

    def stale(self, now: datetime, after: timedelta, types: Collection[str]) -> list[Firing]:
        """Claims older than ``after`` whose outcome nobody recorded (their claimer died?)."""
        query = _stale_claims(schedule_firings, now - after, types)
        with self._read() as conn:
            return [_firing(row) for row in conn.execute(query).mappings()]

    def take_over(self, firing: Firing, by: str, now: datetime) -> bool:
        """Take a stale claim over; only one process gets it (the claim as it was read)."""
        mine = (_F.schedule_id == firing.schedule_id, _F.slot_at == firing.slot_at)
        return self._take_claim(schedule_firings, mine, firing.claimed_at, by, now)

    def firings(self, schedule_id: str, *, limit: int = 1000) -> list[Firing]:
        """A schedule's firings, oldest first."""
        query = (
            sa.select(schedule_firings)
            .where(_F.schedule_id == schedule_id)
            .order_by(_F.slot_at)
            .limit(limit)
        )
        with self._read() as conn:
            return [_firing(row) for row in conn.execute(query).mappings()]

    # -- an import schedule's files ---------------------------------------------------------

    def claim_file(self, claim: FileClaim) -> bool:
        """Claim a file for one run; False when it was taken before (by anyone)."""
        try:
            with self._write() as conn:
                conn.execute(schedule_files.insert().values(**_file_values(claim)))
        except IntegrityError:
            return False
        return True

    def taken_files(self, schedule_id: str, keys: Collection[str]) -> set[str]:
        """Which of ``keys`` (file keys) the schedule took already."""
        if not keys:
            return set()
        with self._read() as conn:
            return set(
                conn.execute(
                    sa.select(_FILES.file_key).where(
                        _FILES.schedule_id == schedule_id, _FILES.file_key.in_(list(keys))
                    )
                ).scalars()
            )

    def settle_file(self, claim: FileClaim, outcome: Outcome, detail: str | None = None) -> None:
        with self._write() as conn:
            conn.execute(
                schedule_files.update()
                .where(_FILES.schedule_id == claim.schedule_id, _FILES.file_key == claim.file_key)
                .values(outcome=str(outcome), detail=detail)
            )

    def release_file(self, claim: FileClaim) -> None:
        """Forget a claimed file that was not imported (its type was busy): a later firing
        takes it again."""
        with self._write() as conn:
            conn.execute(
                schedule_files.delete().where(
                    _FILES.schedule_id == claim.schedule_id, _FILES.file_key == claim.file_key
                )
            )

    def stale_files(
        self, now: datetime, after: timedelta, types: Collection[str]
    ) -> list[FileClaim]:
        query = _stale_claims(schedule_files, now - after, types)
        with self._read() as conn:
            return [_file(row) for row in conn.execute(query).mappings()]

    def take_over_file(self, claim: FileClaim, by: str, now: datetime) -> bool:
        mine = (_FILES.schedule_id == claim.schedule_id, _FILES.file_key == claim.file_key)
        return self._take_claim(schedule_files, mine, claim.claimed_at, by, now)

    def _take_claim(
        self,
        table: sa.Table,
        mine: tuple[sa.ColumnElement[bool], ...],
        claimed_at: datetime,
        by: str,
        now: datetime,
    ) -> bool:
        """Take over the claim ``mine`` selects, only as it was read (one process gets it)."""
        with self._write() as conn:
            taken = conn.execute(
                table.update()
                .where(
                    *mine,
                    table.c.outcome == str(Outcome.CLAIMED),
                    table.c.claimed_at == claimed_at,
                )
                .values(claimed_by=by, claimed_at=now)
            )
            return taken.rowcount == 1


def _stale_claims(table: sa.Table, before: datetime, types: Collection[str]) -> sa.Select[Any]:
    """Claims of ``table`` (firings or files) made before ``before`` whose outcome nobody
    recorded, for schedules of ``types``, oldest first, a batch at a time."""
    return (
        sa.select(table)
        .join(schedules, schedules.c.id == table.c.schedule_id)
        .where(
            table.c.outcome == str(Outcome.CLAIMED),
            table.c.claimed_at < before,
            schedules.c.type.in_(list(types)),
        )
        .order_by(table.c.claimed_at)
        .limit(STALE_BATCH)
    )


def _firing_values(firing: Firing) -> dict[str, Any]:
    return {
        "schedule_id": firing.schedule_id,
        "slot_at": firing.slot_at,
        "run_id": firing.run_id,
        "outcome": str(firing.outcome),
        "detail": firing.detail,
        "claimed_by": firing.claimed_by,
        "claimed_at": firing.claimed_at,
    }


def _file_values(claim: FileClaim) -> dict[str, Any]:
    return {
        "schedule_id": claim.schedule_id,
        "file_key": claim.file_key,
        "path": claim.path,
        "run_id": claim.run_id,
        "outcome": str(claim.outcome),
        "claimed_by": claim.claimed_by,
        "claimed_at": claim.claimed_at,
    }


def _firing(row: Any) -> Firing:
    return Firing(
        schedule_id=row["schedule_id"],
        slot_at=row["slot_at"],
        run_id=row["run_id"],
        outcome=Outcome(row["outcome"]),
        detail=row["detail"],
        claimed_by=row["claimed_by"],
        claimed_at=row["claimed_at"],
    )


def _file(row: Any) -> FileClaim:
    return FileClaim(
        schedule_id=row["schedule_id"],
        file_key=row["file_key"],
        path=row["path"],
        run_id=row["run_id"],
        outcome=Outcome(row["outcome"]),
        claimed_by=row["claimed_by"],
        claimed_at=row["claimed_at"],
    )


def _schedule(row: Any) -> Schedule:
    last = None
    if row.get("last_slot_at") is not None:
        last = Firing(
            schedule_id=row["id"],
            slot_at=row["last_slot_at"],
            run_id=row["last_run_id"],
            outcome=Outcome(row["last_outcome"]),
            detail=row["last_detail"],
            claimed_by=row["last_claimed_by"],
            claimed_at=row["last_claimed_at"],
        )
    return Schedule(
        id=row["id"],
        name=row["name"],
        type=row["type"],
        spec=row["spec"],
        timezone=row["timezone"],
        options=dict(row["options"] or {}),
        read=dict(row["read"] or {}),
        source=row["source"],
        owner=row["owner"],
        is_admin=bool(row["is_admin"]),
        roles=tuple(row["roles"] or ()),
        enabled=bool(row["enabled"]),
        missed=Missed(row["missed"]),
        next_fire_at=row["next_fire_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last=last,
    )
