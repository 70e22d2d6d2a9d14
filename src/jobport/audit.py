"""The audit trail's vocabulary: what was done to a run, by whom, through which face.

An :class:`AuditEntry` is written by the application layer where the use
case is (see :mod:`jobport.store.audit`): the actor is the caller's name
(empty: the local operator), ``via`` the face the caller came through, as
:class:`~jobport.principal.Principal` carries it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from jobport.principal import Principal


class Action(StrEnum):
    """What people do to runs that the audit trail records."""

    STARTED = "started"
    CANCELLED = "cancelled"
    RETRIED = "retried"
    RESUMED = "resumed"
    UNDID = "undid"
    DOWNLOADED = "downloaded"
    SHARED = "shared"


#: The faces a caller comes through (``Principal.via``); "python" is an embedding app,
#: "link" a download through a signed link (no signed-in caller).
VIAS = ("cli", "api", "dashboard", "python", "link")


@dataclass(frozen=True)
class AuditEntry:
    """One recorded action on a run (``run_id`` is the run acted on)."""

    action: Action
    run_id: str | None
    actor: str | None
    via: str
    at: datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat() if self.at else None,
            "actor": self.actor or ("link holder" if self.via == "link" else "operator"),
            "via": self.via,
            "action": str(self.action),
            "run_id": self.run_id,
            "detail": self.detail,
        }


def entry(who: Principal | None, action: Action, run_id: str, **detail: Any) -> AuditEntry:
    """What ``who`` did to ``run_id``, as the service records it after each use case.

    ``who`` None is someone holding a signed link (no name, no face of ours); details
    that are None are left out, so a row says only what is known.
    """
    return AuditEntry(
        action,
        run_id,
        who.owner if who is not None else None,
        who.via if who is not None else "link",
        detail={key: value for key, value in detail.items() if value is not None},
    )


__all__ = ["VIAS", "Action", "AuditEntry", "entry"]
