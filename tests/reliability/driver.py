"""A chunk worker the tests can kill: ``python -m tests.reliability.driver RUN_ID``.

It is what a worker process is, without a queue in front of it: an engine on
the inline executor built from the ``JOBPORT_*`` environment, the sweeper
thread every long-lived process runs, and a loop that delivers the run's
pending chunks to :func:`jobport.worker.run_chunk` until the run ends. Its
lease owner is ``host:pid``, so a test can see what it holds.
"""

from __future__ import annotations

import sys
import threading
import time

from jobport.engine import Jobport
from jobport.settings import Settings
from jobport.worker import run_chunk

#: A driver never outlives a test that forgot it.
LIFETIME_SECONDS = 300


def main(run_id: str) -> int:
    idle = threading.Event()
    deadline = time.monotonic() + LIFETIME_SECONDS
    with Jobport(Settings(executor="inline")) as engine:
        engine.start_sweeper()
        ctx = engine.worker_context()
        while time.monotonic() < deadline:
            if engine.store.get_run(run_id).finished:
                return 0
            claimed = False
            for no in engine.store.pending_chunks(run_id):
                result = run_chunk(ctx, run_id, no)
                claimed = claimed or result.detail == ""
            if not claimed:
                idle.wait(0.02)  # nothing to take right now: look again soon
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
