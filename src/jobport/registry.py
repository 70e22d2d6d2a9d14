"""Job types and the registry that groups them by kind.

A job type is plain data: what it is called, which kind of work it is, which
table it touches and which handler does the kind-specific part. The registry
is the only place the rest of jobport looks job types up, so faces, workers
and the dispatcher agree on what exists.
"""

from __future__ import annotations

import builtins
import functools
import importlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

from jobport.errors import (
    ConfigurationError,
    DuplicateJobType,
    PermissionDenied,
    RegistryError,
    UnknownJobType,
)
from jobport.kinds import KINDS as KIND_REGISTRY
from jobport.principal import Principal

if TYPE_CHECKING:
    import sqlalchemy as sa

    from jobport.events import Listener

#: The name of a kind of work: one of :data:`jobport.kinds.KINDS` ("import", "export", ...).
Kind = str
Strategy = Literal["polling", "websocket", "none"]
#: The kinds' names when this module loaded (``KIND_REGISTRY.names()`` is always current).
KINDS: tuple[Kind, ...] = KIND_REGISTRY.declared()
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)
ENTRY_POINT_GROUP = "jobport.apps"
#: The most active runs of a type of each kind, unless the type says (absent: no limit).
DEFAULT_MAX_ACTIVE: dict[Kind, int] = {"sync": 1}

log = logging.getLogger(__name__)


class NoOptions(BaseModel):
    """The options schema of a type that takes none: anything given is refused."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Limits:
    """Caps on what one file may hold. ``None`` means "the global setting"."""

    max_file_bytes: int | None = None
    max_rows: int | None = None
    max_columns: int | None = None
    max_field_bytes: int | None = None

    def over(self, defaults: Limits) -> Limits:
        """These limits, with the unset ones taken from ``defaults``."""
        return Limits(
            max_file_bytes=self.max_file_bytes or defaults.max_file_bytes,
            max_rows=self.max_rows or defaults.max_rows,
            max_columns=self.max_columns or defaults.max_columns,
            max_field_bytes=self.max_field_bytes or defaults.max_field_bytes,
        )


@dataclass(frozen=True)
class TableRef:
    """A job type's table named now and imported on first use: ``where`` is the
    "module:attribute" of a Table or an ORM class, whose table must be called ``name``.

    Declaring and listing job types then loads neither the tables' module nor
    SQLAlchemy (half of ``jobport types``); a run imports it when it needs the table.
    """

    name: str
    where: str

    @functools.cached_property
    def table(self) -> sa.Table:
        """The table, imported once; a RegistryError if it is missing or named otherwise."""
        import pkgutil

        import sqlalchemy as sa

        try:
            model = pkgutil.resolve_name(self.where)
        except (ImportError, AttributeError, ValueError) as exc:
            raise RegistryError(f"table '{self.name}': cannot load {self.where}: {exc}") from exc
        table = getattr(model, "__table__", model)
        if not isinstance(table, sa.Table):
            raise RegistryError(f"{self.where} is not a Table nor an ORM class")
        if table.name != self.name:
            raise RegistryError(f"{self.where} is the table '{table.name}', not '{self.name}'")
        return table


@dataclass(frozen=True, kw_only=True)
class JobType:
    """One kind of job users can start, e.g. "import customers from a file"."""

    type: str
    label: str
    kind: Kind
    handler: Any
    #: The target: a Table, an ORM class, or a :class:`TableRef` to import on first use.
    model: Any = None
    broadcast: bool = True
    strategy: Strategy = "polling"
    chunk_size: int = 5_000
    formats: tuple[str, ...] = ("csv",)
    options: builtins.type[BaseModel] = NoOptions
    roles: frozenset[str] = frozenset()
    max_attempts: int = 3
    limits: Limits = Limits()
    #: Most failed rows one run stores (None: JOBPORT_MAX_STORED_FAILURES); more are counted.
    max_stored_failures: int | None = None
    #: The Celery queue its chunks go to (JOBPORT_TYPE_QUEUES / _KIND_QUEUES may override).
    queue: str | None = None
    #: At most this many runs of the type active at once (None: no limit); "kind" is the
    #: kind's default: one for a sync (two would move one cursor), no limit otherwise.
    max_active: int | Literal["kind"] | None = "kind"
    #: A start beyond ``max_active`` waits for a run of the type to end, instead of
    #: being refused.
    queue_when_busy: bool = False
    #: An import that keeps an undo log: each chunk saves the rows it changes (before-
    #: images, inserted keys) with its rows, so the run can be undone (docs/undo.md).
    #: Costs a read of the chunk's rows before and after its write, and the log's rows.
    undoable: bool = False
    description: str = ""
    #: Where the type was declared ("module:attr" or an entry point name); set on registration.
    origin: str = ""

    def __post_init__(self) -> None:
        if not self.type or not self.type.replace("-", "").replace("_", "").isalnum():
            raise RegistryError(f"job type key {self.type!r} must be letters, digits, '-' or '_'")
        kinds = KIND_REGISTRY.declared()
        if self.kind not in kinds:
            raise RegistryError(f"job type '{self.type}': kind must be one of {', '.join(kinds)}")
        if self.strategy not in STRATEGIES:
            raise RegistryError(
                f"job type '{self.type}': strategy must be one of {', '.join(STRATEGIES)}"
            )
        if self.chunk_size < 1:
            raise RegistryError(f"job type '{self.type}': chunk_size must be at least 1")
        if self.max_attempts < 1:
            raise RegistryError(f"job type '{self.type}': max_attempts must be at least 1")
        if self.max_stored_failures is not None and self.max_stored_failures < 0:
            raise RegistryError(f"job type '{self.type}': max_stored_failures must be 0 or more")
        if self.undoable and self.kind != "import":
            raise RegistryError(f"job type '{self.type}': only import types can be undoable")
        limit = self.max_active
        if limit != "kind" and limit is not None and (isinstance(limit, bool) or limit < 1):
            raise RegistryError(
                f"job type '{self.type}': max_active must be at least 1, or None for no limit"
            )

    @property
    def active_limit(self) -> int | None:
        """How many runs of the type may be active at once; None: any number."""
        if self.max_active == "kind":
            return DEFAULT_MAX_ACTIVE.get(self.kind)
        return self.max_active

    def format_for(self, name: str | None) -> str:
        """The format a file's name suggests, if the type takes it; else the type's first.

        The name only picks the reader: the file's bytes must then agree with it,
        or the import is refused (see the formats' ``sniff``). Every face and the
        dispatcher ask this, so a file is read the same way however it came.
        """
        # Imported here: it loads every format, which declaring or listing types must not.
        from jobport.formats.spec import FORMATS

        spec = FORMATS.by_suffix(PurePath(name or "").suffix)
        return spec.name if spec is not None and spec.name in self.formats else self.formats[0]

    def may_start(self, principal: Principal) -> bool:
        """The one rule of who may start runs of this type: admins, or a holder of its roles."""
        return not self.roles or principal.is_admin or bool(self.roles & principal.roles)

    def require_start(self, principal: Principal) -> None:
        if not self.may_start(principal):
            raise PermissionDenied(
                f"job type '{self.type}' needs one of the roles: {', '.join(sorted(self.roles))}"
            )

    @property
    def table(self) -> sa.Table | None:
        """The target table, whether ``model`` was given as a Table, an ORM class or a
        :class:`TableRef` (imported now)."""
        if self.model is None:
            return None
        if isinstance(self.model, TableRef):
            return self.model.table
        import sqlalchemy as sa  # a model is SQLAlchemy's: declaring types needs none loaded

        table = getattr(self.model, "__table__", self.model)
        if not isinstance(table, sa.Table):
            raise RegistryError(f"job type '{self.type}': model must be a Table or an ORM class")
        return table

    @property
    def table_name(self) -> str | None:
        """The target table's name (a :class:`TableRef`'s without importing its table)."""
        if isinstance(self.model, TableRef):
            return self.model.name
        table = self.table
        return table.name if table is not None else None

    @property
    def row_schema(self) -> builtins.type[BaseModel] | None:
        row = getattr(self.handler, "row", None)
        return row if isinstance(row, builtins.type) and issubclass(row, BaseModel) else None

    def options_json_schema(self) -> dict[str, Any]:
        return self.options.model_json_schema()

    def row_json_schema(self) -> dict[str, Any] | None:
        row = self.row_schema
        return row.model_json_schema() if row is not None else None

    def columns(self) -> list[dict[str, Any]]:
        """Name, JSON type and whether required, for each column a file may carry."""
        row = self.row_schema
        if row is None:
            return []
        properties = row.model_json_schema().get("properties", {})
        out = []
        for name, info in row.model_fields.items():
            prop = properties.get(name, {})
            out.append(
                {
                    "name": name,
                    "type": _json_type(prop),
                    "required": info.is_required(),
                    "description": info.description or "",
                }
            )
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "label": self.label,
            "kind": self.kind,
            "strategy": self.strategy,
            "broadcast": self.broadcast,
            "formats": list(self.formats),
            "chunk_size": self.chunk_size,
            "model": self.table_name,
            "roles": sorted(self.roles),
            "max_active": self.active_limit,
            "queue_when_busy": self.queue_when_busy,
            "undoable": self.undoable,
            "origin": self.origin,
            "description": self.description,
        }


def _json_type(prop: dict[str, Any]) -> str:
    if "type" in prop:
        return str(prop["type"]) + (f":{prop['format']}" if "format" in prop else "")
    for option in prop.get("anyOf", []):
        if option.get("type") not in (None, "null"):
            return _json_type(option)
    return "string"


@dataclass
class JobRegistry:
    """Every job type of an application, looked up by its ``type`` key."""

    _types: dict[str, JobType] = field(default_factory=dict)
    _listeners: list[Listener] = field(default_factory=list)

    def add(self, job_type: JobType, *, origin: str = "") -> JobType:
        if job_type.type in self._types:
            raise DuplicateJobType(job_type.type)
        if origin and not job_type.origin:
            job_type = _with_origin(job_type, origin)
        self._types[job_type.type] = job_type
        return job_type

    def extend(self, other: JobRegistry, *, origin: str = "") -> None:
        for job_type in other:
            self.add(job_type, origin=origin)
        self._listeners.extend(other._listeners)

    def listen(self, listener: Listener) -> Listener:
        """Register an event listener; usable as a decorator. Called in order."""
        self._listeners.append(listener)
        return listener

    @property
    def listeners(self) -> list[Listener]:
        return list(self._listeners)

    def get(self, name: str) -> JobType:
        try:
            return self._types[name]
        except KeyError:
            raise UnknownJobType(name, list(self._types)) from None

    def kind(self, name: str) -> Kind:
        return self.get(name).kind

    def job(self, name: str) -> Any:
        return self.get(name).handler

    def model(self, name: str) -> sa.Table | None:
        return self.get(name).table

    def should_broadcast(self, name: str) -> bool:
        return self.get(name).broadcast

    def of_kind(self, *kinds: Kind) -> list[JobType]:
        return [t for t in self._types.values() if t.kind in kinds]

    def grouped(self) -> dict[Kind, list[JobType]]:
        return {kind: self.of_kind(kind) for kind in KIND_REGISTRY.declared()}

    def __iter__(self) -> Iterator[JobType]:
        return iter(self._types.values())

    def __len__(self) -> int:
        return len(self._types)

    def __contains__(self, name: object) -> bool:
        return name in self._types


def _with_origin(job_type: JobType, origin: str) -> JobType:
    from dataclasses import replace

    return replace(job_type, origin=origin)


def load_app(reference: str) -> JobRegistry:
    """Import ``module`` or ``module:attribute`` and return the registry it holds.

    The attribute may be a :class:`JobRegistry` or a callable returning one;
    without an attribute, ``registry`` is looked up.
    """
    module_name, _, attribute = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"cannot import app module '{module_name}': {exc}") from exc
    target = getattr(module, attribute or "registry", None)
    if callable(target) and not isinstance(target, JobRegistry):
        target = target()
    if not isinstance(target, JobRegistry):
        raise ConfigurationError(
            f"'{reference}' holds no JobRegistry; define `registry = JobRegistry()` in the module "
            "or name it as module:attribute"
        )
    merged = JobRegistry()
    merged.extend(target, origin=reference)
    return merged


def load_registry(app: str | None, *, include_entry_points: bool = True) -> JobRegistry:
    """The registry of an app module plus every ``jobport.apps`` entry point."""
    registry = load_app(app) if app else JobRegistry()
    if include_entry_points:
        for point in _app_entry_points():
            if app and point.value == app:
                continue
            registry.extend(load_app(point.value), origin=f"entry point {point.name}")
    return registry


def _app_entry_points() -> Iterable[Any]:
    return entry_points(group=ENTRY_POINT_GROUP)


def registry_of(*job_types: JobType, listeners: Iterable[Callable[..., Any]] = ()) -> JobRegistry:
    """A registry holding the given types, handy in tests and small apps."""
    registry = JobRegistry()
    for job_type in job_types:
        registry.add(job_type)
    for listener in listeners:
        registry.listen(listener)
    return registry
