"""the undo log and the audit trail

Revision ID: 0007_undo_audit
Revises: 0006_webhooks

``job_undo_log`` keeps, per chunk of an undoable import, each row's key, its
before-image (none for a row the chunk inserted) and the fed columns as
written; ``job_audit`` records who started, cancelled, retried, resumed,
undid, downloaded or shared which run, when and through which face.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from jobport.store.tables import UTCDateTime

revision = "0007_undo_audit"
down_revision = "0006_webhooks"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "job_undo_log",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("chunk_no", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_undo_log")),
    )
    op.create_index(op.f("ix_job_undo_log_run_id_chunk_no"), "job_undo_log", ["run_id", "chunk_no"])
    op.create_index(op.f("ix_job_undo_log_target_key"), "job_undo_log", ["target", "key"])
    op.create_table(
        "job_audit",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.Column("detail", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_audit")),
    )
    op.create_index(op.f("ix_job_audit_run_id"), "job_audit", ["run_id"])
    op.create_index(op.f("ix_job_audit_at"), "job_audit", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_job_audit_at"), table_name="job_audit")
    op.drop_index(op.f("ix_job_audit_run_id"), table_name="job_audit")
    op.drop_table("job_audit")
    op.drop_index(op.f("ix_job_undo_log_target_key"), table_name="job_undo_log")
    op.drop_index(op.f("ix_job_undo_log_run_id_chunk_no"), table_name="job_undo_log")
    op.drop_table("job_undo_log")
