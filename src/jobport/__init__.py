"""jobport: a generic job import/export engine.

The public API is re-exported here; everything else is an implementation detail.
"""

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
from jobport.kinds.exports import Column, Exporter
from jobport.kinds.imports import Importer
from jobport.kinds.reports import Report
from jobport.kinds.syncs import Page, Syncer, SyncSource
from jobport.registry import JobRegistry, JobType, NoOptions, load_app
from jobport.settings import Settings
from jobport.store import RunRecord

__version__ = "0.1.0"

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
    "UnknownJobType",
    "__version__",
    "load_app",
]
