"""the undo log as one record per chunk

Revision ID: 0009_undo_records
Revises: 0008_fixes

``job_undo_log`` held a row per target row a chunk changed (its key and two
JSON images, each encoded, inserted and indexed on its own): about three
times the import's own work. It now holds a record per chunk: the changed
rows' keys as one JSON array, their images as one JSON object (``columns``
and ``before``: each row before, all its columns; ``written`` and ``after``:
the columns fed, as written), and how many rows it holds, inserted and
deleted. The entries already logged are moved into records, a chunk's entries
of one shape (the same columns before and after) to one record, so the runs
they belong to can still be undone; the downgrade moves them back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009_undo_records"
down_revision = "0008_fixes"
branch_labels = None
depends_on = None

#: The table as both shapes have it during the move (each side's columns nullable).
log = sa.table(
    "job_undo_log",
    sa.column("id", sa.Integer),
    sa.column("run_id", sa.String),
    sa.column("chunk_no", sa.Integer),
    sa.column("target", sa.String),
    sa.column("key", sa.Text),
    sa.column("before", sa.Text),
    sa.column("after", sa.Text),
    sa.column("rows", sa.Integer),
    sa.column("inserted", sa.Integer),
    sa.column("deleted", sa.Integer),
    sa.column("row_keys", sa.Text),
    sa.column("images", sa.Text),
)


def _dumps(value: Any) -> str:
    """JSON as the undo log writes it: infinities as ``Infinity`` (0008 tagged them)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _untagged(value: Any) -> Any:
    """An 0008 value: a float JSON cannot hold was ``{"$f": "inf"}``; now a float."""
    return float(value["$f"]) if isinstance(value, dict) and "$f" in value else value


def _tagged(value: Any) -> Any:
    return {"$f": repr(value)} if isinstance(value, float) and not math.isfinite(value) else value


def _image(text: str | None) -> dict[str, Any] | None:
    return None if text is None else {k: _untagged(v) for k, v in json.loads(text).items()}


def upgrade() -> None:
    with op.batch_alter_table("job_undo_log") as batch:
        for name in ("rows", "inserted", "deleted"):
            batch.add_column(sa.Column(name, sa.Integer(), nullable=True))
        batch.add_column(sa.Column("row_keys", sa.Text(), nullable=True))
        batch.add_column(sa.Column("images", sa.Text(), nullable=True))
        batch.alter_column("key", existing_type=sa.Text(), nullable=True)
    conn = op.get_bind()
    for run_id, chunk_no, target in _chunks(conn, log.c.key.is_not(None)):
        entries = conn.execute(
            sa.select(log.c.key, log.c.before, log.c.after)
            .where(log.c.run_id == run_id, log.c.chunk_no == chunk_no, log.c.key.is_not(None))
            .order_by(log.c.id)
        ).all()
        for record in _records(list(entries)):
            conn.execute(
                log.insert().values(run_id=run_id, chunk_no=chunk_no, target=target, **record)
            )
    conn.execute(log.delete().where(log.c.key.is_not(None)))
    with op.batch_alter_table("job_undo_log") as batch:
        batch.drop_index("ix_job_undo_log_target_key")
        batch.drop_column("after")
        batch.drop_column("before")
        batch.drop_column("key")
        for name in ("rows", "inserted", "deleted"):
            batch.alter_column(name, existing_type=sa.Integer(), nullable=False)
        batch.alter_column("row_keys", existing_type=sa.Text(), nullable=False)
        batch.alter_column("images", existing_type=sa.Text(), nullable=False)
        batch.create_index("ix_job_undo_log_target", ["target"])
    if conn.dialect.name == "postgresql":
        # A chunk's record is megabytes of JSON: stored out of line uncompressed, as
        # compressing it (pglz) took PostgreSQL three times as long as writing it.
        for name in ("row_keys", "images"):
            op.execute(f"ALTER TABLE job_undo_log ALTER COLUMN {name} SET STORAGE EXTERNAL")


def _chunks(conn: sa.Connection, which: sa.ColumnElement[bool]) -> list[tuple[str, int, str]]:
    query = sa.select(log.c.run_id, log.c.chunk_no, log.c.target).where(which).distinct()
    return [(str(r), int(n), str(t)) for r, n, t in conn.execute(query)]


def _records(entries: list[Any]) -> Iterator[dict[str, Any]]:
    """One chunk's entries, in order, as records: one per shape of their images."""
    shapes: dict[tuple[tuple[str, ...], tuple[str, ...]], list[tuple[Any, Any, Any]]] = {}
    for key, before, after in entries:
        old, new = _image(before), _image(after)
        shape = (tuple(old or ()), tuple(new or ()))
        shapes.setdefault(shape, []).append(([_untagged(v) for v in json.loads(key)], old, new))
    for (columns, written), group in shapes.items():
        yield {
            "rows": len(group),
            "inserted": sum(old is None for _, old, _ in group),
            "deleted": sum(new is None for _, _, new in group),
            "row_keys": _dumps([key for key, _, _ in group]),
            "images": _dumps(
                {
                    "columns": list(columns),
                    "written": list(written),
                    "before": [None if old is None else list(old.values()) for _, old, _ in group],
                    "after": [None if new is None else list(new.values()) for _, _, new in group],
                }
            ),
        }


def _old_image(names: list[str], values: list[Any] | None) -> str | None:
    if values is None:
        return None
    return _dumps({name: _tagged(v) for name, v in zip(names, values, strict=True)})


def downgrade() -> None:
    with op.batch_alter_table("job_undo_log") as batch:
        batch.add_column(sa.Column("key", sa.Text(), nullable=True))
        batch.add_column(sa.Column("before", sa.Text(), nullable=True))
        batch.add_column(sa.Column("after", sa.Text(), nullable=True))
        for name in ("rows", "inserted", "deleted"):
            batch.alter_column(name, existing_type=sa.Integer(), nullable=True)
        batch.alter_column("row_keys", existing_type=sa.Text(), nullable=True)
        batch.alter_column("images", existing_type=sa.Text(), nullable=True)
    conn = op.get_bind()
    records = conn.execute(
        sa.select(log.c.run_id, log.c.chunk_no, log.c.target, log.c.row_keys, log.c.images)
        .where(log.c.row_keys.is_not(None))
        .order_by(log.c.id)
    ).all()
    for run_id, chunk_no, target, keys, images in records:
        shown = json.loads(images)
        rows = zip(json.loads(keys), shown["before"], shown["after"], strict=True)
        conn.execute(
            log.insert(),
            [
                {
                    "run_id": run_id,
                    "chunk_no": chunk_no,
                    "target": target,
                    "key": _dumps([_tagged(v) for v in key]),
                    "before": _old_image(shown["columns"], old),
                    "after": _old_image(shown["written"], new),
                }
                for key, old, new in rows
            ],
        )
    conn.execute(log.delete().where(log.c.row_keys.is_not(None)))
    with op.batch_alter_table("job_undo_log") as batch:
        batch.drop_index("ix_job_undo_log_target")
        for name in ("images", "row_keys", "deleted", "inserted", "rows"):
            batch.drop_column(name)
        batch.alter_column("key", existing_type=sa.Text(), nullable=False)
        batch.create_index("ix_job_undo_log_target_key", ["target", "key"])
