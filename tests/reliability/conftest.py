"""A place per test (state database, storage, flag files), worker processes, and checks.

Nothing here sleeps to synchronise: every wait polls a condition in the store
or on disk against a deadline, and fails saying what it waited for.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from jobport.demo.data import COLUMNS, generate
from jobport.engine import Jobport
from jobport.settings import Settings
from jobport.store import RunRecord, make_engine
from jobport.store.tables import job_chunks, job_failures, job_runs

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.reliability.app"
HOST = socket.gethostname()

BIG_ROWS = 200_000
BIG_DIRTY = 0.02
BIG_SEED = 11

T = TypeVar("T")


def wait_until(check: Callable[[], T], *, timeout: float, what: str, every: float = 0.01) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout} s waiting for {what}")
        pause.wait(every)


# -- files ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Customers:
    """A generated customers file and what a correct import of it must leave behind."""

    path: Path
    rows: int
    valid: dict[int, str]  # id -> email, for every row that passes validation
    invalid_lines: list[int]


def write_customers(path: Path, rows: int, *, dirty: float, seed: int) -> Customers:
    valid: dict[int, str] = {}
    invalid: list[int] = []
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in generate(rows, dirty=dirty, seed=seed):
            writer.writerow(row.values)
            if row.defect is None:
                valid[int(row.values[0])] = row.values[1]
            else:
                invalid.append(row.line)
    return Customers(path, rows, valid, invalid)


@pytest.fixture(scope="session")
def big_customers(tmp_path_factory: pytest.TempPathFactory) -> Customers:
    """200,000 customers, 2% invalid, written once per session."""
    folder = tmp_path_factory.mktemp("big")
    return write_customers(folder / "customers.csv", BIG_ROWS, dirty=BIG_DIRTY, seed=BIG_SEED)


@pytest.fixture(scope="session")
def mid_customers(tmp_path_factory: pytest.TempPathFactory) -> Customers:
    """60,000 customers (30 chunks), 2% invalid, written once per session."""
    folder = tmp_path_factory.mktemp("mid")
    return write_customers(folder / "customers.csv", 60_000, dirty=BIG_DIRTY, seed=BIG_SEED + 1)


def write_items(path: Path, rows: int, *, names: dict[int, str] | None = None) -> dict[int, str]:
    """Items 1..rows named ``item-<id>`` unless ``names`` says otherwise; returns id -> name."""
    names = names or {}
    written = {}
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "name", "qty"])
        for item_id in range(1, rows + 1):
            name = names.get(item_id, f"item-{item_id}")
            writer.writerow([item_id, name, item_id % 7])
            written[item_id] = name
    return written


# -- an executor that delivers nothing --------------------------------------------------------


class Undelivered:
    """Plans are recorded, chunks are left pending: the test decides who works on them."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, list[int]]] = []

    def submit(self, run_id: str, chunks: Sequence[int]) -> None:
        self.submitted.append((run_id, list(chunks)))

    def close(self) -> None:
        return None


# -- a place to run jobs ----------------------------------------------------------------------


@dataclass
class Place:
    folder: Path
    engines: list[Jobport] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.flags.mkdir(exist_ok=True)
        self._database = make_engine(self.database_url)

    @property
    def flags(self) -> Path:
        return self.folder / "flags"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.folder / 'state.db'}"

    def settings_values(self, **overrides: Any) -> dict[str, Any]:
        return {
            "database_url": self.database_url,
            "storage_url": str(self.folder / "files"),
            "app": APP,
            "executor": "inline",
            "workers": 2,
            "retry_backoff_seconds": 0.05,
            **overrides,
        }

    def jobport(self, *, recover: bool = False, **overrides: Any) -> Jobport:
        engine = Jobport(Settings(**self.settings_values(**overrides)), recover=recover)
        self.engines.append(engine)
        return engine

    def planned(self, engine: Jobport, job_type: str, path: Path) -> RunRecord:
        """Plan an import whose chunks nobody delivers yet."""
        deliver = engine.dispatcher.executor
        engine.dispatcher.executor = Undelivered()
        try:
            return engine.import_file(job_type, path)
        finally:
            engine.dispatcher.executor = deliver

    def env(self, **overrides: Any) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBPORT_", "RELIABILITY"))}
        for name, value in self.settings_values(**overrides).items():
            env[f"JOBPORT_{name.upper()}"] = str(value)
        env["RELIABILITY_FLAGS"] = str(self.flags)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env["COLUMNS"] = "200"
        return env

    def spawn(
        self, args: Sequence[str], *, extra_env: dict[str, str] | None = None, **overrides: Any
    ) -> subprocess.Popen[bytes]:
        """Start ``python args...`` in a session of its own (so its children die with it)."""
        with open(self.folder / f"stderr-{len(self.processes)}.txt", "wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, *args],
                cwd=self.folder,
                env={**self.env(**overrides), **(extra_env or {})},
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def stderr(self, process: subprocess.Popen[bytes]) -> str:
        """What a process started with :meth:`spawn` wrote on its standard error."""
        index = self.processes.index(process)
        return (self.folder / f"stderr-{index}.txt").read_text(errors="replace")

    def driver(self, run_id: str, **overrides: Any) -> subprocess.Popen[bytes]:
        extra = overrides.pop("extra_env", None)
        return self.spawn(["-m", "tests.reliability.driver", run_id], extra_env=extra, **overrides)

    def cli(self, *args: str, **overrides: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jobport.cli", *args],
            cwd=self.folder,
            env=self.env(**overrides),
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        """SIGKILL the process and everything it started, and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    # -- reading the state database ---------------------------------------------------------

    def query(self, statement: Any) -> list[Any]:
        with self._database.connect() as conn:
            return list(conn.execute(statement).all())

    def run(self, run_id: str) -> dict[str, Any]:
        return dict(self.query(sa.select(job_runs).where(job_runs.c.id == run_id))[0]._mapping)

    def chunks(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.query(
            sa.select(job_chunks).where(job_chunks.c.run_id == run_id).order_by(job_chunks.c.no)
        )
        return [dict(row._mapping) for row in rows]

    def failure_lines(self, run_id: str) -> list[int]:
        rows = self.query(
            sa.select(job_failures.c.line)
            .where(job_failures.c.run_id == run_id)
            .order_by(job_failures.c.line)
        )
        return [row.line for row in rows]

    def table(self, name: str, *columns: str) -> list[tuple[Any, ...]]:
        cols = ", ".join(columns)
        return [tuple(row) for row in self.query(sa.text(f"SELECT {cols} FROM {name} ORDER BY 1"))]

    def held_by(self, run_id: str, owner: str) -> list[int]:
        return [
            c["no"]
            for c in self.chunks(run_id)
            if c["status"] == "running" and c["lease_owner"] == owner
        ]

    def wait_finished(self, run_id: str, timeout: float) -> dict[str, Any]:
        return wait_until(
            lambda: (
                (run := self.run(run_id))["finished_at"] is not None
                and run["status"] not in ("queued", "running")
                and run
            ),
            timeout=timeout,
            what=f"run {run_id} to finish",
            every=0.05,
        )

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                self.kill(process)
        for engine in self.engines:
            engine.close()
        self._database.dispose()


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Place]:
    here = Place(tmp_path)
    # For the test app's flag files in this process and in the pool workers it spawns.
    monkeypatch.setenv("RELIABILITY_FLAGS", str(here.flags))
    try:
        yield here
    finally:
        here.close()


# -- progress ---------------------------------------------------------------------------------


class ProgressSampler:
    """Reads a run's (processed, failed) from the store as often as it can, on a thread."""

    def __init__(self, place: Place, run_id: str) -> None:
        self._place = place
        self._run_id = run_id
        self._stop = threading.Event()
        self.seen: list[tuple[int, int]] = []
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> ProgressSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        statement = sa.select(job_runs.c.processed, job_runs.c.failed).where(
            job_runs.c.id == self._run_id
        )
        while not self._stop.wait(0.002):
            processed, failed = self._place.query(statement)[0]
            if not self.seen or self.seen[-1] != (processed, failed):
                self.seen.append((processed, failed))


def assert_monotonic(observed: Sequence[tuple[int, int]], total: int) -> None:
    """Progress never goes backwards and never passes the total."""
    assert observed, "no progress was observed"
    for before, after in itertools.pairwise(observed):
        backwards = after[0] < before[0] or after[1] < before[1]
        assert not backwards, f"progress went backwards: {before} -> {after}"
    assert all(0 <= p <= total and 0 <= f <= p for p, f in observed), observed
