"""What a user declares for a sync type: the :class:`Syncer`, its :class:`SyncSource` and
the :class:`Page` s a source returns.

Apart from the sync kind's machinery (:mod:`jobport.kinds.syncs`), as
:mod:`jobport.kinds.exporter` is from the export kind's: an app module that
declares a sync type loads these, not the store, the targets and the
validation a sync's chunks run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from jobport.kinds.importer import Importer, Transform


@dataclass(frozen=True)
class Page:
    """One page of a source: its records, and the cursor after it (JSON-able)."""

    records: Sequence[Mapping[str, Any]]
    cursor: Any


class SyncSource(Protocol):
    """Where a sync reads from: another database, an HTTP endpoint, a file."""

    def pages(self, after: Any, options: Any) -> Iterable[Any]:
        """The pages to read, in order, after the cursor ``after`` (None: from the start).

        Each is a JSON-able descriptor that :meth:`fetch` understands (a key range,
        an offset, a page URL). Nothing should be fetched here. A descriptor that
        is a dict with an int ``rows`` tells how many records the page holds.
        """
        ...

    def fetch(self, page: Any, options: Any) -> Page:
        """The records of one page and the cursor after it."""
        ...


@dataclass(frozen=True)
class Syncer:
    """The sync handler of a job type: records validated by ``row`` and upserted on ``key``."""

    source: SyncSource
    row: type[BaseModel]
    key: str | Sequence[str]
    transform: Transform | None = None
    #: After a full sync, delete target rows whose key no page held.
    delete_missing: bool = False
    #: The options that say which source is read (a region, an account): syncs that differ
    #: in them keep a cursor each. None: every option does; () none (an option that only
    #: sizes or shapes the reading, say).
    source_options: Sequence[str] | None = None

    @property
    def key_columns(self) -> tuple[str, ...]:
        return (self.key,) if isinstance(self.key, str) else tuple(self.key)

    def importer(self) -> Importer:
        return Importer(row=self.row, key=self.key, transform=self.transform)

    def cursor_scope(self, options: BaseModel) -> str:
        """Which source ``options`` read, as the cursor's scope: "" for the defaults.

        A digest of the source-defining options given other than at their default,
        in a canonical JSON form (so the order they were given in does not count).
        """
        values = options.model_dump(mode="json", exclude_defaults=True)
        if self.source_options is not None:
            values = {k: v for k, v in values.items() if k in self.source_options}
        if not values:
            return ""
        canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


__all__ = ["Page", "SyncSource", "Syncer"]
