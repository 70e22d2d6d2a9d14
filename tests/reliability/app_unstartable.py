"""An app whose job types load here but not in a new worker process (a broken deployment)."""

from __future__ import annotations

import multiprocessing

from .app import registry

if multiprocessing.parent_process() is not None:
    raise ImportError("this app cannot be imported in a worker process")

__all__ = ["registry"]
