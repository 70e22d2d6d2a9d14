"""webhook subscriptions and their deliveries

Revision ID: 0006_webhooks
Revises: 0005_schedules
"""

revision = "0006_webhooks"
down_revision = "0005_schedules"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
