"""the undo log and the audit trail

Revision ID: 0007_undo_audit
Revises: 0006_webhooks
"""

revision = "0007_undo_audit"
down_revision = "0006_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
