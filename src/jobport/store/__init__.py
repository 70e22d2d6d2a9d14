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
from jobport.store.records import ChunkOutcome, Claim, Failure, Refused, RunRecord

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
    "UserRecord",
    "make_engine",
]
