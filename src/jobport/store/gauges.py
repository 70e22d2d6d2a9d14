"""What the metrics read from the state database when scraped: cheap counts of now."""

from __future__ import annotations

import sqlalchemy as sa

from jobport.lifecycle import ChunkStatus
from jobport.store.section import Section
from jobport.store.tables import job_chunks


class Gauges(Section):
    """Counts a scrape reads: one indexed query each (``job_chunks`` by status)."""

    def pending_chunks(self) -> int:
        """Chunks waiting for a worker, every run's (a backlog that grows: too few workers)."""
        with self._read() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(job_chunks)
                    .where(job_chunks.c.status == ChunkStatus.PENDING)
                ).scalar_one()
            )
