"""Prometheus metrics: what jobport's processes did, for ``GET /metrics`` to expose.

======================================  =========  ==========================================
name (labels)                           type       what
======================================  =========  ==========================================
``jobport_runs_started_total``          counter    runs started (type, kind); a file refused
                                                   while planning too (it also finishes)
``jobport_runs_finished_total``         counter    runs that ended (type, status); a run
                                                   resumed and ended again counts again
``jobport_rows_processed_total``        counter    rows read by committed chunks (type)
``jobport_rows_failed_total``           counter    rows rejected by committed chunks (type),
                                                   stored or only counted past the cap
``jobport_chunk_duration_seconds``      histogram  claim to commit of the chunks done (type)
``jobport_chunk_attempts_total``        counter    chunk attempts (type, outcome: done,
                                                   failed, lease_lost, set_aside)
``jobport_leases_lost_total``           counter    chunks the supervisor took back from
                                                   dead or stalled workers
``jobport_pending_chunks``              gauge      chunks waiting for a worker, read from
                                                   the state database at each scrape
``jobport_webhook_deliveries_total``    counter    webhook delivery attempts (outcome), for
                                                   the webhooks to count
                                                   (:func:`webhook_delivery`)
``jobport_schedule_firings_total``      counter    schedule slots handled (type, outcome),
                                                   for the schedules to count
                                                   (:func:`schedule_firing`)
======================================  =========  ==========================================

A value lives in the process that counts it: a chunk's in the worker process
of the local pool or of Celery that ran it, a run's end wherever its last
commit or its cancel happened. With ``PROMETHEUS_MULTIPROC_DIR`` set, every
process writes its values to files in that folder and a scrape adds up the
files of all of them (prometheus_client's multiprocess mode). ``jobport
serve`` sets it up for its server processes and their pools, and ``jobport
worker --metrics-port`` for a Celery worker's pool (a fresh temporary folder,
unless the variable is set: then that folder, which must be emptied when the
service starts, as prometheus_client requires).

Counting is on in a process that serves the metrics (:func:`enable`, called
by the app factory) or that has ``PROMETHEUS_MULTIPROC_DIR``. Elsewhere (a
CLI command) every call returns at once and prometheus_client is not even
imported. A counting call costs a few microseconds, once per chunk, never
per row. Counters are the process's, like prometheus_client's own registry:
there is one set per process, built on first use.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Histogram
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import Collector

    from jobport.events import JobEvent
    from jobport.store import JobStore

#: The environment variable of prometheus_client's multiprocess mode (a folder).
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
#: Buckets of the chunk duration histogram, in seconds: a small chunk to a slow one.
CHUNK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
#: The outcomes of a chunk attempt (``jobport_chunk_attempts_total``'s label).
DONE, FAILED, LEASE_LOST, SET_ASIDE = "done", "failed", "lease_lost", "set_aside"


@dataclass(frozen=True)
class _Metrics:
    """This process's metrics; ``registry`` is None in multiprocess mode (files are read)."""

    registry: CollectorRegistry | None
    runs_started: Counter
    runs_finished: Counter
    rows_processed: Counter
    rows_failed: Counter
    chunk_seconds: Histogram
    chunk_attempts: Counter
    leases_lost: Counter
    webhook_deliveries: Counter
    schedule_firings: Counter


_metrics: _Metrics | None = None
_enabled = False
_lock = threading.Lock()


def enable() -> None:
    """Count in this process even without ``PROMETHEUS_MULTIPROC_DIR`` (it serves /metrics)."""
    global _enabled
    _enabled = True


def reset() -> None:
    """Forget this process's metrics: the next count builds them again, in the mode the
    environment says now (tests switch between single and multiprocess mode)."""
    global _metrics, _enabled
    with _lock:
        _metrics, _enabled = None, False
        values = sys.modules.get("prometheus_client.values")
        close = getattr(values, "close_all_multiprocess_files", None)
        if close is not None:
            close()  # the files of multiprocess mode, open until now


def _live(*, force: bool = False) -> _Metrics | None:
    """This process's metrics, built on first use; None when counting is off here."""
    metrics = _metrics
    if metrics is not None:
        return metrics
    if not (force or _enabled or os.environ.get(MULTIPROC_DIR)):
        return None
    return _build()


def _build() -> _Metrics:
    global _metrics
    from prometheus_client import CollectorRegistry, Counter, Histogram, values

    with _lock:
        if _metrics is not None:
            return _metrics
        multiprocess = bool(os.environ.get(MULTIPROC_DIR))
        # prometheus_client picks its value class when first imported; the folder may
        # have been set after that (a test, an app that imported it early).
        if multiprocess and not getattr(values.ValueClass, "_multiprocess", False):
            values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        elif not multiprocess and getattr(values.ValueClass, "_multiprocess", False):
            values.ValueClass = values.MutexValue
        registry = None if multiprocess else CollectorRegistry()
        _metrics = _Metrics(
            registry=registry,
            runs_started=Counter(
                "jobport_runs_started", "Runs started.", ["type", "kind"], registry=registry
            ),
            runs_finished=Counter(
                "jobport_runs_finished", "Runs ended.", ["type", "status"], registry=registry
            ),
            rows_processed=Counter(
                "jobport_rows_processed", "Rows read by chunks.", ["type"], registry=registry
            ),
            rows_failed=Counter(
                "jobport_rows_failed", "Rows rejected by chunks.", ["type"], registry=registry
            ),
            chunk_seconds=Histogram(
                "jobport_chunk_duration_seconds",
                "Seconds from a chunk's claim to its commit.",
                ["type"],
                buckets=CHUNK_BUCKETS,
                registry=registry,
            ),
            chunk_attempts=Counter(
                "jobport_chunk_attempts", "Chunk attempts.", ["type", "outcome"], registry=registry
            ),
            leases_lost=Counter(
                "jobport_leases_lost",
                "Chunks taken back from dead or stalled workers.",
                registry=registry,
            ),
            webhook_deliveries=Counter(
                "jobport_webhook_deliveries",
                "Webhook delivery attempts.",
                ["outcome"],
                registry=registry,
            ),
            schedule_firings=Counter(
                "jobport_schedule_firings",
                "Schedule slots handled.",
                ["type", "outcome"],
                registry=registry,
            ),
        )
        return _metrics


# -- counting ---------------------------------------------------------------------------------


def run_started(type: str, kind: str) -> None:
    if (metrics := _live()) is not None:
        metrics.runs_started.labels(type, kind).inc()


def run_finished(type: str, status: str) -> None:
    if (metrics := _live()) is not None:
        metrics.runs_finished.labels(type, status).inc()


def observe_event(event: JobEvent) -> None:
    """An event bus listener: a run's end (its terminal event) counts as finished."""
    if event.terminal:
        run_finished(event.type, event.status)


def chunk_attempt(
    type: str, outcome: str, seconds: float, *, processed: int = 0, failed: int = 0
) -> None:
    """One attempt at a chunk ended: how, how long it took, the rows it committed."""
    if (metrics := _live()) is None:
        return
    metrics.chunk_attempts.labels(type, outcome).inc()
    if outcome == DONE:
        metrics.chunk_seconds.labels(type).observe(seconds)
        metrics.rows_processed.labels(type).inc(processed)
        metrics.rows_failed.labels(type).inc(failed)


def leases_lost(count: int) -> None:
    if count and (metrics := _live()) is not None:
        metrics.leases_lost.inc(count)


def webhook_delivery(outcome: str) -> None:
    """One webhook delivery attempt ended (``outcome``: delivered, failed, ...)."""
    if (metrics := _live()) is not None:
        metrics.webhook_deliveries.labels(outcome).inc()


def schedule_firing(type: str, outcome: str) -> None:
    """A schedule's slot was handled (``outcome``: started, queued, skipped, failed, ...)."""
    if (metrics := _live()) is not None:
        metrics.schedule_firings.labels(type, outcome).inc()


# -- exposing ---------------------------------------------------------------------------------


def exposition(store: JobStore | None = None) -> tuple[bytes, str]:
    """The text a scrape gets, and its media type: every process's counts (multiprocess
    mode) or this process's, and the gauges read from ``store`` now."""
    from prometheus_client import exposition as text
    from prometheus_client.multiprocess import MultiProcessCollector

    metrics = _live(force=True)
    assert metrics is not None
    folder = os.environ.get(MULTIPROC_DIR)
    sources: list[Collector] = []
    if metrics.registry is not None:
        sources.append(metrics.registry)
    elif folder:
        sources.append(MultiProcessCollector(None, path=folder))  # type: ignore[no-untyped-call]
    media = getattr(text, "CONTENT_TYPE_PLAIN_0_0_4", text.CONTENT_TYPE_LATEST)
    return text.generate_latest(_Scrape(sources, store)), media


class _Scrape:
    """The collectors of one scrape, and the gauges computed from the store at that moment."""

    def __init__(self, sources: Sequence[Collector], store: JobStore | None) -> None:
        self.sources = sources
        self.store = store

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        from jobport.store.gauges import Gauges  # the store's read of them: at a scrape

        for source in self.sources:
            yield from source.collect()
        if self.store is not None:
            pending = Gauges(self.store.engine).pending_chunks()
            yield GaugeMetricFamily(
                "jobport_pending_chunks", "Chunks waiting for a worker.", value=pending
            )


# -- the processes ----------------------------------------------------------------------------


def multiprocess_folder() -> tuple[str, bool]:
    """The folder the processes about to start share their counts in, and whether it was
    made here (a fresh temporary one, to remove when they end) rather than given."""
    given = os.environ.get(MULTIPROC_DIR)
    if given:
        os.makedirs(given, exist_ok=True)
        return given, False
    return tempfile.mkdtemp(prefix="jobport-metrics-"), True


@contextlib.contextmanager
def shared_folder(enabled: bool = True) -> Iterator[str | None]:
    """While the processes started inside run: ``PROMETHEUS_MULTIPROC_DIR`` set for them,
    to the folder given or to a fresh temporary one (removed after)."""
    if not enabled:
        yield None
        return
    folder, fresh = multiprocess_folder()
    os.environ[MULTIPROC_DIR] = folder
    try:
        yield folder
    finally:
        if fresh:
            os.environ.pop(MULTIPROC_DIR, None)
            shutil.rmtree(folder, ignore_errors=True)


def serve_worker_metrics(port: int, host: str = "0.0.0.0") -> None:
    """Serve the counts of this machine's worker processes on ``port`` (``jobport worker
    --metrics-port``), from a thread of the calling process; needs the shared folder."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=os.environ[MULTIPROC_DIR])  # type: ignore[no-untyped-call]
    start_http_server(port, addr=host, registry=registry)
