"""webhook subscriptions and their deliveries

Revision ID: 0006_webhooks
Revises: 0005_schedules

``jobport_webhooks`` holds the subscriptions (URL, signing secret, event and
job types, owner, paused with a reason); ``jobport_webhook_deliveries`` one
message per outbox event and subscription, leased while it is sent, with its
last attempt; ``jobport_webhook_attempts`` every attempt; and
``jobport_webhook_fanout`` (one row) how far the outbox was turned into
deliveries, starting at its newest event.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from jobport.store.tables import UTCDateTime

revision = "0006_webhooks"
down_revision = "0005_schedules"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "jobport_webhooks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("events", JSON, nullable=False),
        sa.Column("types", JSON, nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("owner_admin", sa.Boolean(), nullable=False),
        sa.Column("after_event", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("paused_at", UTCDateTime(), nullable=True),
        sa.Column("paused_reason", sa.Text(), nullable=True),
        sa.Column("failing_since", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobport_webhooks")),
    )
    op.create_index(op.f("ix_jobport_webhooks_owner"), "jobport_webhooks", ["owner"])
    op.create_table(
        "jobport_webhook_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("lease_token", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("last_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_ms", sa.Float(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["job_runs.id"],
            name=op.f("fk_jobport_webhook_deliveries_run_id_job_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["jobport_webhooks.id"],
            name=op.f("fk_jobport_webhook_deliveries_subscription_id_jobport_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobport_webhook_deliveries")),
        sa.UniqueConstraint(
            "subscription_id",
            "run_id",
            "seq",
            name=op.f("uq_jobport_webhook_deliveries_subscription_id_run_id_seq"),
        ),
    )
    op.create_index(
        op.f("ix_jobport_webhook_deliveries_status_next_attempt_at"),
        "jobport_webhook_deliveries",
        ["status", "next_attempt_at"],
    )
    op.create_index(
        op.f("ix_jobport_webhook_deliveries_run_id"), "jobport_webhook_deliveries", ["run_id"]
    )
    op.create_table(
        "jobport_webhook_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_ms", sa.Float(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["jobport_webhook_deliveries.id"],
            name=op.f("fk_jobport_webhook_attempts_delivery_id_jobport_webhook_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobport_webhook_attempts")),
    )
    op.create_index(
        op.f("ix_jobport_webhook_attempts_delivery_id"), "jobport_webhook_attempts", ["delivery_id"]
    )
    fanout = op.create_table(
        "jobport_webhook_fanout",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("holes", JSON, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobport_webhook_fanout")),
    )
    # The fan-out starts at the outbox's newest event: nobody subscribed to the ones before.
    newest = op.get_bind().execute(sa.text("SELECT COALESCE(MAX(id), 0) FROM job_events"))
    op.bulk_insert(fanout, [{"id": 1, "last_event_id": int(newest.scalar_one()), "holes": []}])


def downgrade() -> None:
    op.drop_index(op.f("ix_jobport_webhook_attempts_delivery_id"), "jobport_webhook_attempts")
    op.drop_table("jobport_webhook_attempts")
    op.drop_index(op.f("ix_jobport_webhook_deliveries_run_id"), "jobport_webhook_deliveries")
    op.drop_index(
        op.f("ix_jobport_webhook_deliveries_status_next_attempt_at"), "jobport_webhook_deliveries"
    )
    op.drop_table("jobport_webhook_deliveries")
    op.drop_index(op.f("ix_jobport_webhooks_owner"), "jobport_webhooks")
    op.drop_table("jobport_webhooks")
    op.drop_table("jobport_webhook_fanout")
