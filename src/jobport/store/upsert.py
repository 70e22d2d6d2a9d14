"""Bulk upserts into a target table, in the dialect of its database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jobport.errors import ConfigurationError

BATCH = 5_000


def upsert_rows(
    conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]], key: Sequence[str]
) -> None:
    """Insert ``rows``; where ``key`` already exists, overwrite the other columns."""
    if not rows:
        return
    statement = _upsert_statement(conn.dialect.name, table, list(rows[0]), key)
    for start in range(0, len(rows), BATCH):
        conn.execute(statement, rows[start : start + BATCH])


def _upsert_statement(dialect: str, table: sa.Table, columns: list[str], key: Sequence[str]) -> Any:
    updates = [name for name in columns if name not in key]
    if dialect in ("sqlite", "postgresql"):
        from sqlalchemy.dialects import postgresql, sqlite

        statement: Any = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table)
        if not updates:
            return statement.on_conflict_do_nothing(index_elements=list(key))
        return statement.on_conflict_do_update(
            index_elements=list(key),
            set_={name: statement.excluded[name] for name in updates},
        )
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        mysql_statement = mysql_insert(table)
        return mysql_statement.on_duplicate_key_update(
            {name: mysql_statement.inserted[name] for name in updates or list(key)}
        )
    raise ConfigurationError(f"upserts are not supported on the '{dialect}' database")
