"""The app for ``celery -A jobport.executors.celery_app worker``.

``app`` is created on first access, from the ``JOBPORT_*`` environment of the
process that asks for it (the job types come from ``JOBPORT_APP``), so merely
importing this module builds nothing. ``jobport worker`` is the usual way to
start a worker; this module exists for deployments that drive Celery's own
command line.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_app: Any = None


def get_app() -> Any:
    """The process's Celery app, built from environment settings on first call."""
    global _app
    with _lock:
        if _app is None:
            from jobport.executors.celery import create_app
            from jobport.settings import Settings

            _app = create_app(Settings())
        return _app


def __getattr__(name: str) -> Any:
    if name in ("app", "celery"):
        return get_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
