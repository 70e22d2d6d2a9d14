"""One typed settings object, read from ``JOBPORT_*`` environment variables.

Constructors elsewhere take a :class:`Settings` (or plain keyword arguments);
nothing reads the environment behind the caller's back.
"""

from __future__ import annotations

import json
import os
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.fields import FieldInfo

ExecutorName = Literal["local", "inline", "celery"]
ApiDocs = Literal["public", "signed-in", "off"]
#: What every setting's environment variable starts with: ``JOBPORT_DATABASE_URL``.
ENV_PREFIX = "JOBPORT_"
#: The containers whose variables hold JSON (``JOBPORT_TYPE_QUEUES='{"a": "b"}'``).
_JSON_ORIGINS = (dict, list, set, frozenset, tuple)


class Settings(BaseModel):
    """Every setting, from ``JOBPORT_<NAME>`` unless given as a keyword (which wins).

    The environment is read here rather than through pydantic-settings, whose
    import and sources cost every ``jobport`` command about 20 ms at start for
    one lookup per field, read the same way: a variable's name in any case, a
    dict's value as JSON, any other value as text that the field validates
    (``JOBPORT_WORKERS=4``, ``JOBPORT_METRICS=false``); variables of no field
    are left alone.
    """

    # validate_default: the defaults are validated too (7 becomes 7.0), as pydantic-settings did.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    def __init__(self, **values: Any) -> None:
        super().__init__(**{**environment_values(type(self)), **values})

    database_url: str = Field(
        default_factory=lambda: f"sqlite:///{Path.cwd() / 'jobport.db'}",
        description="State database (and default target database) as a SQLAlchemy URL.",
    )
    storage_url: str = Field(
        default_factory=lambda: str(Path.cwd() / "jobport-files"),
        description="Where uploads and exports are kept: a local folder or an fsspec URL.",
    )
    executor: ExecutorName = Field(default="local", description="Where chunks run.")
    broker_url: str | None = Field(default=None, description="Celery broker for executor=celery.")
    redis_url: str | None = Field(default=None, description="Redis for cross-machine events.")
    app: str | None = Field(default=None, description="Module holding the job types.")
    workers: int = Field(
        default=0, ge=0, description="Local pool size; 0 means one per core, plus one."
    )
    lease_seconds: float = Field(default=30.0, gt=0, description="How long a chunk claim lasts.")
    max_upload_bytes: int = Field(default=1 << 30, gt=0, description="Largest accepted upload.")
    max_rows: int = Field(default=50_000_000, gt=0, description="Most rows one file may hold.")
    max_columns: int = Field(default=1_000, gt=0, description="Most columns one file may hold.")
    max_field_bytes: int = Field(
        default=1 << 20, gt=0, description="Largest single field (cell) of a file."
    )
    export_ttl_hours: float = Field(default=72.0, gt=0, description="How long exports are kept.")
    max_stored_failures: int = Field(
        default=100_000,
        ge=0,
        description="Most failed rows one run stores for its error report (a job type may set "
        "its own); further ones are counted, not stored, and the run says so.",
    )
    retention_days: float | None = Field(
        default=None,
        gt=0,
        description="The supervisor removes runs finished longer ago than this, with their "
        "rows and files, once an hour (see jobport prune); unset: runs are kept forever.",
    )
    undo_days: float = Field(
        default=7,
        gt=0,
        description="An undoable import can be undone this long after it finished; its undo "
        "log is pruned after that (docs/undo.md).",
    )
    metrics: bool = Field(
        default=True,
        description="Serve GET /metrics (Prometheus text format, no sign-in); off: 404.",
    )
    create_tables: bool = Field(
        default=True, description="Create missing target tables of the job types on start."
    )
    retry_backoff_seconds: float = Field(
        default=1.0, ge=0, description="First delay before retrying a chunk; doubles each time."
    )
    # -- scale-out: Celery, shared storage --------------------------------------------------
    celery_queue: str = Field(
        default="jobport", min_length=1, description="Celery queue chunks go to unless routed."
    )
    type_queues: dict[str, str] = Field(
        default_factory=dict,
        description='Celery queue per job type key (JSON), e.g. {"customers": "heavy"}.',
    )
    kind_queues: dict[str, str] = Field(
        default_factory=dict,
        description='Celery queue per kind (JSON), e.g. {"export": "exports"}.',
    )
    celery_visibility_timeout: float = Field(
        default=600.0,
        gt=0,
        description="Redis broker: an unacknowledged delivery is handed out again after this.",
    )
    sweep_seconds: float | None = Field(
        default=None,
        gt=0,
        description="How often the supervisor of each long-lived process (server, local pool, "
        "Celery worker) puts back chunks of lost workers and deliveries "
        "(default: half the lease or of redeliver_seconds, the shorter; at least 0.5 s).",
    )
    redeliver_seconds: float = Field(
        default=20.0,
        gt=0,
        description="Celery: a pending chunk no worker claims within this, while its queue "
        "is empty, had its delivery lost; the sweeper sends it again.",
    )
    redeliver_busy_seconds: float | None = Field(
        default=None,
        gt=0,
        description="Celery: a pending chunk no worker claims within this although its queue "
        "is not empty (or its broker cannot count it) is sent again too: a queue shared with "
        "other runs may never empty in time (default: three times redeliver_seconds).",
    )
    storage_options: dict[str, Any] = Field(
        default_factory=dict, description="Extra fsspec options of the storage URL (JSON)."
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint for s3:// storage (MinIO, Ceph, ...)."
    )
    s3_key: str | None = Field(default=None, description="S3 access key id.")
    s3_secret: str | None = Field(default=None, description="S3 secret access key.")
    s3_region: str | None = Field(default=None, description="S3 region name.")
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs expiring download links (same value on every machine). Unset: "
        "an SQLite install keeps a random one beside its database; others refuse to sign.",
    )
    # -- the HTTP server's guards -------------------------------------------------------------
    auth_failure_limit: int = Field(
        default=20,
        ge=0,
        description="Failed authentications (wrong bearer tokens, wrong sign-ins) one client "
        "address may make per window before it is refused with 429; 0 turns this off.",
    )
    auth_failure_window_seconds: float = Field(
        default=60.0, gt=0, description="The window of auth_failure_limit, from the first failure."
    )
    api_docs: ApiDocs = Field(
        default="public",
        description="Who gets /docs and /openapi.json: everyone, signed-in callers (a bearer "
        "token or the dashboard's session), or nobody (404).",
    )
    # -- webhooks (jobport.webhooks) ----------------------------------------------------------
    webhooks_allow_private: bool = Field(
        default=False,
        description="Let webhook URLs reach loopback, private, link-local and other non-public "
        "addresses (tests, closed networks); off, such a URL is refused when a subscription is "
        "added and again when a delivery connects.",
    )
    webhooks_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=60,
        description="How long one webhook delivery attempt may wait to connect, and for each "
        "read or write of the request and answer.",
    )
    webhooks_pause_after_hours: float = Field(
        default=24.0,
        gt=0,
        description="A webhook subscription whose every delivery attempt failed for this long "
        "is paused, saying why; resume it once its receiver is fixed.",
    )
    webhooks_concurrency: int = Field(
        default=4,
        ge=0,
        description="Webhook deliveries one long-lived process (server, worker) sends at once; "
        "0: this process sends none.",
    )
    webhooks_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often a process with nothing to send looks for webhook deliveries.",
    )


def default_pool_size() -> int:
    """The local pool's size when ``workers`` is 0: one process per core, plus one.

    The spare is for the database's one writer: on SQLite an import's chunk
    claims and commits one at a time, and a worker whose claim waits for
    another's commit holds no core. With one per core, two workers fell into
    step (both preparing, then each committing while the other waited), a core
    idle at every commit; the spare prepares meanwhile. On 2 cores, a 1M-row
    demo import: 14.5 -> 14.1 s on a quiet machine (the write lock busy 67% ->
    80% of the run), 29 -> 24 s while other work ran; a CSV export was no slower.
    """
    return (os.cpu_count() or 1) + 1


def environment_values(
    model: type[BaseModel], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The fields of ``model`` that ``JOBPORT_*`` variables set, by field name."""
    fields = model.model_fields
    values: dict[str, Any] = {}
    for key, text in (os.environ if environ is None else environ).items():
        name = key.lower().removeprefix(ENV_PREFIX.lower())
        field = fields.get(name)
        if field is not None and len(name) < len(key):
            values[name] = _from_text(field, text)
    return values


def _from_text(field: FieldInfo, text: str) -> Any:
    """A dict (or list) field's JSON, parsed; anything else, or bad JSON, as text for pydantic
    to validate (bad JSON then fails as "a valid dictionary", naming the variable)."""
    if not _holds_json(field.annotation):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _holds_json(annotation: Any) -> bool:
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_holds_json(arg) for arg in get_args(annotation) if arg is not type(None))
    origin = get_origin(annotation) or annotation
    return origin in _JSON_ORIGINS or (isinstance(origin, type) and issubclass(origin, BaseModel))
