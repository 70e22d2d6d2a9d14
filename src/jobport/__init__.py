"""jobport: a generic job import/export engine.

The public API is re-exported here; everything else is an implementation detail.

The names load on first use (PEP 562): ``import jobport`` alone, or a light
module such as ``jobport.errors`` or the CLI's ``jobport types``, does not pay
for SQLAlchemy, pydantic and every kind and format. ``from jobport import X``
works as before for every name of ``__all__``; type checkers read the imports
under ``TYPE_CHECKING``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobport.lazy import lazy_names

if TYPE_CHECKING:
    from jobport.dispatch import StartRequest
    from jobport.engine import Jobport
    from jobport.errors import (
        ConfigurationError,
        InputError,
        JobportError,
        RegistryError,
        RunNotFound,
        RunStateError,
        UnknownJobType,
    )
    from jobport.events import EventBus, JobEvent
    from jobport.kinds.exporter import Column, Exporter
    from jobport.kinds.importer import Importer
    from jobport.kinds.reporter import Report
    from jobport.kinds.syncer import Page, Syncer, SyncSource
    from jobport.registry import JobRegistry, JobType, NoOptions, TableRef, load_app
    from jobport.settings import Settings
    from jobport.store import RunRecord

__version__ = "0.1.0"

#: Where each public name lives: the module imported when the name is first asked for.
_HOMES: dict[str, str] = {
    "StartRequest": "jobport.dispatch",
    "Jobport": "jobport.engine",
    "ConfigurationError": "jobport.errors",
    "InputError": "jobport.errors",
    "JobportError": "jobport.errors",
    "RegistryError": "jobport.errors",
    "RunNotFound": "jobport.errors",
    "RunStateError": "jobport.errors",
    "UnknownJobType": "jobport.errors",
    "EventBus": "jobport.events",
    "JobEvent": "jobport.events",
    "Column": "jobport.kinds.exporter",
    "Exporter": "jobport.kinds.exporter",
    "Importer": "jobport.kinds.importer",
    "Report": "jobport.kinds.reporter",
    "Page": "jobport.kinds.syncer",
    "Syncer": "jobport.kinds.syncer",
    "SyncSource": "jobport.kinds.syncer",
    "JobRegistry": "jobport.registry",
    "JobType": "jobport.registry",
    "NoOptions": "jobport.registry",
    "TableRef": "jobport.registry",
    "load_app": "jobport.registry",
    "Settings": "jobport.settings",
    "RunRecord": "jobport.store",
}


__all__ = [
    "Column",
    "ConfigurationError",
    "EventBus",
    "Exporter",
    "Importer",
    "InputError",
    "JobEvent",
    "JobRegistry",
    "JobType",
    "Jobport",
    "JobportError",
    "NoOptions",
    "Page",
    "RegistryError",
    "Report",
    "RunNotFound",
    "RunRecord",
    "RunStateError",
    "Settings",
    "StartRequest",
    "SyncSource",
    "Syncer",
    "TableRef",
    "UnknownJobType",
    "__version__",
    "load_app",
]

__getattr__, __dir__ = lazy_names(__name__, _HOMES, globals(), __all__)
