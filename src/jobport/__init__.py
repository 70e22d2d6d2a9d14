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
from jobport.kinds.imports import Importer
from jobport.registry import JobRegistry, JobType, NoOptions, load_app
from jobport.settings import Settings
from jobport.store import RunRecord

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "EventBus",
    "Importer",
    "InputError",
    "JobEvent",
    "JobRegistry",
    "JobType",
    "Jobport",
    "JobportError",
    "NoOptions",
    "RegistryError",
    "RunNotFound",
    "RunRecord",
    "RunStateError",
    "Settings",
    "StartRequest",
    "UnknownJobType",
    "__version__",
    "load_app",
]
