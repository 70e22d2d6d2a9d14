"""Every action on a run is in the audit trail: who, which face, what (JobService, SQLite).

The demo app on the inline executor, its deliveries held where a test needs a
run still queued (to cancel and resume it). Each use case of the service is
called once, then the run's trail is read back newest first.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from jobport import Jobport
from jobport.audit import AuditEntry
from jobport.errors import RunStateError
from jobport.executors import Executor
from jobport.principal import Principal
from jobport.service import ImportStart, JobService
from jobport.store.tables import job_chunks

ALICE = Principal("alice", via="api")
CUSTOMERS = b"id,email,last_name,country\n1,ada@example.com,Lovelace,GB\n2,bad,Babbage,GB\n"


class Held:
    """Keeps chunk deliveries until released, so a run stays queued meanwhile."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.held: list[tuple[str, list[int]]] = []

    def submit(self, run_id: str, chunks: Sequence[int]) -> None:
        self.held.append((run_id, list(chunks)))

    def release(self) -> None:
        held, self.held = self.held, []
        for run_id, chunks in held:
            self.inner.submit(run_id, chunks)

    def close(self) -> None:
        self.inner.close()


def trail(service: JobService, run_id: str) -> list[tuple[str, str | None, str, dict[str, Any]]]:
    entries: list[AuditEntry] = service.store.audit_entries(run_id=run_id)
    return [(str(e.action), e.actor, e.via, e.detail) for e in entries]


def start(service: JobService, **start: Any) -> str:
    key = service.store_upload(None, io.BytesIO(CUSTOMERS), "customers.csv")
    run = service.start_import(
        ALICE, ImportStart(type="customers", source_key=key, source_name="c.csv", **start)
    )
    return run.id


def test_each_action_on_a_run_is_audited_with_its_actor_and_face(
    make_jobport: Callable[..., Jobport],
) -> None:
    engine = make_jobport()
    held = Held(engine.dispatcher.executor)
    engine.dispatcher.executor = held  # type: ignore[assignment]
    service = JobService(engine)

    queued = start(service)
    service.cancel(ALICE, queued)
    with pytest.raises(RunStateError):  # a refused action is not recorded
        service.retry(ALICE, queued)
    with engine.store.engine.begin() as conn:  # its one chunk failed, as a crash leaves it
        conn.execute(
            job_chunks.update().where(job_chunks.c.run_id == queued).values(status="failed")
        )
    service.retry(ALICE, queued)
    service.resume(ALICE, queued)
    held.release()
    list(service.error_report(ALICE, queued))
    assert [a for a, *_ in trail(service, queued)] == [
        "downloaded",
        "resumed",
        "retried",
        "cancelled",
        "started",
    ]
    assert trail(service, queued)[0] == ("downloaded", "alice", "api", {"file": "error report"})
    assert trail(service, queued)[-1] == ("started", "alice", "api", {"kind": "import"})

    fix = start(service, retry_of=queued)
    dry = start(service, controls={"dry_run": True})
    held.release()
    imported = service.start_from_dry_run(ALICE, dry).id
    held.release()
    assert trail(service, fix) == [("started", "alice", "api", {"kind": "import", "fixes": queued})]
    assert trail(service, imported) == [
        ("started", "alice", "api", {"kind": "import", "dry_run": dry})
    ]

    cli = Principal.operator().__class__(name="", is_admin=True, via="cli")
    export = service.start_export(cli, "customers-export", format="csv").id
    report = service.start_export(ALICE, "sales-report").id
    sync = service.start_sync(ALICE, "orders", full=True).id
    held.release()
    found = service.result_of(cli, export)
    link = service.share_link(cli, export, 600)
    service.shared_result(export, str(link.expires), link.signature)
    service.copy_result(cli, export, io.BytesIO())
    assert trail(service, export) == [
        ("downloaded", None, "cli", {"file": "result"}),
        ("downloaded", None, "link", {"file": "result"}),
        ("shared", None, "cli", {"ttl": 600}),
        ("downloaded", None, "cli", {"file": "result"}),
        ("started", None, "cli", {"kind": "export"}),
    ]
    assert found.run.id == export
    assert trail(service, report) == [("started", "alice", "api", {"kind": "report"})]
    assert trail(service, sync) == [("started", "alice", "api", {"kind": "sync", "full": True})]
    assert service.store.audit_entries(run_id=export)[-1].to_dict()["actor"] == "operator"
    assert service.store.audit_entries(run_id=export)[1].to_dict()["actor"] == "link holder"
