"""The state tables. The store (this package's sections, behind ``JobStore``) alone queries them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no time zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _JSONB(sa.TypeDecorator[Any]):
    """PostgreSQL's ``jsonb``, its dialect imported only when a PostgreSQL database uses it:
    importing ``sqlalchemy.dialects.postgresql`` would cost every SQLite command ~30 ms."""

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        from sqlalchemy.dialects.postgresql import JSONB

        return JSONB()


#: JSON on every backend, ``jsonb`` on PostgreSQL (plain ``sa.JSON`` elsewhere: no wrapper).
JSONType: Any = sa.JSON().with_variant(_JSONB(), "postgresql")

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

job_runs = sa.Table(
    "job_runs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("strategy", sa.String(16), nullable=False),
    sa.Column("broadcast", sa.Boolean, nullable=False, default=True),
    sa.Column("total", sa.BigInteger),
    sa.Column("processed", sa.BigInteger, nullable=False, default=0),
    sa.Column("failed", sa.BigInteger, nullable=False, default=0),
    sa.Column("owner", sa.String(200)),
    sa.Column("params", JSONType, nullable=False),
    sa.Column("format", sa.String(16)),
    sa.Column("source_key", sa.String(500)),
    sa.Column("source_name", sa.String(500)),
    sa.Column("result_key", sa.String(500)),
    sa.Column("result", JSONType),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("started_at", UTCDateTime),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("error", sa.Text),
    sa.Column("retry_of", sa.String(36), sa.ForeignKey("job_runs.id")),
    sa.Column("chunks_total", sa.Integer, nullable=False, default=0),
    sa.Column("chunks_done", sa.Integer, nullable=False, default=0),
    sa.Column("seq", sa.Integer, nullable=False, default=0),
    sa.Column("rows_per_second", sa.Float),
    sa.Column("eta_seconds", sa.Float),
    sa.Column("max_attempts", sa.Integer, nullable=False, default=3),
    sa.Column("dispatcher", sa.String(200)),
    #: While set and ahead, a worker runs the kind's last step (every chunk is done):
    #: nobody else starts it. Once passed, that worker is taken for lost.
    sa.Column("finishing_until", UTCDateTime),
    # What an import did to its rows (a dry run: would have done); None before counted.
    sa.Column("created", sa.BigInteger),
    sa.Column("updated", sa.BigInteger),
    sa.Column("unchanged", sa.BigInteger),
    sa.Column("dry_run", sa.Boolean, nullable=False, default=False, server_default=sa.false()),
    sa.Index(None, "created_at"),
    sa.Index(None, "owner", "created_at"),
    sa.Index(None, "status"),
    sa.Index(None, "retry_of"),
)

job_chunks = sa.Table(
    "job_chunks",
    metadata,
    sa.Column(
        "run_id", sa.String(36), sa.ForeignKey("job_runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("no", sa.Integer, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("spec", JSONType, nullable=False),
    sa.Column("rows", sa.Integer),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("errors", sa.Integer, nullable=False, default=0),
    sa.Column("lease_owner", sa.String(200)),
    sa.Column("lease_expires_at", UTCDateTime),
    sa.Column("available_at", UTCDateTime),
    sa.Column("processed", sa.Integer, nullable=False, default=0),
    sa.Column("failed", sa.Integer, nullable=False, default=0),
    sa.Column("error", sa.Text),
    sa.Column("started_at", UTCDateTime),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("created", sa.Integer),
    sa.Column("updated", sa.Integer),
    sa.Column("unchanged", sa.Integer),
    sa.Index(None, "status", "lease_expires_at"),
)

job_failures = sa.Table(
    "job_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "run_id", sa.String(36), sa.ForeignKey("job_runs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("chunk_no", sa.Integer, nullable=False),
    sa.Column("line", sa.BigInteger),
    sa.Column("column", sa.String(200)),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("errors", JSONType),
    sa.Column("raw", JSONType),
    sa.Index(None, "run_id", "line"),
)

job_events = sa.Table(
    "job_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "run_id", sa.String(36), sa.ForeignKey("job_runs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("name", sa.String(32), nullable=False),
    sa.Column("payload", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("run_id", "seq"),
)

job_users = sa.Table(
    "job_users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("token_hash", sa.String(128), nullable=False, unique=True),
    sa.Column("is_admin", sa.Boolean, nullable=False, default=False),
    sa.Column("roles", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

#: Dashboard sessions ended before their time (signed out). The session cookie is
#: signed and self-contained; this is what a server checks so that a copy of a
#: signed-out cookie opens nothing. A row is useless once its session would have
#: expired anyway, and is deleted then (see ``JobStore.end_session``).
job_ended_sessions = sa.Table(
    "job_ended_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Index(None, "expires_at"),
)

#: Where each sync type (and source) keeps the cursor of its last committed page. It lives with
#: the state tables because a page's cursor commits with the page's rows.
sync_cursors = sa.Table(
    "jobport_sync_cursors",
    metadata,
    sa.Column("type", sa.String(100), primary_key=True),
    #: Which source of the type: a digest of its source-defining options ("" for the
    #: defaults), so syncs of one type from two sources keep a cursor each.
    sa.Column("scope", sa.String(64), primary_key=True, default="", server_default=""),
    sa.Column("cursor", sa.JSON),
    sa.Column("run_id", sa.String(36)),
    sa.Column("updated_at", sa.DateTime),
)

#: The header-to-field mapping a user confirmed, per job type and header signature
#: (see :mod:`jobport.kinds.mapping`), proposed again for a file with the same header.
saved_mappings = sa.Table(
    "jobport_saved_mappings",
    metadata,
    sa.Column("type", sa.String(100), primary_key=True),
    sa.Column("signature", sa.String(64), primary_key=True),
    sa.Column("header", sa.JSON, nullable=False),
    sa.Column("mapping", sa.JSON, nullable=False),
    sa.Column("saved_by", sa.String(200)),
    sa.Column("saved_at", UTCDateTime, nullable=False),
)

#: The review grid's edits of an import's rejected rows, per run, user and failure
#: (see :mod:`jobport.fixes`): the cells changed over the failure's original values,
#: whether the row is dropped, what the row model says of the edited row, and the
#: run that imported it ("pending:..." while that run is being started).
job_fix_edits = sa.Table(
    "job_fix_edits",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "run_id", sa.String(36), sa.ForeignKey("job_runs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column(
        "failure_id",
        sa.Integer,
        sa.ForeignKey("job_failures.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("cells", JSONType, nullable=False),
    sa.Column("dropped", sa.Boolean, nullable=False, default=False, server_default=sa.false()),
    sa.Column("valid", sa.Boolean, nullable=False, default=False, server_default=sa.false()),
    sa.Column("errors", JSONType),
    sa.Column("fix_run_id", sa.String(64)),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("run_id", "owner", "failure_id"),
    sa.Index(None, "failure_id"),
    sa.Index(None, "fix_run_id"),
)

# -- schedules and concurrency (see jobport.schedules) -------------------------------------------

#: A job type started on its own: by a cron expression or an interval, in a time zone,
#: with its options, as its owner (the rights they had when it was added).
schedules = sa.Table(
    "jobport_schedules",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("type", sa.String(100), nullable=False),
    #: A cron expression ("0 * * * *") or an interval ("every 15m").
    sa.Column("spec", sa.String(200), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("options", JSONType, nullable=False),
    sa.Column("read", JSONType, nullable=False),
    #: An import's files: a folder glob or an fsspec URL glob; None for other kinds.
    sa.Column("source", sa.String(1000)),
    sa.Column("owner", sa.String(200)),
    sa.Column("is_admin", sa.Boolean, nullable=False, default=False),
    sa.Column("roles", JSONType, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    #: After downtime: "catch_up" fires the latest missed slot once, "skip" fires none.
    sa.Column("missed", sa.String(16), nullable=False),
    #: The first slot not handled yet; a sweep fires a schedule once it has passed.
    sa.Column("next_fire_at", UTCDateTime, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index(None, "enabled", "next_fire_at"),
    sa.Index(None, "owner"),
)

#: One row per slot of a schedule that was handled: the claim that makes a slot fire once,
#: whichever process saw it first, and what came of it.
schedule_firings = sa.Table(
    "jobport_schedule_firings",
    metadata,
    sa.Column(
        "schedule_id",
        sa.String(36),
        sa.ForeignKey("jobport_schedules.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("slot_at", UTCDateTime, primary_key=True),
    #: The run's id, chosen with the claim: starting it twice fails on job_runs' key.
    sa.Column("run_id", sa.String(36)),
    #: claimed, started, queued, skipped or failed.
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text),
    sa.Column("claimed_by", sa.String(200), nullable=False),
    sa.Column("claimed_at", UTCDateTime, nullable=False),
    sa.Index(None, "outcome", "claimed_at"),
)

#: The files an import schedule took from its folder: each file (path and fingerprint)
#: is claimed once, with the id of the run that imports it.
schedule_files = sa.Table(
    "jobport_schedule_files",
    metadata,
    sa.Column(
        "schedule_id",
        sa.String(36),
        sa.ForeignKey("jobport_schedules.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    #: A digest of the path, size and modification time (or ETag).
    sa.Column("file_key", sa.String(64), primary_key=True),
    sa.Column("path", sa.String(1000), nullable=False),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text),
    sa.Column("claimed_by", sa.String(200), nullable=False),
    sa.Column("claimed_at", UTCDateTime, nullable=False),
    sa.Index(None, "outcome", "claimed_at"),
)

#: The active runs of the job types with a limit (``JobType.max_active``): a run holds
#: one numbered slot of its type from its start; a slot whose run has finished is free.
active_slots = sa.Table(
    "jobport_active_slots",
    metadata,
    sa.Column("type", sa.String(100), primary_key=True),
    sa.Column("slot", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.String(36), nullable=False, unique=True),
    sa.Column("claimed_at", UTCDateTime, nullable=False),
)

#: Starts of a busy type that queues (``JobType.queue_when_busy``), oldest first: each
#: starts, under the run id it was given, when a run of its type ends.
waiting_starts = sa.Table(
    "jobport_waiting_starts",
    metadata,
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("request", JSONType, nullable=False),
    sa.Column("source_key", sa.String(500)),
    sa.Column("owner", sa.String(200)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("claimed_by", sa.String(200)),
    sa.Column("claimed_at", UTCDateTime),
    sa.Index(None, "type", "created_at"),
)

# -- webhooks (see jobport.webhooks) -------------------------------------------------------------

#: Who is told of which run events, where: a receiver's URL, the secret its deliveries are
#: signed with, the event types and job types it wants, and its owner (with the rights they
#: had when it was added: an admin's sees every run, anyone else's their own runs).
webhooks = sa.Table(
    "jobport_webhooks",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("secret", sa.String(200), nullable=False),
    sa.Column("events", JSONType, nullable=False),
    #: Job types whose runs it wants; empty: every type.
    sa.Column("types", JSONType, nullable=False),
    sa.Column("owner", sa.String(200)),
    sa.Column("owner_admin", sa.Boolean, nullable=False, default=False),
    #: The outbox's newest event when it was added: it is told of later events only.
    sa.Column("after_event", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    #: Set while paused (by its owner, or after failing for too long), with why.
    sa.Column("paused_at", UTCDateTime),
    sa.Column("paused_reason", sa.Text),
    #: The first failed attempt since the last one that succeeded; None while all is well.
    sa.Column("failing_since", UTCDateTime),
    sa.Index(None, "owner"),
)

#: One message (an outbox event) for one subscription, sent until its receiver answers 2xx
#: or its attempts run out; leased like a chunk, so one process at a time sends it.
webhook_deliveries = sa.Table(
    "jobport_webhook_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "subscription_id",
        sa.String(36),
        sa.ForeignKey("jobport_webhooks.id", ondelete="CASCADE"),
        nullable=False,
    ),
    #: The outbox event (``job_events.id``) it carries.
    sa.Column("event_id", sa.Integer, nullable=False),
    sa.Column(
        "run_id", sa.String(36), sa.ForeignKey("job_runs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("event_type", sa.String(32), nullable=False),
    #: The ``webhook-id`` header: the same for every attempt and replay of the message.
    sa.Column("message_id", sa.String(64), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    #: pending, succeeded or failed (its attempts ran out).
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("lease_owner", sa.String(200)),
    sa.Column("lease_expires_at", UTCDateTime),
    #: Bumped by each claim and each replay: the fencing token of a sender's result.
    sa.Column("lease_token", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    # The last attempt: when, the receiver's status code, how long it took, the start of
    # its answer (at most 1 KiB), or the error that kept it from answering.
    sa.Column("last_attempt_at", UTCDateTime),
    sa.Column("status_code", sa.Integer),
    sa.Column("response_ms", sa.Float),
    sa.Column("response_body", sa.Text),
    sa.Column("error", sa.Text),
    #: One delivery per event (a run's ``seq``) and subscription; also the order of a run's.
    sa.UniqueConstraint("subscription_id", "run_id", "seq"),
    sa.Index(None, "status", "next_attempt_at"),
    sa.Index(None, "run_id"),
)

#: Every attempt of a delivery, as its last one is shown on the delivery.
webhook_attempts = sa.Table(
    "jobport_webhook_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "delivery_id",
        sa.Integer,
        sa.ForeignKey("jobport_webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("response_ms", sa.Float),
    sa.Column("response_body", sa.Text),
    sa.Column("error", sa.Text),
    sa.Index(None, "delivery_id"),
)

#: How far the outbox was turned into deliveries (one row): every event up to
#: ``last_event_id`` but the ``holes`` (ids not committed yet when read, re-read until
#: they appear or are old enough to have been rolled back).
webhook_fanout = sa.Table(
    "jobport_webhook_fanout",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("last_event_id", sa.Integer, nullable=False),
    sa.Column("holes", JSONType, nullable=False),
    sa.Column("updated_at", UTCDateTime),
)

#: Auto-numbered ids that may pass 2**31 (SQLite numbers only INTEGER keys by itself).
_BigId: Any = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: What an undoable import's chunk changed, written with its rows (see ``store/undo.py``):
#: a record per chunk of the ``rows`` it changed, their keys and images as JSON text (each
#: row's key, the row before, the columns fed as written), how many the chunk ``inserted``
#: (no row before) and ``deleted`` (none after). ``target`` is the table's name, to find
#: later runs over a key.
job_undo_log = sa.Table(
    "job_undo_log",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("chunk_no", sa.Integer, nullable=False),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("inserted", sa.Integer, nullable=False),
    sa.Column("deleted", sa.Integer, nullable=False),
    sa.Column("row_keys", sa.Text, nullable=False),
    sa.Column("images", sa.Text, nullable=False),
    sa.Index(None, "run_id", "chunk_no"),
    sa.Index(None, "target"),
)

#: Who did what to which run, when and through which face (see ``store/audit.py``).
job_audit = sa.Table(
    "job_audit",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200)),
    sa.Column("via", sa.String(16), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("run_id", sa.String(36)),
    sa.Column("detail", JSONType),
    sa.Index(None, "run_id"),
    sa.Index(None, "at"),
)
