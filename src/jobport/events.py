"""Run events and the in-process bus that hands them to listeners.

Events are facts about a run after a commit. Listeners are called in the
order they were registered; one that raises is logged and skipped, because a
broken notification hook must never fail the work that already committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)

EventName = Literal["JobProgressed", "JobCompleted", "JobFailed"]
TERMINAL_EVENTS: frozenset[str] = frozenset({"JobCompleted", "JobFailed"})


@dataclass(frozen=True)
class JobEvent:
    """What subscribers see: the event name and the run's counters after it."""

    name: EventName
    run_id: str
    type: str
    kind: str
    status: str
    total: int | None
    processed: int
    failed: int
    seq: int
    rows_per_second: float | None = None
    eta_seconds: float | None = None
    error: str | None = None
    #: An import's rows created, updated and left unchanged so far (a dry run's: would be).
    created: int | None = None
    updated: int | None = None
    unchanged: int | None = None
    dry_run: bool = False

    @property
    def terminal(self) -> bool:
        return self.name in TERMINAL_EVENTS

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.name, **{k: v for k, v in asdict(self).items() if k != "name"}}


Listener = Callable[[JobEvent], Any]


class EventBus:
    """Calls listeners in order; a listener that raises is logged, never propagated."""

    def __init__(self, listeners: Iterable[Listener] = ()) -> None:
        self._listeners: list[Listener] = list(listeners)

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def publish(self, event: JobEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception(
                    "event listener %r failed on %s of run %s", listener, event.name, event.run_id
                )
