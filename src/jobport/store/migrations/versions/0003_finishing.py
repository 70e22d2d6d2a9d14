"""finishing in the commit protocol: the runs' finishing lease, the sync cursors

Revision ID: 0003_finishing
Revises: 0002_ended_sessions

The sync cursor table used to be created when a sync was first planned;
databases that have it keep it as it is.
"""

import sqlalchemy as sa
from alembic import op

from jobport.store.tables import UTCDateTime

revision = "0003_finishing"
down_revision = "0002_ended_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("finishing_until", UTCDateTime(), nullable=True))
    if not sa.inspect(op.get_bind()).has_table("jobport_sync_cursors"):
        op.create_table(
            "jobport_sync_cursors",
            sa.Column("type", sa.String(length=100), nullable=False),
            sa.Column("cursor", sa.JSON(), nullable=True),
            sa.Column("run_id", sa.String(length=36), nullable=True),
            sa.Column("updated_at", sa.DateTime(), nullable=True),
            sa.PrimaryKeyConstraint("type", name=op.f("pk_jobport_sync_cursors")),
        )


def downgrade() -> None:
    op.drop_table("jobport_sync_cursors")
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_column("finishing_until")
