"""The local pool's forkserver: what it preloads, and starting it before it is needed.

Worker processes fork from a forkserver that has imported jobport and the
app once (see :mod:`jobport.executors.local`); the forkserver's own start
is an interpreter importing all of that, most of a second. A command that
will need the pool (``jobport import`` of a file of several chunks) can
start the forkserver first thing, so those imports run on the other core
while the command imports the same modules itself and plans the file,
instead of after.

This module imports nothing of jobport's but its settings' type, so calling
it costs the command nothing it would not pay anyway.
"""

from __future__ import annotations

import signal
import threading
from multiprocessing import get_context
from multiprocessing.context import BaseContext
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobport.settings import Settings

#: What every worker needs, imported once in the forkserver: the chunk worker and the
#: import path (kind, CSV reader, targets), which the kinds' registry loads on first use.
WORKER_MODULES = (
    "jobport.wiring",
    "jobport.worker",
    "jobport.kinds",
    "jobport.kinds.imports",
    "jobport.formats.csvfile",
)


def worker_context(settings: Settings, database_modules: list[str]) -> BaseContext:
    """The forkserver context, preloading jobport, the database's driver and the app.

    A forkserver is a clean single-threaded process (safe beside the threads of
    a web server, unlike a plain fork), and preloading means each worker starts
    in milliseconds instead of importing everything again for most of a second.
    The preload list only counts when the forkserver starts: one started early
    (:func:`start_early`) keeps its own.
    """
    context = get_context("forkserver")
    modules = [*WORKER_MODULES, *database_modules]
    if settings.app:
        modules.append(settings.app.partition(":")[0])
    context.set_forkserver_preload(modules)
    return context


def start_early(settings: Settings) -> None:
    """Start the forkserver now, in the background; the pool made later forks from it.

    The database's driver is left out of the preload (finding it would import
    SQLAlchemy here, before the command's own imports): a worker imports it
    when it connects, a few milliseconds. Started from a helper thread with
    Ctrl-C blocked (see :func:`block_interrupts`).
    """
    worker_context(settings, [])  # sets the preload of the one forkserver

    def start() -> None:
        from multiprocessing import forkserver

        block_interrupts()
        forkserver.ensure_running()

    threading.Thread(target=start, name="jobport-forkserver", daemon=True).start()


def block_interrupts() -> None:
    """Block SIGINT in this (helper) thread, and so in the processes it starts.

    The pool's first delivery starts the forkserver from this thread. A Ctrl-C
    reaches the whole process group, and a Python interrupted while it starts
    dies printing a fatal error. A blocked signal stays blocked across fork and
    exec: the forkserver and its workers never see Ctrl-C and leave it to the
    parent, whose main thread still receives it.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
