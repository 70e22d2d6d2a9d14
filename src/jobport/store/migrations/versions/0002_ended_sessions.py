"""ended dashboard sessions (sign-out ends a session on the server)

Revision ID: 0002_ended_sessions
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from jobport.store.tables import UTCDateTime

revision = "0002_ended_sessions"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_ended_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_ended_sessions")),
    )
    with op.batch_alter_table("job_ended_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_job_ended_sessions_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("job_ended_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_ended_sessions_expires_at"))
    op.drop_table("job_ended_sessions")
