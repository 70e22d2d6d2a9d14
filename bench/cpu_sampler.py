"""Where the CPU of a run goes, by component, from /proc (Linux).

:class:`CpuSampler` reads every process's CPU time (utime + stime) every
``interval`` seconds while a measurement runs, keeping the last value seen
per process so processes that end during it (a PostgreSQL backend, a pool
worker) still count, and the machine's busy and idle time from /proc/stat.
It reports CPU seconds per component (the ``classify`` of a process's
command line) and how busy the machine's cores were: the profile that says
whether a figure is bound by the cores or by waiting.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: str) -> tuple[float, str, str] | None:
    """A process's CPU seconds (user + system), command line and parent's pid."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS, command, fields[1]


def _machine() -> tuple[float, float]:
    """Busy and idle seconds of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICKS, idle / TICKS


def component(command: str) -> str:
    """The default classification: the run's own processes by their role."""
    if command.startswith("postgres"):
        return "postgresql"
    if "redis-server" in command or "beam.smp" in command:
        return "broker"
    if "jobport worker" in command or " worker " in command:
        return "celery workers"
    if "python" in command or "jobport" in command:
        return "jobport (dispatcher, pool)"
    return "other"


class CpuSampler:
    """Sample the CPU of every process while the ``with`` block runs."""

    def __init__(self, interval: float = 0.1, classify: Callable[[str], str] = component) -> None:
        self.interval = interval
        self.classify = classify
        self._start: dict[str, float] = {}
        self._last: dict[str, tuple[float, str, str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._machine_start = (0.0, 0.0)
        self.busy = self.idle = 0.0

    def __enter__(self) -> CpuSampler:
        self._machine_start = _machine()
        for pid in os.listdir("/proc"):
            if pid.isdigit() and (seen := _cpu_of(pid)) is not None:
                self._start[pid] = seen[0]
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        busy, idle = _machine()
        self.busy = busy - self._machine_start[0]
        self.idle = idle - self._machine_start[1]

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        for pid in os.listdir("/proc"):
            if pid.isdigit() and (seen := _cpu_of(pid)) is not None:
                # The parent first seen: a process outliving its parent is then init's.
                parent = self._last[pid][2] if pid in self._last else seen[2]
                self._last[pid] = (seen[0], seen[1], parent)

    def by_component(self) -> dict[str, float]:
        """CPU seconds used during the block, per component (largest first)."""
        used: dict[str, float] = defaultdict(float)
        for pid, (cpu, command, _) in self._last.items():
            spent = cpu - self._start.get(pid, 0.0)
            if spent > 0:
                used[self.classify(command)] += spent
        return dict(sorted(((k, round(v, 2)) for k, v in used.items()), key=lambda kv: -kv[1]))

    def tree(self, root: int) -> set[str]:
        """The pids of process ``root`` and of every process it started, seen while sampling."""
        found, grown = {str(root)}, True
        while grown:
            added = {pid for pid, (_, _, parent) in self._last.items() if parent in found}
            grown = bool(added - found)
            found |= added
        return found

    def spent(self, pid: str) -> float:
        """CPU seconds process ``pid`` used during the block (0 if never seen)."""
        cpu = self._last.get(pid, (0.0, "", ""))[0]
        return max(cpu - self._start.get(pid, 0.0), 0.0)

    def commands(self) -> dict[str, str]:
        """Each process seen, by pid: its command line."""
        return {pid: command for pid, (_, command, _) in self._last.items()}

    def utilisation(self) -> float:
        """The share of all cores' time that was busy during the block."""
        total = self.busy + self.idle
        return self.busy / total if total else 0.0


def measure(work: Callable[[], object]) -> tuple[float, CpuSampler]:
    """Wall seconds of ``work`` and its CPU profile."""
    with CpuSampler() as sampler:
        started = time.perf_counter()
        work()
        seconds = time.perf_counter() - started
    return seconds, sampler
