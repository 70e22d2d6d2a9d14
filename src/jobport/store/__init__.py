"""State storage: tables, migrations and the JobStore.

The names load on first use (PEP 562), as :mod:`jobport`'s do: importing a
light module of this package (:mod:`jobport.store.records`,
:mod:`jobport.store.run_rows`) does not import the JobStore and SQLAlchemy,
so ``jobport status`` can read a run from the embedded SQLite file without
them. ``from jobport.store import X`` works for every name of ``__all__``;
type checkers read the imports under ``TYPE_CHECKING``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobport.lazy import lazy_names

if TYPE_CHECKING:
    from jobport.store.database import make_engine
    from jobport.store.jobstore import (
        CommitConflict,
        JobStore,
        NewRun,
        NotYourTurn,
        RunFilter,
        UserRecord,
    )
    from jobport.store.records import (
        ChunkOutcome,
        Claim,
        Failure,
        Refused,
        RunRecord,
        RunResult,
    )

#: Where each public name lives: the module imported when the name is first asked for.
_HOMES: dict[str, str] = {
    "ChunkOutcome": "jobport.store.records",
    "Claim": "jobport.store.records",
    "CommitConflict": "jobport.store.jobstore",
    "Failure": "jobport.store.records",
    "JobStore": "jobport.store.jobstore",
    "NewRun": "jobport.store.jobstore",
    "NotYourTurn": "jobport.store.jobstore",
    "Refused": "jobport.store.records",
    "RunFilter": "jobport.store.jobstore",
    "RunRecord": "jobport.store.records",
    "RunResult": "jobport.store.records",
    "UserRecord": "jobport.store.jobstore",
    "make_engine": "jobport.store.database",
}

__all__ = [
    "ChunkOutcome",
    "Claim",
    "CommitConflict",
    "Failure",
    "JobStore",
    "NewRun",
    "NotYourTurn",
    "Refused",
    "RunFilter",
    "RunRecord",
    "RunResult",
    "UserRecord",
    "make_engine",
]

__getattr__, __dir__ = lazy_names(__name__, _HOMES, globals(), __all__)
