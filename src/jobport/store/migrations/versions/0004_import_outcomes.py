"""what an import did to its rows, dry runs, and the mappings people confirmed

Revision ID: 0004_import_outcomes
Revises: 0003_finishing

Each import run and chunk counts the rows it created, updated and left
unchanged (or, for a dry run, would have); a run remembers that it was a dry
run. ``jobport_saved_mappings`` keeps the header-to-field mapping a user
confirmed for a job type and a header signature, to propose it next time.
"""

import sqlalchemy as sa
from alembic import op

from jobport.store.tables import UTCDateTime

revision = "0004_import_outcomes"
down_revision = "0003_finishing"
branch_labels = None
depends_on = None

COUNTS = ("created", "updated", "unchanged")


def upgrade() -> None:
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        for name in COUNTS:
            batch_op.add_column(sa.Column(name, sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("dry_run", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("job_chunks", schema=None) as batch_op:
        for name in COUNTS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=True))
    op.create_table(
        "jobport_saved_mappings",
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("header", sa.JSON(), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("saved_by", sa.String(length=200), nullable=True),
        sa.Column("saved_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("type", "signature", name=op.f("pk_jobport_saved_mappings")),
    )


def downgrade() -> None:
    op.drop_table("jobport_saved_mappings")
    with op.batch_alter_table("job_chunks", schema=None) as batch_op:
        for name in COUNTS:
            batch_op.drop_column(name)
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_column("dry_run")
        for name in COUNTS:
            batch_op.drop_column(name)
