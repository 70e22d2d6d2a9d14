"""The header-to-field mappings people confirmed, per job type and header signature.

A user who tells an import which column feeds which field (``--map``, the
API's ``mapping``) should not have to say it again for the next file of the
same shape: the mapping is kept under the type and the header's signature
(:func:`jobport.kinds.mapping.signature`) and applied to the next file with
that header that comes without a mapping of its own. Saving again replaces it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jobport.store.section import Section, utcnow
from jobport.store.tables import saved_mappings


@dataclass(frozen=True)
class SavedMapping:
    """A mapping as saved: the header it was given for, header -> field ("" ignores)."""

    type: str
    signature: str
    header: list[str]
    mapping: dict[str, str]
    saved_by: str | None
    saved_at: datetime


class Mappings(Section):
    def saved_mapping(self, type: str, signature: str) -> SavedMapping | None:
        """The mapping saved for this type and header signature, if any (and well formed)."""
        with self._read() as conn:
            row = (
                conn.execute(
                    sa.select(saved_mappings).where(
                        saved_mappings.c.type == type, saved_mappings.c.signature == signature
                    )
                )
                .mappings()
                .first()
            )
        if row is None or not _is_mapping(row["mapping"]):
            return None
        return SavedMapping(
            row["type"],
            row["signature"],
            [str(name) for name in row["header"] or []],
            dict(row["mapping"]),
            row["saved_by"],
            row["saved_at"],
        )

    def save_mapping(
        self,
        type: str,
        signature: str,
        header: Sequence[str],
        mapping: Mapping[str, str],
        *,
        saved_by: str | None = None,
    ) -> SavedMapping:
        """Keep ``mapping`` for this type and header signature, replacing any saved before."""
        who = saved_by[:200] if saved_by is not None else None
        saved = SavedMapping(type, signature, list(header), dict(mapping), who, utcnow())
        values = {
            "type": type,
            "signature": signature,
            "header": saved.header,
            "mapping": saved.mapping,
            "saved_by": who,
            "saved_at": saved.saved_at,
        }
        with self._write() as conn:
            conn.execute(_upsert(conn, values))
        return saved


def _upsert(conn: Connection, values: dict[str, Any]) -> Any:
    """An insert that replaces the row of the same type and signature (one statement, so
    two saves at once cannot both insert)."""
    # the dialect in use alone is imported: PostgreSQL's costs a SQLite command ~30 ms
    name = "postgresql" if conn.dialect.name == "postgresql" else "sqlite"
    module = importlib.import_module(f"sqlalchemy.dialects.{name}")
    statement = module.insert(saved_mappings).values(**values)
    return statement.on_conflict_do_update(
        index_elements=[saved_mappings.c.type, saved_mappings.c.signature],
        set_={
            name: statement.excluded[name] for name in ("header", "mapping", "saved_by", "saved_at")
        },
    )


def _is_mapping(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )
