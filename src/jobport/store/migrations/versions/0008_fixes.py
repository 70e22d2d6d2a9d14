"""the review grid's edits of rejected rows, kept per run and per user

Revision ID: 0008_fixes
Revises: 0007_undo_audit

``job_fix_edits`` holds what a user changed in the rejected rows of an import
(the cells over each failure's original values, a dropped row), what the row
model says of each edited row, and the run that imported the fixes.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from jobport.store.tables import UTCDateTime

revision = "0008_fixes"
down_revision = "0007_undo_audit"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "job_fix_edits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("failure_id", sa.Integer(), nullable=False),
        sa.Column("cells", JSON, nullable=False),
        sa.Column("dropped", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("valid", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("errors", JSON, nullable=True),
        sa.Column("fix_run_id", sa.String(length=64), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["failure_id"],
            ["job_failures.id"],
            name=op.f("fk_job_fix_edits_failure_id_job_failures"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["job_runs.id"],
            name=op.f("fk_job_fix_edits_run_id_job_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_fix_edits")),
        sa.UniqueConstraint(
            "run_id", "owner", "failure_id", name=op.f("uq_job_fix_edits_run_id_owner_failure_id")
        ),
    )
    with op.batch_alter_table("job_fix_edits", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_job_fix_edits_failure_id"), ["failure_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_job_fix_edits_fix_run_id"), ["fix_run_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("job_fix_edits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_fix_edits_fix_run_id"))
        batch_op.drop_index(batch_op.f("ix_job_fix_edits_failure_id"))
    op.drop_table("job_fix_edits")
