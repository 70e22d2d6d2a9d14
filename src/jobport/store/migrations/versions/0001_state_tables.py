"""state tables

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from jobport.store.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "job_runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("strategy", sa.String(length=16), nullable=False),
        sa.Column("broadcast", sa.Boolean(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=True),
        sa.Column("processed", sa.BigInteger(), nullable=False),
        sa.Column("failed", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column(
            "params",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("format", sa.String(length=16), nullable=True),
        sa.Column("source_key", sa.String(length=500), nullable=True),
        sa.Column("source_name", sa.String(length=500), nullable=True),
        sa.Column("result_key", sa.String(length=500), nullable=True),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("retry_of", sa.String(length=36), nullable=True),
        sa.Column("chunks_total", sa.Integer(), nullable=False),
        sa.Column("chunks_done", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("rows_per_second", sa.Float(), nullable=True),
        sa.Column("eta_seconds", sa.Float(), nullable=True),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("dispatcher", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["retry_of"], ["job_runs.id"], name=op.f("fk_job_runs_retry_of_job_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
    )
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_runs_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_job_runs_owner_created_at"), ["owner", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_job_runs_retry_of"), ["retry_of"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_runs_status"), ["status"], unique=False)

    op.create_table(
        "job_users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column(
            "roles",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_users")),
        sa.UniqueConstraint("name", name=op.f("uq_job_users_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_job_users_token_hash")),
    )
    op.create_table(
        "job_chunks",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("no", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "spec",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("available_at", UTCDateTime(), nullable=True),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["job_runs.id"],
            name=op.f("fk_job_chunks_run_id_job_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "no", name=op.f("pk_job_chunks")),
    )
    with op.batch_alter_table("job_chunks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_job_chunks_status_lease_expires_at"),
            ["status", "lease_expires_at"],
            unique=False,
        )

    op.create_table(
        "job_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["job_runs.id"],
            name=op.f("fk_job_events_run_id_job_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_events")),
        sa.UniqueConstraint("run_id", "seq", name=op.f("uq_job_events_run_id_seq")),
    )
    op.create_table(
        "job_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("chunk_no", sa.Integer(), nullable=False),
        sa.Column("line", sa.BigInteger(), nullable=True),
        sa.Column("column", sa.String(length=200), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "errors",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["job_runs.id"],
            name=op.f("fk_job_failures_run_id_job_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_failures")),
    )
    with op.batch_alter_table("job_failures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_job_failures_run_id_line"), ["run_id", "line"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("job_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_failures_run_id_line"))

    op.drop_table("job_failures")
    op.drop_table("job_events")
    with op.batch_alter_table("job_chunks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_chunks_status_lease_expires_at"))

    op.drop_table("job_chunks")
    op.drop_table("job_users")
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_runs_status"))
        batch_op.drop_index(batch_op.f("ix_job_runs_retry_of"))
        batch_op.drop_index(batch_op.f("ix_job_runs_owner_created_at"))
        batch_op.drop_index(batch_op.f("ix_job_runs_created_at"))

    op.drop_table("job_runs")
