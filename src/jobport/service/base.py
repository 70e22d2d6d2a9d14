"""What every use case shares: the engine's parts, the job types, and who may see what.

A run is visible to its owner and to admins; to anyone else it does not exist
(the same :class:`RunNotFound` a missing run gets, so ids cannot be probed). A
type may be started by admins and by holders of one of its roles
(:meth:`JobType.may_start`), and each start route takes the kinds it is for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobport.dispatch import StartRequest
from jobport.errors import InputError, JobportError, RunNotFound, listed
from jobport.lifecycle import RunStatus
from jobport.principal import Principal
from jobport.registry import JobType, Kind
from jobport.schedules.gate import placeholder
from jobport.store import RunRecord

if TYPE_CHECKING:
    from jobport.engine import Jobport

#: Kinds whose runs leave a file to download.
FILE_KINDS: tuple[Kind, ...] = ("export", "report")


class WrongKind(InputError):
    """A type was sent to the use case of another kind (an import type to start a sync)."""

    def __init__(self, job_type: JobType, wanted: tuple[str, ...], others: list[JobType]) -> None:
        super().__init__(
            f"'{job_type.type}' is {with_article(job_type.kind)} type, not "
            f"{' or '.join(map(with_article, wanted))}; {' or '.join(wanted)} types: "
            f"{listed(t.type for t in others) or 'none'}"
        )
        self.job_type = job_type
        self.wanted = wanted


def with_article(kind: str) -> str:
    """A kind in a sentence: "an import" but "a sync", "a report"."""
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


class Gone(JobportError):
    """What was asked for existed once and is no longer kept (an expired export file)."""

    status_code = 410
    title = "Gone"


class ServiceCore:
    """The parts of the engine every family of use cases works with, and the rules they
    share: which types one may start, which runs one may see."""

    def __init__(self, engine: Jobport) -> None:
        self.engine = engine
        self.registry = engine.registry
        self.store = engine.store
        self.files = engine.files
        self.settings = engine.settings

    def ping(self) -> None:
        """Raise unless the state database answers (what a readiness check asks)."""
        self.store.ping()

    # -- job types --------------------------------------------------------------------------

    def job_type(self, name: str) -> JobType:
        return self.registry.get(name)

    def job_types(self, *kinds: Kind) -> list[JobType]:
        return self.registry.of_kind(*kinds) if kinds else list(self.registry)

    def startable_types(self, who: Principal, *kinds: Kind) -> list[JobType]:
        """The types ``who`` may start, of the given kinds (all kinds when none given)."""
        return [t for t in self.job_types(*kinds) if t.may_start(who)]

    def startable(self, who: Principal, name: str, *kinds: Kind) -> JobType:
        """The type ``name``, checked to be of one of ``kinds`` and startable by ``who``."""
        job_type = self.registry.get(name)
        if kinds and job_type.kind not in kinds:
            raise WrongKind(job_type, kinds, self.job_types(*kinds))
        job_type.require_start(who)
        return job_type

    def discard_upload(self, key: str) -> None:
        self.files.delete(key)

    def _request(self, who: Principal, **values: Any) -> StartRequest:
        values = {k: v for k, v in values.items() if v is not None}
        return StartRequest(owner=who.owner, roles=who.roles, is_admin=who.is_admin, **values)

    # -- runs -------------------------------------------------------------------------------

    def run(self, who: Principal, run_id: str) -> RunRecord:
        """The run, if ``who`` may see it; otherwise the very error a missing run gives.

        A start waiting for a slot of its type (``queue_when_busy``) is a ``queued`` run
        not recorded yet (see :func:`jobport.schedules.gate.placeholder`).
        """
        run = self.store.find_run(run_id) or self._waiting(run_id)
        if run is None or not who.can_see(run.owner):
            raise RunNotFound(run_id)
        return run

    def _waiting(self, run_id: str) -> RunRecord | None:
        waiting = self.engine.dispatcher.gate.waiting(run_id)
        if waiting is None or waiting.type not in self.registry:
            return None
        return placeholder(waiting, self.registry.get(waiting.type), RunStatus.QUEUED)
