"""Ctrl-C while the CLI's own thread validates a chunk ends the process with 130, not SIGABRT.

``jobport import`` runs chunks in its own (daemon) thread until the pool answers.
Interrupted then, the command stopped the run and closed the pool, and the
interpreter's teardown ended that thread wherever it was: inside pydantic-core's
validation, calling a Python validator, that aborted the whole process ("FATAL:
exception not rethrown", exit -6) about one time in six on a busy machine. Here
every chunk waits at a gate inside a field validator, so the thread is surely there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import psutil
import pytest
from tests.e2e.test_cli import make_cli
from tests.e2e.test_cli_first_steps import start_interruptible_import, wait_for_status

pytestmark = pytest.mark.e2e

#: The demo's customers, each chunk's fifth row waiting in a validator for a gate file.
GATED_IN_VALIDATION = """
import time
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator

from jobport import Importer, JobRegistry, JobType
from jobport.demo import Customer, customers


def wait_at_the_gate(value: int) -> int:
    if value % 1_000 == 5:
        Path(f"waiting-{value}").touch()
        while not Path("gate").exists():
            time.sleep(0.005)
    return value


class Gated(Customer):
    id: Annotated[int, AfterValidator(wait_at_the_gate)]


registry = JobRegistry()
registry.add(
    JobType(
        type="customers",
        label="Customers",
        kind="import",
        model=customers,
        handler=Importer(row=Gated, key="id"),
        chunk_size=1_000,
    )
)
"""


@pytest.mark.parametrize("attempt", range(3))
def test_ctrl_c_while_its_own_thread_validates_exits_130(tmp_path: Path, attempt: int) -> None:
    cli = make_cli(tmp_path)
    process = start_interruptible_import(cli, "gated_validation", GATED_IN_VALIDATION, 3_000)
    try:
        wait_for_status(cli, "running")
        deadline = time.monotonic() + 60
        # Chunk 0 (ids 1-1000) is the one the CLI's own thread takes first.
        while not (cli.cwd / "waiting-5").exists():
            assert time.monotonic() < deadline, "the first chunk never reached its gate"
            time.sleep(0.01)
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr
    assert "Fatal Python error" not in stderr
    assert "interrupted: run" in stderr
    leftovers = [
        p
        for p in psutil.process_iter(["cmdline"])
        if str(cli.cwd) in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == []
