"""The audit trail's table: one row per action on a run (see :mod:`jobport.audit`)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jobport.audit import Action, AuditEntry
from jobport.store.section import Section, utcnow
from jobport.store.tables import job_audit


def insert_audit(conn: Connection, entry: AuditEntry) -> None:
    """Record ``entry`` in the caller's transaction (the action's own, where it has one)."""
    conn.execute(
        job_audit.insert().values(
            at=entry.at or utcnow(),
            actor=entry.actor,
            via=entry.via,
            action=str(entry.action),
            run_id=entry.run_id,
            detail=entry.detail or None,
        )
    )


class Audit(Section):
    """Recording and reading the audit trail."""

    def record_audit(self, entry: AuditEntry) -> None:
        """Record ``entry`` in a transaction of its own (the action committed just before)."""
        with self._write() as conn:
            insert_audit(conn, entry)

    def audit_entries(
        self, *, run_id: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[AuditEntry]:
        """The trail newest first, or one run's."""
        query = sa.select(job_audit).order_by(job_audit.c.id.desc()).limit(limit).offset(offset)
        if run_id is not None:
            query = query.where(job_audit.c.run_id == run_id)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            AuditEntry(
                action=Action(row["action"]),
                run_id=row["run_id"],
                actor=row["actor"],
                via=row["via"],
                at=row["at"],
                detail=row["detail"] or {},
            )
            for row in rows
        ]


__all__ = ["Audit", "insert_audit"]
