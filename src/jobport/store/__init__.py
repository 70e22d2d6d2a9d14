"""State storage: tables, migrations and the JobStore."""

from jobport.store.database import make_engine
from jobport.store.jobstore import (
    CommitConflict,
    JobStore,
    NewRun,
    NotYourTurn,
    RunFilter,
    UserRecord,
)
from jobport.store.records import ChunkOutcome, Claim, Failure, Refused, RunRecord, RunResult

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
