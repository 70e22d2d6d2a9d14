"""GET /metrics: the counts of runs, rows and chunks after an import, the pending chunks of
now, and the worker processes of a local pool added up (multiprocess mode)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import MakeJobport

from jobport import Jobport, metrics
from jobport.server import create_app
from jobport.store import Claim, NewRun

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(autouse=True)
def fresh_metrics() -> Iterator[None]:
    """Each test counts from zero, in the mode its environment says."""
    metrics.reset()
    yield
    metrics.reset()


def samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def people_file(folder: Path, good: int, bad: int) -> Path:
    path = folder / "people.csv"
    rows = [[f"p{i}", "Ann", "30"] for i in range(good)] + [[f"x{i}", "", ""] for i in range(bad)]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["code", "name", "age"], *rows])
    return path


def test_metrics_count_an_import(make_jobport: MakeJobport, tmp_path: Path) -> None:
    engine = make_jobport(app="tests.apps.people")
    client = TestClient(create_app(engine, dashboard=False))
    run = engine.wait(engine.import_file("people", people_file(tmp_path, 4, 1)).id)

    found = samples(client.get("/metrics").text)

    assert value(found, "jobport_runs_started_total", type="people", kind="import") == 1
    assert value(found, "jobport_runs_finished_total", type="people", status=run.status) == 1
    assert value(found, "jobport_rows_processed_total", type="people") == 5
    assert value(found, "jobport_rows_failed_total", type="people") == 1
    assert value(found, "jobport_chunk_attempts_total", type="people", outcome="done") == 2
    assert value(found, "jobport_chunk_duration_seconds_count", type="people") == 2


def test_pending_chunks_are_read_from_the_store_at_scrape(make_jobport: MakeJobport) -> None:
    engine = make_jobport(app="tests.apps.people")
    client = TestClient(create_app(engine, dashboard=False))
    waiting = NewRun("people", "import", "polling", True, None, {}, 3, total=6)
    engine.store.create_run(waiting, [{"rows": 3}, {"rows": 3}])  # queued, no worker

    response = client.get("/metrics")  # no sign-in: Prometheus has none

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert value(samples(response.text), "jobport_pending_chunks") == 2


def test_the_other_parts_counters_are_exposed_under_their_names(
    make_jobport: MakeJobport,
) -> None:
    client = TestClient(create_app(make_jobport(app="tests.apps.people"), dashboard=False))
    metrics.webhook_delivery("delivered")
    metrics.schedule_firing("people", "started")
    metrics.leases_lost(2)

    found = samples(client.get("/metrics").text)

    assert value(found, "jobport_webhook_deliveries_total", outcome="delivered") == 1
    assert value(found, "jobport_schedule_firings_total", type="people", outcome="started") == 1
    assert value(found, "jobport_leases_lost_total") == 2


def test_a_lease_the_supervisor_takes_back_counts_as_lost(make_jobport: MakeJobport) -> None:
    engine = make_jobport(app="tests.apps.people")
    client = TestClient(create_app(engine, dashboard=False))
    run = engine.store.create_run(
        NewRun("people", "import", "polling", True, None, {}, 3, total=3), [{"rows": 3}]
    )
    assert isinstance(engine.store.claim_chunk(run.id, 0, "a-dead-worker", 0.0), Claim)

    engine.supervisor.expire()

    assert value(samples(client.get("/metrics").text), "jobport_leases_lost_total") == 1


def test_metrics_off_leaves_the_route_out(make_jobport: MakeJobport) -> None:
    engine = make_jobport(app="tests.apps.people", metrics=False)
    client = TestClient(create_app(engine, dashboard=False))
    assert client.get("/metrics").status_code == 404


def test_nothing_is_counted_where_nobody_serves_metrics() -> None:
    metrics.chunk_attempt("people", metrics.DONE, 0.1, processed=5)
    assert metrics._metrics is None  # not even built: a CLI command pays nothing


def test_the_local_pools_worker_processes_are_added_up(
    make_jobport: MakeJobport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chunks run in two worker processes; the scrape reads their files."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    monkeypatch.setenv(metrics.MULTIPROC_DIR, str(folder))
    engine: Jobport = make_jobport(app="tests.apps.people", executor="local", workers=2)
    source = people_file(tmp_path, 10, 2)  # four chunks of three rows

    run = engine.wait(engine.import_file("people", source).id, timeout=60)

    found = samples(metrics.exposition(engine.store)[0].decode())
    assert (run.processed, run.failed) == (12, 2)
    assert value(found, "jobport_rows_processed_total", type="people") == 12
    assert value(found, "jobport_rows_failed_total", type="people") == 2
    assert value(found, "jobport_chunk_attempts_total", type="people", outcome="done") == 4
    assert value(found, "jobport_runs_started_total", type="people", kind="import") == 1
    counted = {path.name for path in folder.iterdir()}
    assert len([name for name in counted if name.startswith("counter_")]) >= 2, counted
