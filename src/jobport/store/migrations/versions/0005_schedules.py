"""schedules and their claimed slots; active runs per type; sync cursors per source

Revision ID: 0005_schedules
Revises: 0004_import_outcomes

``jobport_schedules`` holds what starts on its own (cron or interval, time
zone, options, owner); ``jobport_schedule_firings`` one row per handled slot
(its primary key is what makes a slot fire once); ``jobport_schedule_files``
the files an import schedule took. ``jobport_active_slots`` and
``jobport_waiting_starts`` hold the runs of types with a concurrency limit and
the starts that wait for one to end. The sync cursors gain a ``scope`` (a
digest of the options that define the source) in their primary key; the
cursors already there keep the scope "" of the default options.
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

from jobport.store.tables import JSONType, UTCDateTime

revision = "0005_schedules"
down_revision = "0004_import_outcomes"
branch_labels = None
depends_on = None

CURSORS = "jobport_sync_cursors"


def upgrade() -> None:
    _create_schedules()
    op.create_table(
        "jobport_active_slots",
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("type", "slot", name=op.f("pk_jobport_active_slots")),
        sa.UniqueConstraint("run_id", name=op.f("uq_jobport_active_slots_run_id")),
    )
    op.create_table(
        "jobport_waiting_starts",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("request", JSONType, nullable=False),
        sa.Column("source_key", sa.String(length=500), nullable=True),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_jobport_waiting_starts")),
    )
    op.create_index(
        op.f("ix_jobport_waiting_starts_type_created_at"),
        "jobport_waiting_starts",
        ["type", "created_at"],
    )
    _scope_cursors()


def _create_schedules() -> None:
    op.create_table(
        "jobport_schedules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("spec", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("options", JSONType, nullable=False),
        sa.Column("read", JSONType, nullable=False),
        sa.Column("source", sa.String(length=1000), nullable=True),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("roles", JSONType, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("missed", sa.String(length=16), nullable=False),
        sa.Column("next_fire_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobport_schedules")),
        sa.UniqueConstraint("name", name=op.f("uq_jobport_schedules_name")),
    )
    op.create_index(
        op.f("ix_jobport_schedules_enabled_next_fire_at"),
        "jobport_schedules",
        ["enabled", "next_fire_at"],
    )
    op.create_index(op.f("ix_jobport_schedules_owner"), "jobport_schedules", ["owner"])
    for table, key in (
        ("jobport_schedule_firings", sa.Column("slot_at", UTCDateTime(), nullable=False)),
        ("jobport_schedule_files", sa.Column("file_key", sa.String(length=64), nullable=False)),
    ):
        files = table == "jobport_schedule_files"
        op.create_table(
            table,
            sa.Column("schedule_id", sa.String(length=36), nullable=False),
            key,
            *([sa.Column("path", sa.String(length=1000), nullable=False)] if files else []),
            sa.Column("run_id", sa.String(length=36), nullable=not files),
            sa.Column("outcome", sa.String(length=16), nullable=False),
            sa.Column("detail", sa.Text(), nullable=True),
            sa.Column("claimed_by", sa.String(length=200), nullable=False),
            sa.Column("claimed_at", UTCDateTime(), nullable=False),
            sa.ForeignKeyConstraint(
                ["schedule_id"],
                ["jobport_schedules.id"],
                name=op.f(f"fk_{table}_schedule_id_jobport_schedules"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("schedule_id", key.name, name=op.f(f"pk_{table}")),
        )
        op.create_index(op.f(f"ix_{table}_outcome_claimed_at"), table, ["outcome", "claimed_at"])


def _scope_cursors() -> None:
    """The cursor's key becomes (type, scope); existing cursors get the scope ""."""
    op.add_column(
        CURSORS, sa.Column("scope", sa.String(length=64), nullable=False, server_default="")
    )
    _rekey_cursors(scoped=True)


def _rekey_cursors(*, scoped: bool) -> None:
    """Give the cursor table the key (type, scope), or back (type).

    PostgreSQL changes the key in place. SQLite cannot: the table (a row per
    sync type and source) is copied into one made with the new key.
    """
    key = ["type", "scope"] if scoped else ["type"]
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        pk = sa.inspect(bind).get_pk_constraint(CURSORS).get("name")
        if pk:
            op.drop_constraint(pk, CURSORS, type_="primary")
        op.create_primary_key(op.f(f"pk_{CURSORS}"), CURSORS, key)
        return
    rekeyed = f"_{CURSORS}_rekeyed"
    columns: list[sa.Column[Any]] = [
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("cursor", sa.JSON(), nullable=True),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
    ]
    if scoped:
        columns.insert(1, sa.Column("scope", sa.String(64), nullable=False, server_default=""))
    names = ", ".join(c.name for c in columns)
    op.create_table(rekeyed, *columns, sa.PrimaryKeyConstraint(*key, name=f"pk_{CURSORS}"))
    where = "" if scoped else " WHERE scope = ''"
    op.execute(sa.text(f"INSERT INTO {rekeyed} ({names}) SELECT {names} FROM {CURSORS}{where}"))
    op.drop_table(CURSORS)
    op.rename_table(rekeyed, CURSORS)


def downgrade() -> None:
    """Back to one cursor per type: of each type's scopes, the default one ("") is kept."""
    op.execute(sa.text(f"DELETE FROM {CURSORS} WHERE scope <> ''"))
    _rekey_cursors(scoped=False)
    if op.get_bind().dialect.name != "sqlite":
        op.drop_column(CURSORS, "scope")
    op.drop_index(op.f("ix_jobport_waiting_starts_type_created_at"), "jobport_waiting_starts")
    op.drop_table("jobport_waiting_starts")
    op.drop_table("jobport_active_slots")
    for table in ("jobport_schedule_files", "jobport_schedule_firings"):
        op.drop_index(op.f(f"ix_{table}_outcome_claimed_at"), table)
        op.drop_table(table)
    op.drop_index(op.f("ix_jobport_schedules_owner"), "jobport_schedules")
    op.drop_index(op.f("ix_jobport_schedules_enabled_next_fire_at"), "jobport_schedules")
    op.drop_table("jobport_schedules")
