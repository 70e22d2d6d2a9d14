"""the review grid's edits of rejected rows, kept per run and per user

Revision ID: 0008_fixes
Revises: 0007_undo_audit
"""

revision = "0008_fixes"
down_revision = "0007_undo_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
