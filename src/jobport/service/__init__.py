"""The application layer: one method per use case, for every face.

The CLI, the HTTP API and the dashboard say *who* asks (a :class:`Principal`)
and *what* for; this package decides whether they may and does it. The rules
live here once:

- a run is visible to its owner and to admins; to anyone else it does not
  exist (the same :class:`RunNotFound` a missing run gets, so ids cannot be
  probed);
- a type may be started by admins and by holders of one of its roles
  (:meth:`JobType.may_start`);
- each start route takes the kinds it is for, and says which types it takes
  when given another kind.

Faces turn the results into their own shapes (a table, JSON, a page) and the
errors into exit codes or problem+json; they never reach the store, the
dispatcher or each other.

The use cases come in families, one module each: what they all share
(:mod:`~jobport.service.base`), preparing an import
(:mod:`~jobport.service.preparing`), starting runs
(:mod:`~jobport.service.starts`), reading and controlling runs
(:mod:`~jobport.service.runs`), result files (:mod:`~jobport.service.results`),
signing in (:mod:`~jobport.service.sessions`), users and their tokens
(:mod:`~jobport.service.accounts`) and pruning old runs
(:mod:`~jobport.service.pruning`). :class:`JobService`
composes them, so a face holds one object.
"""

from __future__ import annotations

from jobport.service.accounts import AccountUses, UserExists
from jobport.service.base import FILE_KINDS, Gone, ServiceCore, WrongKind, with_article
from jobport.service.preparing import PrepareUses, UploadColumns
from jobport.service.pruning import PruneUses
from jobport.service.results import ResultFile, ResultUses, aware, parse_time
from jobport.service.runs import RunUses
from jobport.service.sessions import SessionUses
from jobport.service.starts import ImportStart, StartUses


class JobService(
    PrepareUses,
    StartUses,
    RunUses,
    ResultUses,
    SessionUses,
    AccountUses,
    PruneUses,
    ServiceCore,
):
    """Every use case of jobport, over one engine (the composition root that built the parts)."""


__all__ = [
    "FILE_KINDS",
    "Gone",
    "ImportStart",
    "JobService",
    "ResultFile",
    "UploadColumns",
    "UserExists",
    "WrongKind",
    "aware",
    "parse_time",
    "with_article",
]
