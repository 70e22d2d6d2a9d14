"""Retention's queries on PostgreSQL: chains pruned whole under the runs' lock, failures in
batches, a chain with a recent retry kept, the stored failures cap."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from tests.conftest import migrated_schema

from jobport.files import FileStore
from jobport.retention import Retention
from jobport.store import ChunkOutcome, Claim, Failure, JobStore, NewRun, make_engine
from jobport.store.section import utcnow
from jobport.store.tables import job_failures, job_runs

pytestmark = pytest.mark.postgres


@pytest.fixture
def database(postgres_url: str) -> Iterator[Engine]:
    with migrated_schema(postgres_url) as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def finished_run(
    store: JobStore, files: FileStore, days: float, retry_of: str | None = None
) -> str:
    """A run of one chunk with three failed rows (two stored), finished ``days`` ago."""
    key, _ = files.put_stream(io.BytesIO(b"code\n1\n"), area="uploads", extension=".csv")
    new = NewRun("t", "import", "polling", True, None, {}, 3, 3, source_key=key, retry_of=retry_of)
    run = store.create_run(new, [{"rows": 3}])
    held = store.claim_chunk(run.id, 0, "me", 30)
    assert isinstance(held, Claim)
    failures = [Failure(line=line, message="bad") for line in (2, 3, 4)]
    store.commit_chunk(held, ChunkOutcome(3, failures), max_stored_failures=2)
    then = utcnow() - timedelta(days=days)
    with store.engine.begin() as conn:
        conn.execute(
            job_runs.update()
            .where(job_runs.c.id == run.id)
            .values(created_at=then - timedelta(minutes=1), finished_at=then)
        )
    return run.id


def test_chains_are_pruned_whole_on_postgresql(database: Engine, tmp_path: Path) -> None:
    store, files = JobStore(database), FileStore(str(tmp_path / "files"))
    first = finished_run(store, files, days=200)
    retry = finished_run(store, files, days=95, retry_of=first)
    kept = finished_run(store, files, days=300)
    recent_retry = finished_run(store, files, days=3, retry_of=kept)
    gone_upload = store.get_run(first).source_key
    assert store.get_run(first).warnings == [
        "only the first 2 failures were kept; 1 more were counted"
    ]
    retention = Retention(store, files)

    preview = retention.prune(timedelta(days=90), dry_run=True)
    # Failures in batches of one row per transaction: each batch commits on its own.
    removed = retention.pruning.delete_failures([first, retry], preview.cutoff, batch=1)
    report = retention.prune(timedelta(days=90))

    assert (preview.runs, preview.failures, preview.bytes) == (2, 4, 14)
    assert removed == 4
    assert (report.runs, report.failures, report.bytes) == (2, 0, 14)
    assert [store.find_run(r) is not None for r in (first, retry, kept, recent_retry)] == [
        False,
        False,
        True,
        True,
    ]
    assert gone_upload is not None
    assert not files.exists(gone_upload)
    with database.connect() as conn:
        left = conn.execute(job_failures.select().where(job_failures.c.run_id == kept)).all()
    assert len(left) == 2
