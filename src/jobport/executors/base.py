"""What the dispatcher and the supervisor need from an executor: deliver chunks, eventually.

An executor only carries "run chunk n of run r". Losing or repeating a
delivery is safe because the store decides what a delivery may do; finding
the deliveries that were lost is the supervisor's job
(:mod:`jobport.recovery`), helped by whichever of the hooks below the
executor can answer. :class:`ExecutorBase` answers none of them, so an
executor overrides only what it knows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol


class Executor(Protocol):
    #: It knows which deliveries it is making (the local pool): the supervisor
    #: hands it the pending chunks of this process's runs, and it makes again
    #: those it is not making (:meth:`pump`).
    tracks_deliveries: ClassVar[bool]
    #: Its broker can count what waits in a run's queue (Celery): the supervisor
    #: sends again a chunk nobody claimed while nothing waits (:meth:`backlog`).
    counts_backlog: ClassVar[bool]

    def submit(self, run_id: str, chunks: Sequence[int]) -> None:
        """Deliver each chunk of the run to the generic worker."""

    def warm(self) -> None:
        """Get ready for work that is about to come (e.g. start worker processes)."""

    def pump(self, run_id: str, chunks: Sequence[int]) -> int:
        """Deliver those of ``chunks`` not already on their way; returns how many."""

    def serving(self) -> bool:
        """Whether its workers run deliveries now (False while a local pool still starts)."""

    def backlog(self, run_id: str) -> int | None:
        """Deliveries waiting for a worker in the run's queue; None when it cannot say."""

    def wait_for_delivery(self, timeout: float) -> None:
        """Block until one of its deliveries ends (a chunk committed, say), at most ``timeout``."""

    def settle(self, run_id: str, timeout: float) -> None:
        """Block until no delivery of the run is in a worker's hands, at most ``timeout``."""

    def close(self) -> None:
        """Stop accepting work and release resources (pending work may be dropped)."""

    def terminate(self) -> None:
        """Close at once, ending work in progress (a process told to stop)."""


class ExecutorBase:
    """The no-op hooks: an executor that neither tracks its deliveries nor counts a backlog."""

    tracks_deliveries: ClassVar[bool] = False
    counts_backlog: ClassVar[bool] = False

    def warm(self) -> None:
        """Nothing to start ahead of time."""

    def pump(self, run_id: str, chunks: Sequence[int]) -> int:
        return 0

    def serving(self) -> bool:
        """Workers elsewhere (or the caller itself) are always there to run a delivery."""
        return True

    def backlog(self, run_id: str) -> int | None:
        return None

    def wait_for_delivery(self, timeout: float) -> None:
        """It cannot tell when a delivery ends (workers elsewhere): the whole ``timeout``."""
        time.sleep(timeout)

    def settle(self, run_id: str, timeout: float) -> None:
        """Nothing of the run is in its hands that it could wait for."""

    def close(self) -> None:
        return None

    def terminate(self) -> None:
        self.close()


@dataclass(frozen=True)
class Recovered:
    """What the supervisor made of the losses of a pool whose workers died."""

    #: Deliveries to make again (chunks pending again, of runs still going).
    redeliver: list[tuple[str, int]]
    #: How many chunks had the loss counted as a failed attempt.
    charged: int


#: Told which workers died (worker name -> reason to count against its chunk, or
#: None when the worker was only stopped) and which deliveries were lost with them.
LostWorkers = Callable[[Mapping[str, str | None], Collection[tuple[str, int]]], Recovered]
#: Told to fail these runs with this reason (their deliveries cannot go on).
GiveUp = Callable[[Sequence[str], str], None]
