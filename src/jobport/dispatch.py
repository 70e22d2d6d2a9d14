"""Turning a request into a tracked run, split into chunks and handed to an executor."""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import Engine

from jobport import metrics
from jobport.errors import InputError, JobportError, MissingExtraError, PermissionDenied
from jobport.executors import Executor
from jobport.files import FileStore
from jobport.formats import FORMATS, ReadOptions
from jobport.kinds import Plan, PlanRequest, kind_for
from jobport.kinds.controls import RunControls
from jobport.kinds.params import RunParams
from jobport.lifecycle import RunStatus
from jobport.registry import JobRegistry, JobType, Limits
from jobport.schedules.gate import Gate, TypeBusy, Waiting, placeholder
from jobport.settings import Settings
from jobport.store import JobStore, NewRun, RunRecord
from jobport.store.section import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartRequest:
    """Everything a face knows when a user asks for a run."""

    type: str
    options: dict[str, Any] = field(default_factory=dict)
    owner: str | None = None
    roles: frozenset[str] = frozenset()
    is_admin: bool = False
    format: str | None = None
    read: dict[str, Any] = field(default_factory=dict)
    #: An import's dry run and error thresholds (see :class:`~jobport.kinds.controls.RunControls`).
    controls: dict[str, Any] = field(default_factory=dict)
    retry_of: str | None = None
    #: Shown to people only; never used to build a path.
    source_name: str | None = None
    #: The id the run gets (a schedule's or a waiting start's, chosen before); default new.
    run_id: str | None = None
    #: Whether a start of a busy type that queues (``queue_when_busy``) may wait for a
    #: slot; the supervisor, starting a start that waited already, says no.
    may_queue: bool = True
    #: The kind of the run when not its type's (an undo of an import type's run).
    kind: str | None = None


def dispatcher_id() -> str:
    """Names this process as the holder of the runs it dispatched on the local pool."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Dispatcher:
    def __init__(
        self,
        *,
        registry: JobRegistry,
        store: JobStore,
        files: FileStore,
        executor: Executor,
        database: Engine,
        max_upload_bytes: int,
        limits: Limits | None = None,
        here: Executor | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self.files = files
        self.executor = executor
        #: Delivers chunks in the thread that waits for its run, when set (see :meth:`deliver`).
        self.here = here
        #: Runs of one chunk held for :meth:`work_here` (given to no executor).
        self._held: set[str] = set()
        #: Set by :meth:`stop_here`: :meth:`work_here` starts no further chunk.
        self._here_stopped = threading.Event()
        self.database = database
        self.max_upload_bytes = max_upload_bytes
        #: The global limits; a job type's own limits take precedence.
        self.limits = limits or Limits(max_file_bytes=max_upload_bytes)

    @functools.cached_property
    def gate(self) -> Gate:
        """The slots of the types with ``max_active`` (see :mod:`jobport.schedules.gate`)."""
        return Gate(self.store)

    def limits_for(self, job_type: JobType | None) -> Limits:
        return job_type.limits.over(self.limits) if job_type is not None else self.limits

    def check(self, request: StartRequest) -> JobType:
        """Refuse a request before anything is stored: unknown type, role, bad options."""
        job_type = self.registry.get(request.type)
        if job_type.roles and not request.is_admin and not (job_type.roles & request.roles):
            raise PermissionDenied(
                f"job type '{job_type.type}' needs one of the roles: "
                f"{', '.join(sorted(job_type.roles))}"
            )
        fmt = request.format
        if fmt is not None and fmt not in job_type.formats:
            raise InputError(
                f"format '{fmt}' is not accepted by '{job_type.type}'; use one of: "
                f"{', '.join(job_type.formats)}"
            )
        validate_options(job_type, request.options)
        if job_type.kind == "import":
            ReadOptions.checked(request.read)
            RunControls.checked(request.controls)
        elif request.controls:
            raise InputError(
                f"'{job_type.type}' is not an import type: only imports take dry runs "
                "and error thresholds"
            )
        if request.retry_of is not None:
            original = self.store.get_run(request.retry_of)
            if original.type != job_type.type:
                raise InputError(
                    f"run {original.id} is a '{original.type}' run, not '{job_type.type}'"
                )
        return job_type

    def store_upload(
        self, stream: IO[bytes], name: str | None, *, job_type: JobType | None = None
    ) -> str:
        """Stream an upload into storage, refusing it as soon as it passes the size limit."""
        key, _ = self.files.put_stream(
            stream,
            area="uploads",
            extension=_extension(name),
            max_bytes=self.limits_for(job_type).max_file_bytes,
        )
        return key

    def store_path(self, path: str | Path, *, job_type: JobType | None = None) -> str:
        key, _ = self.files.put_file(
            str(path),
            area="uploads",
            extension=_extension(str(path)),
            max_bytes=self.limits_for(job_type).max_file_bytes,
        )
        return key

    def start(
        self, request: StartRequest, *, source_key: str | None = None, planned: Plan | None = None
    ) -> RunRecord:
        """Plan and record the run, then hand its chunks to the executor.

        A file refused while planning becomes a failed run with the reason, so
        the user sees what happened in the history like any other run. With
        ``planned`` (a dry run's plan, imported), the run takes that plan as it
        is: its file is not read again.
        """
        job_type = self.check(request)
        try:
            self.gate.check(job_type)
        except TypeBusy:
            return self._busy(job_type, request, source_key)
        options = validate_options(job_type, request.options)
        kind = kind_for(request.kind or job_type.kind)
        run_id = request.run_id or str(uuid.uuid4())
        controls = RunControls.checked(request.controls)
        new = NewRun(
            id=run_id,
            type=job_type.type,
            kind=kind.name,
            strategy=job_type.strategy,
            broadcast=job_type.broadcast,
            owner=request.owner,
            params=RunParams(
                options.model_dump(mode="json"),
                request.read,
                RunControls.checked(request.controls).to_json(),
            ).to_json(),
            max_attempts=job_type.max_attempts,
            format=request.format or format_from_name(request.source_name, job_type),
            source_key=source_key,
            source_name=display_name(request.source_name),
            retry_of=request.retry_of,
            dispatcher=dispatcher_id(),
            dry_run=controls.dry_run,
        )
        try:
            plan = planned or kind.plan(
                self._plan_request(job_type, options, request, new.format, source_key)
            )
        except MissingExtraError:
            # This installation, not the request, lacks what the format needs: nothing
            # ran, so no run is recorded; the CLI exits 2, the API answers the problem.
            raise
        except JobportError as exc:
            return _started(self.store.create_run(new, [], error=exc.message))
        new = NewRun(
            **{
                **new.__dict__,
                "total": plan.total,
                "params": {**new.params, **plan.params},
                "source_key": plan.source_key or source_key,
            }
        )
        try:
            self.gate.take(job_type, run_id)
        except TypeBusy:
            return self._busy(job_type, request, source_key)
        try:
            run = self.store.create_run(new, plan.chunks)
        except BaseException:
            self.gate.release(run_id)
            raise
        if source_key and new.source_key != source_key:
            self._forget_upload(source_key)
        _started(run)
        if plan.chunks:
            self.deliver(run.id, list(range(len(plan.chunks))))
            return self.store.get_run(run.id)
        return run

    def _plan_request(
        self,
        job_type: JobType,
        options: BaseModel,
        request: StartRequest,
        fmt: str | None,
        source_key: str | None,
    ) -> PlanRequest:
        return PlanRequest(
            job_type=job_type,
            options=options,
            files=self.files,
            database=self.database,
            source_key=source_key,
            limits=self.limits_for(job_type),
            format=fmt,
            read=request.read,
            controls=RunControls.checked(request.controls),
            saved_mappings=self.store.saved_mapping,
        )

    def _forget_upload(self, key: str) -> None:
        """Delete an upload that planning replaced by a prepared copy (an XLSX's sheet, a
        CSV re-encoded): the run names the copy, so no run or retention would ever reach
        the upload again. A file that cannot be deleted is logged and left."""
        try:
            self.files.delete(key)
        except Exception:
            log.warning("could not delete the replaced upload %s; it is left behind", key)

    def _busy(self, job_type: JobType, request: StartRequest, source_key: str | None) -> RunRecord:
        """A start of a type at its ``max_active``: refused (:class:`TypeBusy`), or, for a
        type with ``queue_when_busy``, recorded to start when a run of the type ends and
        returned ``queued`` under the id its run will have (see :mod:`jobport.schedules.gate`).
        """
        if not (request.may_queue and job_type.queue_when_busy):
            holders = self.gate.holders(job_type.type)
            raise TypeBusy(job_type.type, job_type.active_limit or 0, holders)
        waiting = Waiting(
            run_id=request.run_id or str(uuid.uuid4()),
            type=job_type.type,
            request={**request.__dict__, "roles": sorted(request.roles), "run_id": None},
            source_key=source_key,
            owner=request.owner,
            created_at=utcnow(),
        )
        self.gate.wait(waiting)
        return placeholder(waiting, job_type, RunStatus.QUEUED)

    def resubmit(self, run_id: str, chunks: list[int]) -> None:
        """Deliver chunks again (the supervisor's, from any thread): always the executor's."""
        if chunks:
            self.executor.submit(run_id, chunks)

    def deliver(self, run_id: str, chunks: list[int]) -> None:
        """Hand a new run's chunks to the executor; with ``here``, a lone chunk to nobody yet.

        A caller that waits for its run anyway (the CLI) sets ``here``: a small
        file's one chunk then runs in that caller's thread when it waits
        (:meth:`work_here`), through the same claim and commit as in a worker,
        and no worker process is started for it (their start costs more than
        the chunk). The executor, and its pool, gets a run only once it has a
        second chunk to run beside the first.
        """
        if self.here is not None and len(chunks) == 1:
            self._held.add(run_id)
            return
        if self.here is not None:
            self.executor.warm()
        self.executor.submit(run_id, chunks)

    def work_here(self, run_id: str) -> None:
        """Run the run's pending chunks in this thread, lowest first (the waiting caller's).

        A run held back by :meth:`deliver` runs here whole; the chunks of a run
        given to the executor run here while its workers are still starting. A
        chunk is claimed before it runs, so each one runs once, whoever gets it.
        """
        if self.here is None:
            return
        held = run_id in self._held
        self._held.discard(run_id)
        for no in self.store.pending_chunks(run_id):
            if self._here_stopped.is_set() or (not held and self.executor.serving()):
                return
            with _RUNNING_HERE:
                self.here.submit(run_id, [no])

    def stop_here(self) -> None:
        """Let :meth:`work_here` start no further chunk (the process is stopping)."""
        self._here_stopped.set()


class _Counter:
    """How many threads of this process are inside a block (a ``with``), thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def __enter__(self) -> None:
        with self._lock:
            self.count += 1

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self.count -= 1


#: Chunks running now in a waiting caller's thread (:meth:`Dispatcher.work_here`).
_RUNNING_HERE = _Counter()


def chunks_running_here() -> int:
    """How many chunks this process runs now in a waiting caller's thread: a process that
    ends meanwhile must not leave them to the interpreter's teardown (see ``jobport.cli``)."""
    return _RUNNING_HERE.count


def _started(run: RunRecord) -> RunRecord:
    """Count a run created for /metrics (and its end, when it ended at once: a file refused
    while planning, nothing to do): no event of its reaches a listener then."""
    metrics.run_started(run.type, run.kind)
    if run.finished:
        metrics.run_finished(run.type, run.status)
    return run


def format_from_name(name: str | None, job_type: JobType) -> str:
    """The format a file's name suggests for ``job_type`` (see :meth:`JobType.format_for`)."""
    return job_type.format_for(name)


def display_name(name: str | None) -> str | None:
    """An upload's name as shown to people: printable, bounded, never a path we use."""
    if name is None:
        return None
    printable = "".join(ch for ch in name if ch.isprintable())
    return printable[-200:]


def limits_from(settings: Settings) -> Limits:
    """The global limits, from settings."""
    return Limits(
        max_file_bytes=settings.max_upload_bytes,
        max_rows=settings.max_rows,
        max_columns=settings.max_columns,
        max_field_bytes=settings.max_field_bytes,
    )


def validate_options(job_type: JobType, options: dict[str, Any]) -> Any:
    try:
        return job_type.options.model_validate(options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'options'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        raise InputError(f"invalid options for '{job_type.type}': {problems}") from None


def _extension(name: str | None) -> str:
    """The suffix an upload is stored under: a registered format's, else none."""
    suffix = Path(name or "").suffix.lower()
    return suffix if suffix and FORMATS.knows_suffix(suffix) else ""
