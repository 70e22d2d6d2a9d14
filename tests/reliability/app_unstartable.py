"""An app whose job types load in the test's process but in no other (a broken deployment).

It refuses every process but the one named by ``UNSTARTABLE_APP_HOME``, which
the test sets to its own pid: a pool's worker processes, and also the
forkserver they are forked from. Refusing only processes that have a
multiprocessing parent would let a forkserver that preloads the app (the
first pool of a test session starts it with this app in its preload list)
import it, and every worker would inherit it, imported and working.
"""

from __future__ import annotations

import os

from .app import registry

if os.environ.get("UNSTARTABLE_APP_HOME") != str(os.getpid()):
    raise ImportError("this app cannot be imported outside the test's own process")

__all__ = ["registry"]
