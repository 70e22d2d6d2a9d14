"""the undo log's records compressed with lz4 on PostgreSQL

Revision ID: 0010_undo_lz4
Revises: 0009_undo_records

0009 stored ``job_undo_log.row_keys`` and ``images`` out of line uncompressed
(``STORAGE EXTERNAL``), as pglz took PostgreSQL three times as long as writing
the record. lz4 is much cheaper than pglz: a 20k-row chunk's record (2.4 MB of
JSON) becomes 1.0 MB, its WAL 2.5 MB -> 1.0 MB (a 1M-row import's WAL 290 ->
212 MB, its undo log on disk 2.4 times smaller), for about 7 ms more server CPU
per record (12 -> 19 ms on PostgreSQL 15; about 0.35 CPU s per 1M rows). The
columns get ``STORAGE EXTENDED`` with ``COMPRESSION lz4`` where the server has
lz4 (PostgreSQL 14 or later, built with it); elsewhere they stay as they are.
Records already written keep their form (a value is compressed when written);
SQLite has no such setting, so there this revision changes nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_undo_lz4"
down_revision = "0009_undo_records"
branch_labels = None
depends_on = None

COLUMNS = ("row_keys", "images")

#: True when the server can compress with lz4: ``default_toast_compression`` exists from
#: PostgreSQL 14 and lists ``lz4`` among its values only in a server built with it.
HAS_LZ4 = (
    "SELECT EXISTS (SELECT 1 FROM pg_settings"
    " WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals))"
)


def has_lz4(conn: sa.Connection) -> bool:
    """Whether the server compresses with lz4; False on any other database than PostgreSQL."""
    return conn.dialect.name == "postgresql" and bool(conn.exec_driver_sql(HAS_LZ4).scalar())


def _alter(storage: str, compression: str) -> None:
    changes = ", ".join(
        f"ALTER COLUMN {name} SET {setting}"
        for name in COLUMNS
        for setting in (f"STORAGE {storage}", f"COMPRESSION {compression}")
    )
    op.execute(f"ALTER TABLE job_undo_log {changes}")


def upgrade() -> None:
    if has_lz4(op.get_bind()):
        _alter("EXTENDED", "lz4")


def downgrade() -> None:
    # Back to 0009's form: out of line, uncompressed (``default``: the server's compression,
    # used by no value while the storage is EXTERNAL).
    if has_lz4(op.get_bind()):
        _alter("EXTERNAL", "default")
