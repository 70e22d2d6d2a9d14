"""schedules and their claimed slots

Revision ID: 0005_schedules
Revises: 0004_import_outcomes
"""

revision = "0005_schedules"
down_revision = "0004_import_outcomes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
