"""Removing finished runs past an age, with their rows and files, when someone asks.

The rules (what goes, what is kept, in what order) are
:class:`jobport.retention.Retention`'s, the same the supervisor applies on its
own with ``JOBPORT_RETENTION_DAYS``; this use case lets an admin apply them
now, or see what they would remove.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from jobport.principal import Principal
from jobport.service.accounts import require_admin
from jobport.service.base import ServiceCore

if TYPE_CHECKING:
    from jobport.retention import PruneReport


class PruneUses(ServiceCore):
    """Pruning old runs on demand."""

    def prune(
        self,
        who: Principal,
        age: timedelta,
        *,
        type: str | None = None,
        dry_run: bool = False,
    ) -> PruneReport:
        """Remove the finished runs (of ``type``, when given) older than ``age``; with
        ``dry_run``, only say what would go. Every user's runs go, so only an admin may."""
        require_admin(who, "prune runs")
        from jobport.retention import Retention  # loaded by a prune, not by every command

        return Retention(self.store, self.files).prune(age, type=type, dry_run=dry_run)
