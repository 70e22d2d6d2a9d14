"""The application layer: one method per use case, for every face.

The CLI, the HTTP API and the dashboard say *who* asks (a :class:`Principal`)
and *what* for; this module decides whether they may and does it. The rules
live here once:

- a run is visible to its owner and to admins; to anyone else it does not
  exist (the same :class:`RunNotFound` a missing run gets, so ids cannot be
  probed);
- a type may be started by admins and by holders of one of its roles
  (:meth:`JobType.may_start`);
- each start route takes the kinds it is for, and says which types it takes
  when given another kind.

Faces turn the results into their own shapes (a table, JSON, a page) and the
errors into exit codes or problem+json; they never reach the store, the
dispatcher or each other.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from jobport.audit import Action, entry
from jobport.dispatch import StartRequest, dispatcher_id, format_from_name, validate_options
from jobport.errors import (
    ConfigurationError,
    InputError,
    JobportError,
    RunNotFound,
    RunStateError,
    UnknownJobType,
    listed,
    shown,
)
from jobport.formats import ReadOptions
from jobport.formats.base import Prepared, TabularFormat, discard
from jobport.kinds import Plan, PlanRequest
from jobport.kinds.columns import ColumnMapping, proposed
from jobport.kinds.importer import Importer
from jobport.kinds.imports import checked_reader, layout_of
from jobport.kinds.mapping import signature
from jobport.kinds.params import ImportParams, RunParams
from jobport.kinds.preview import Preview, preview_import
from jobport.kinds.template import Template, TemplateNotFound, build_template
from jobport.lifecycle import COMPLETED_STATUSES, RunStatus
from jobport.principal import Principal
from jobport.registry import JobType, Kind
from jobport.reports import report_rows
from jobport.schedules.book import ScheduleBook
from jobport.schedules.gate import placeholder
from jobport.signing import LinkSigner, SignedLink
from jobport.store import RunFilter, RunRecord

if TYPE_CHECKING:
    from jobport.engine import Jobport
    from jobport.files import FileStore
    from jobport.store.jobstore import RunStats, UserRecord

#: How many runs an ambiguous short id lists.
SHOWN_CANDIDATES = 5

#: How often a command waiting for a start that waits for a slot of its type tries it.
WAITING_POLL_SECONDS = 0.5

#: How many rows of an upload the mapping step shows as examples of each column.
EXAMPLE_ROWS = 3
#: How much of one example value the mapping step shows.
EXAMPLE_CHARS = 40

#: Kinds whose runs leave a file to download.
FILE_KINDS: tuple[Kind, ...] = ("export", "report")


class WrongKind(InputError):
    """A type was sent to the use case of another kind (an import type to start a sync)."""

    def __init__(self, job_type: JobType, wanted: tuple[str, ...], others: list[JobType]) -> None:
        super().__init__(
            f"'{job_type.type}' is {with_article(job_type.kind)} type, not "
            f"{' or '.join(map(with_article, wanted))}; {' or '.join(wanted)} types: "
            f"{listed(t.type for t in others) or 'none'}"
        )
        self.job_type = job_type
        self.wanted = wanted


def with_article(kind: str) -> str:
    """A kind in a sentence: "an import" but "a sync", "a report"."""
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


class Gone(JobportError):
    """What was asked for existed once and is no longer kept (an expired export file)."""

    status_code = 410
    title = "Gone"


@dataclass(frozen=True)
class ResultFile:
    """What a run's result file is, as its kind recorded it: name, size, rows, expiry."""

    run: RunRecord
    filename: str
    size: int | None
    rows: int | None
    expires_at: datetime | None

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= datetime.now(UTC)

    @property
    def key(self) -> str:
        return self.run.result_key or ""


@dataclass(frozen=True)
class ImportStart:
    """What a face knows when a user starts an import of a stored upload."""

    type: str
    source_key: str
    source_name: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    format: str | None = None
    read: dict[str, Any] = field(default_factory=dict)
    #: Dry run and error thresholds (see :class:`~jobport.kinds.controls.RunControls`).
    controls: dict[str, Any] = field(default_factory=dict)
    retry_of: str | None = None


@dataclass(frozen=True)
class UploadColumns:
    """The mapping step's view of a stored upload: its columns placed, and examples."""

    placed: ColumnMapping
    #: Per column, in file order, the values of its first rows (cut short, blanks left out),
    #: so a person can tell what a column holds whatever its name.
    examples: list[list[str]]


class JobService:
    """Every use case of jobport, over one engine (the composition root that built the parts)."""

    def __init__(self, engine: Jobport) -> None:
        self.engine = engine
        self.registry = engine.registry
        self.store = engine.store
        self.files = engine.files
        self.settings = engine.settings

    def ping(self) -> None:
        """Raise unless the state database answers (what a readiness check asks)."""
        self.store.ping()

    # -- job types --------------------------------------------------------------------------

    def job_type(self, name: str) -> JobType:
        return self.registry.get(name)

    def job_types(self, *kinds: Kind) -> list[JobType]:
        return self.registry.of_kind(*kinds) if kinds else list(self.registry)

    def startable_types(self, who: Principal, *kinds: Kind) -> list[JobType]:
        """The types ``who`` may start, of the given kinds (all kinds when none given)."""
        return [t for t in self.job_types(*kinds) if t.may_start(who)]

    def startable(self, who: Principal, name: str, *kinds: Kind) -> JobType:
        """The type ``name``, checked to be of one of ``kinds`` and startable by ``who``."""
        job_type = self.registry.get(name)
        if kinds and job_type.kind not in kinds:
            raise WrongKind(job_type, kinds, self.job_types(*kinds))
        job_type.require_start(who)
        return job_type

    def template(self, who: Principal, type: str, format: str = "csv") -> Template:
        """A file to fill in for an import type: its columns, required ones marked, and an
        example row. Like a run another user owns, the template of a type ``who`` may not
        start, or of a type that is not an import, does not exist for them."""
        job_type = self.registry.get(type)
        if job_type.kind != "import" or not job_type.may_start(who):
            startable = self.startable_types(who, "import")
            raise TemplateNotFound(
                f"no import type '{shown(type)}' you may start; templates: "
                f"{listed(t.type for t in startable) or 'none'}"
            )
        return build_template(job_type, format)

    def mapping_proposal(self, who: Principal, type: str, header: list[str]) -> ColumnMapping:
        """Each column of a file with this header placed for import type ``type``: by the
        mapping saved for this header, then the proposal (:mod:`jobport.kinds.columns`).
        A type ``who`` may not start, or that is not an import, is unknown to them."""
        job_type = self.registry.get(type) if type in self.registry else None
        if job_type is None or job_type.kind != "import" or not job_type.may_start(who):
            raise UnknownJobType(type, [t.type for t in self.startable_types(who, "import")])
        limit = self.engine.dispatcher.limits_for(job_type).max_columns
        if limit and len(header) > limit:
            raise InputError(
                f"the header has {len(header):,} columns, over the limit of {limit:,} "
                "(raise it with the type's limits or JOBPORT_MAX_COLUMNS)"
            )
        importer = job_type.handler
        if not isinstance(importer, Importer):
            raise ConfigurationError(f"import type '{type}' needs an Importer as its handler")
        return proposed(
            header,
            importer.row,
            synonyms=importer.synonyms,
            type_key=job_type.type,
            saved_mappings=self.store.saved_mapping,
        )

    # -- starting runs ----------------------------------------------------------------------

    def upload_limit(self, job_type: JobType) -> int:
        """The largest file ``job_type`` accepts, in bytes."""
        limits = self.engine.dispatcher.limits_for(job_type)
        return limits.max_file_bytes or self.settings.max_upload_bytes

    def store_upload(self, job_type: JobType | None, stream: IO[bytes], name: str | None) -> str:
        """Stream an upload into storage under a key of ours; refused past the size limit
        (the type's, or the installation's when the type is not known yet: a form's file
        can come before its type field)."""
        return self.engine.dispatcher.store_upload(stream, name, job_type=job_type)

    def store_file(self, job_type: JobType, path: str | Path) -> str:
        """Copy a local file into storage under a key of ours (the CLI's and Python's import)."""
        return self.engine.dispatcher.store_path(path, job_type=job_type)

    def discard_upload(self, key: str) -> None:
        self.files.delete(key)

    def upload_size(self, key: str) -> int | None:
        """The size of a stored upload in bytes; None once it is gone (a staged preview)."""
        return self.files.size(key) if self.files.exists(key) else None

    def start_import(self, who: Principal, start: ImportStart) -> RunRecord:
        """Plan and queue an import of a stored upload; a file refused while planning is a
        failed run that says why. The upload is removed when the request itself is refused."""
        try:
            self.startable(who, start.type, "import")
            if start.retry_of is not None:
                self.run(who, start.retry_of)
            request = self._request(
                who,
                type=start.type,
                options=start.options,
                format=start.format,
                read=start.read,
                controls=start.controls,
                retry_of=start.retry_of,
                source_name=start.source_name,
            )
            run = self.engine.dispatcher.start(request, source_key=start.source_key)
        except BaseException:
            self.discard_upload(start.source_key)
            raise
        self.store.record_audit(
            entry(who, Action.STARTED, run.id, kind="import", fixes=start.retry_of)
        )
        self._save_mapping(who, start, run)
        return run

    def _save_mapping(self, who: Principal, start: ImportStart, run: RunRecord) -> None:
        """Keep the mapping a user gave, once planning took it, for the next file with
        this header that comes without one (see :mod:`jobport.store.mappings`)."""
        header = ImportParams.header_of(run.params)
        mapping = start.read.get("mapping")
        if mapping and header and "columns" in run.params:
            self.store.save_mapping(
                run.type, signature(header), header, mapping, saved_by=who.owner
            )

    def start_from_dry_run(self, who: Principal, run_id: str) -> RunRecord:
        """Import what a dry run checked, without the file being sent or read to plan again.

        The new run takes the dry run's type, options, read options, mapping,
        thresholds and plan (its chunks over the stored upload) as they are;
        the dry run then hands its files over to it and records it as
        ``result["imported_as"]``. A dry run is imported once, and only when it
        completed.
        """
        dry = self.run(who, run_id)
        if not dry.dry_run:
            raise InputError(f"run {dry.id} is not a dry run: only a dry run can be imported")
        imported = (dry.result or {}).get("imported_as")
        if imported:
            raise RunStateError(f"dry run {dry.id} was already imported as run {imported}")
        if dry.status not in COMPLETED_STATUSES:
            why = f" ({dry.error})" if dry.error else ""
            raise RunStateError(
                f"dry run {dry.id} is {dry.status}{why}; only a completed dry run can be imported"
            )
        self.startable(who, dry.type, "import")
        if dry.source_key is None or not self.files.exists(dry.source_key):
            raise Gone(f"the file of dry run {dry.id} is no longer stored; import the file again")
        given = RunParams.of(dry.params)
        request = self._request(
            who,
            type=dry.type,
            options=given.options,
            format=dry.format,
            read=given.read,
            controls={k: v for k, v in given.controls.items() if k != "dry_run"},
            source_name=dry.source_name,
        )
        planned = Plan(
            chunks=self.store.chunk_specs(dry.id),
            total=dry.total,
            params={
                **{k: v for k, v in dry.params.items() if k not in ("options", "read", "controls")},
                "from_dry_run": dry.id,
            },
            source_key=dry.source_key,
        )
        run = self.engine.dispatcher.start(request, source_key=dry.source_key, planned=planned)
        self.store.hand_over(dry.id, run.id)
        self.store.record_audit(entry(who, Action.STARTED, run.id, kind="import", dry_run=dry.id))
        return run

    def start_export(
        self,
        who: Principal,
        type: str,
        *,
        options: dict[str, Any] | None = None,
        format: str | None = None,
    ) -> RunRecord:
        """Start an export or a report: a run whose result is a file."""
        job_type = self.startable(who, type, *FILE_KINDS)
        run = self.engine.start(self._request(who, type=type, options=options, format=format))
        self.store.record_audit(entry(who, Action.STARTED, run.id, kind=job_type.kind))
        return run

    def start_sync(
        self,
        who: Principal,
        type: str,
        *,
        options: dict[str, Any] | None = None,
        full: bool = False,
    ) -> RunRecord:
        """Start a sync, after the stored cursor unless ``full`` starts from the beginning."""
        self.startable(who, type, "sync")
        read = {"full": True} if full else {}
        run = self.engine.start(self._request(who, type=type, options=options, read=read))
        self.store.record_audit(entry(who, Action.STARTED, run.id, kind="sync", full=full or None))
        return run

    def preview(
        self,
        who: Principal,
        type: str,
        source_key: str,
        *,
        source_name: str | None = None,
        options: dict[str, Any] | None = None,
        format: str | None = None,
        read: dict[str, Any] | None = None,
        rows: int = 20,
    ) -> Preview:
        """The first ``rows`` rows of a stored upload validated, nothing written.

        Refuses what planning the real import would refuse, with the same errors.
        """
        request = self._import_request(who, type, source_key, source_name, options, format, read)
        return preview_import(request, limit=rows)

    def upload_mapping(
        self,
        who: Principal,
        type: str,
        source_key: str,
        *,
        source_name: str | None = None,
        options: dict[str, Any] | None = None,
        format: str | None = None,
        read: dict[str, Any] | None = None,
    ) -> UploadColumns:
        """The dashboard's mapping step: each column of a stored upload's header placed
        as :meth:`mapping_proposal` places a header, with the values of its first rows.

        The file is read as planning reads it (``read``: encoding, delimiter, sheet,
        header row), and refused for what planning refuses of the file and its header,
        but not for a required field no column feeds: the step is where one is chosen.
        """
        request = self._import_request(who, type, source_key, source_name, options, format, read)
        parsed = ReadOptions.checked(request.read)
        scratch: list[str] = []
        try:
            reader = checked_reader(self.files, source_key, request.format or "", parsed)
            prepared = reader.prepare(self.files, source_key, parsed)
            scratch += prepared.scratch
            placed = self.mapping_proposal(who, type, prepared.header)  # column limit too
            return UploadColumns(placed, _examples(self.files, reader, prepared))
        finally:
            discard(self.files, scratch)

    def _import_request(
        self,
        who: Principal,
        type: str,
        source_key: str,
        source_name: str | None,
        options: dict[str, Any] | None,
        format: str | None,
        read: dict[str, Any] | None,
    ) -> PlanRequest:
        """What planning an import of a stored upload would be given (nothing is stored),
        refused as a start would be: type, role, format, options, read options."""
        job_type = self.startable(who, type, "import")
        self.engine.dispatcher.check(
            self._request(who, type=type, options=options, format=format, read=read)
        )
        return PlanRequest(
            job_type=job_type,
            options=validate_options(job_type, options or {}),
            files=self.files,
            database=self.engine.database,
            source_key=source_key,
            format=format or format_from_name(source_name, job_type),
            read=read or {},
            limits=self.engine.dispatcher.limits_for(job_type),
            saved_mappings=self.store.saved_mapping,
        )

    def _request(self, who: Principal, **values: Any) -> StartRequest:
        values = {k: v for k, v in values.items() if v is not None}
        return StartRequest(owner=who.owner, roles=who.roles, is_admin=who.is_admin, **values)

    # -- runs -------------------------------------------------------------------------------

    def run(self, who: Principal, run_id: str) -> RunRecord:
        """The run, if ``who`` may see it; otherwise the very error a missing run gives.

        A start waiting for a slot of its type (``queue_when_busy``) is a ``queued`` run
        not recorded yet (see :func:`jobport.schedules.gate.placeholder`).
        """
        run = self.store.find_run(run_id) or self._waiting(run_id)
        if run is None or not who.can_see(run.owner):
            raise RunNotFound(run_id)
        return run

    def history(
        self, who: Principal, filters: RunFilter, *, limit: int, offset: int = 0
    ) -> tuple[list[RunRecord], int]:
        """Runs newest first; a non-admin sees their own whatever the filter says."""
        if not who.is_admin:
            filters = RunFilter(**{**filters.__dict__, "owner": who.name})
        return self.store.list_runs(filters, limit=limit, offset=offset)

    def failures(
        self, who: Principal, run_id: str, *, limit: int, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        run = self.run(who, run_id)
        return self.store.list_failures(run.id, limit=limit, offset=offset)

    def error_report(self, who: Principal, run_id: str) -> Iterator[list[str]]:
        """The error report's rows (header first), cells neutralised as exports are."""
        run = self.run(who, run_id)
        self.store.record_audit(entry(who, Action.DOWNLOADED, run.id, file="error report"))
        return report_rows(self.store, run)

    def error_report_name(self, run: RunRecord) -> str:
        """The file name an error report is downloaded under."""
        return f"{run.type}-{run.id[:8]}-failures.csv"

    def result_blocks(self, found: ResultFile, size: int = 1 << 20) -> Iterator[bytes]:
        """A result file's bytes in blocks, read from storage as they are sent."""
        with self.files.open(found.key) as handle:
            while block := handle.read(size):
                yield block

    def chunks(self, who: Principal, run_id: str) -> list[dict[str, Any]]:
        """The chunks of a run ``who`` may see, in order: status, rows, attempts, errors."""
        return self.store.chunks(self.run(who, run_id).id)

    def active_runs(self, who: Principal) -> list[RunRecord]:
        """The runs not finished yet that ``who`` may see, newest first."""
        runs = [run for run in self.store.active_runs() if who.can_see(run.owner)]
        runs.reverse()
        return runs

    def run_stats(self, who: Principal, *, since: datetime, until: datetime) -> RunStats:
        """Volume, outcomes, durations and speeds of the runs ``who`` may see, created in
        ``[since, until)``: every run for an admin, their own for anyone else."""
        owner = None if who.is_admin else who.name
        return self.store.run_stats(owner=owner, since=since, until=until)

    def cancel(self, who: Principal, run_id: str) -> RunRecord:
        run = self.run(who, run_id)
        if run.params.get("waiting") and self.engine.dispatcher.gate.forget_waiting(run.id):
            if run.source_key:
                self.discard_upload(run.source_key)
            # A start still waiting for a slot has no run row: nothing to audit it against.
            return replace(run, status=RunStatus.CANCELLED, finished_at=datetime.now(UTC))
        cancelled = self.engine.supervisor.cancel(run.id)
        self.store.record_audit(entry(who, Action.CANCELLED, run.id))
        return cancelled

    def retry(self, who: Principal, run_id: str) -> RunRecord:
        run = self.engine.supervisor.retry(self.run(who, run_id).id)
        self.store.record_audit(entry(who, Action.RETRIED, run.id))
        return run

    def resume(self, who: Principal, run_id: str) -> RunRecord:
        run = self.engine.supervisor.resume(self.run(who, run_id).id)
        self.store.record_audit(entry(who, Action.RESUMED, run.id))
        return run

    # -- the local operator's (CLI) ---------------------------------------------------------

    def run_id(self, who: Principal, given: str) -> str:
        """The full id of the run ``given`` names: its id or a unique start of it (a short id).

        Ambiguous starts list a few of the ids they match (bounded), so the user
        knows how much more to type.
        """
        if self.store.find_run(given) is not None or self._waiting(given) is not None:
            return self.run(who, given).id
        found = self.store.run_ids_starting_with(given, limit=SHOWN_CANDIDATES + 1) if given else []
        found = [run_id for run_id in found if who.can_see(self.store.get_run(run_id).owner)]
        if not found:
            raise RunNotFound(given)
        if len(found) == 1:
            return found[0]
        listed_ids = ", ".join(found[:SHOWN_CANDIDATES])
        more = ", ..." if len(found) > SHOWN_CANDIDATES else ""
        raise InputError(
            f"'{given}' starts the ids of several runs ({listed_ids}{more}): give more of it"
        )

    def wait(
        self,
        who: Principal,
        run_id: str,
        *,
        on_update: Callable[[RunRecord], None] | None = None,
    ) -> RunRecord:
        """Block until the run ends, reporting each change of its counters.

        A start waiting for a slot of its type is started from here when one is free
        (as the supervisor of a long-lived process would), then waited for.
        """
        run = self.run(who, run_id)
        while run.params.get("waiting"):
            if not self.engine.supervisor.scheduler.start_waiting([run.type]):
                time.sleep(WAITING_POLL_SECONDS)
            run = self.run(who, run_id)
        return self.engine.wait(run.id, on_update=on_update)

    def start_import_file(self, who: Principal, path: str | Path, start: ImportStart) -> RunRecord:
        """Import a local file: the request is checked before the file is copied into
        storage, so a refused one copies nothing (``start.source_key`` is ignored)."""
        job_type = self.startable(who, start.type, "import")
        if start.retry_of is not None:
            self.run(who, start.retry_of)
        self.engine.dispatcher.check(
            self._request(
                who,
                type=start.type,
                options=start.options,
                format=start.format,
                read=start.read,
                controls=start.controls,
                retry_of=start.retry_of,
            )
        )
        key = self.store_file(job_type, path)
        return self.start_import(who, replace(start, source_key=key))

    def copy_result(self, who: Principal, run_id: str, out: IO[bytes]) -> None:
        """Write a run's result file to ``out`` (the CLI's ``--out``)."""
        run = self.run(who, run_id)
        if not run.result_key:
            raise InputError(f"run {run.id} has no file")
        self.files.copy_out(run.result_key, out)
        self.store.record_audit(entry(who, Action.DOWNLOADED, run.id, file="result"))

    def delete_expired_results(self, who: Principal, *, now: datetime | None = None) -> list[str]:
        """Delete the result files of ``who``'s exports and reports (every one for an admin)
        whose expiry has passed; each run keeps its result marked ``expired``.

        Returns the ids of the runs whose file was deleted.
        """
        now = now or datetime.now(UTC)
        owner = None if who.is_admin else who.name
        deleted: list[str] = []
        for kind in FILE_KINDS:
            offset = 0
            while runs := self.store.runs_with_results(
                kind=kind, owner=owner, limit=200, offset=offset
            )[0]:
                offset += len(runs)
                for run in runs:
                    result = run.result or {}
                    expires = parse_time(result.get("expires_at"))
                    if not run.result_key or expires is None or expires >= now:
                        continue
                    self.files.delete(run.result_key)
                    expired = {**result, "expired": True, "deleted_at": now.isoformat()}
                    self.store.set_result(run.id, "", expired)
                    deleted.append(run.id)
        return deleted

    def own_active_runs(self) -> list[RunRecord]:
        """The unfinished runs this process dispatched (what an interrupt stops)."""
        me = dispatcher_id()
        return [run for run in self.store.active_runs() if run.dispatcher == me]

    def stop_own_runs(self) -> list[RunRecord]:
        """After Ctrl-C or SIGTERM: stop this process's runs at once, leaving them resumable.

        The worker processes are ended rather than waited for, the chunks they held
        are put back without counting an attempt (the user stopped them, not their
        input), and each run is cancelled: ``jobport resume`` continues it from its
        unfinished chunks, and nothing is left ``running`` with no process behind it.
        """
        self.engine.stop_sweeper()
        self.engine.dispatcher.stop_here()
        self.engine.executor.terminate()
        self.store.lose_leases({dispatcher_id(): None})
        stopped = []
        for run in self.own_active_runs():
            try:
                stopped.append(self.engine.supervisor.cancel(run.id))
            except RunStateError:
                continue  # it ended meanwhile
        return stopped

    # -- schedules --------------------------------------------------------------------------

    @functools.cached_property
    def schedules(self) -> ScheduleBook:
        """Adding, listing, pausing, resuming and removing schedules (their rules are
        :class:`~jobport.schedules.book.ScheduleBook`'s: whoever may start a type may
        schedule it; a non-admin sees and changes their own schedules only)."""
        scheduler = self.engine.supervisor.scheduler
        return ScheduleBook(
            dispatcher=self.engine.dispatcher,
            registry=self.registry,
            store=scheduler.store,
            clock=scheduler.clock,
        )

    def _waiting(self, run_id: str) -> RunRecord | None:
        waiting = self.engine.dispatcher.gate.waiting(run_id)
        if waiting is None or waiting.type not in self.registry:
            return None
        return placeholder(waiting, self.registry.get(waiting.type), RunStatus.QUEUED)

    # -- users ------------------------------------------------------------------------------

    def token_principal(self, token_hash: str) -> Principal | None:
        """The user holding the API token of this hash (a sign-in), or None."""
        return _principal(self.store.user_by_token_hash(token_hash))

    def session_principal(self, token_hash: str, session_id: str) -> Principal | None:
        """The user a dashboard session was opened for; None once it was signed out or
        the user's token was replaced."""
        return _principal(self.store.user_by_session(token_hash, session_id))

    def end_session(self, session_id: str, expires_at: datetime) -> None:
        """Sign a dashboard session out on the server, for every process, until it expires."""
        self.store.end_session(session_id, expires_at)

    # -- result files -----------------------------------------------------------------------

    def exports(
        self, who: Principal, *, limit: int, offset: int = 0
    ) -> tuple[list[RunRecord], int]:
        """``who``'s own finished exports and reports, newest first."""
        return self.store.runs_with_results(
            kind=FILE_KINDS, owner=who.name, limit=limit, offset=offset
        )

    def result_of(self, who: Principal, run_id: str) -> ResultFile:
        """A run's result file that can be downloaded now, or why it cannot (a download:
        audited)."""
        found = self.downloadable(self.run(who, run_id))
        self.store.record_audit(entry(who, Action.DOWNLOADED, found.run.id, file="result"))
        return found

    def result_file(self, run: RunRecord) -> ResultFile:
        """Name, size, rows and expiry of a run's result, from what its kind recorded."""
        result = run.result or {}
        filename = str(result.get("filename") or f"{run.type}-{run.id[:8]}.{run.format or 'bin'}")
        size = result.get("size", result.get("bytes"))
        rows = result.get("rows", run.processed)
        expires_at = parse_time(result.get("expires_at"))
        if expires_at is None and run.finished_at is not None:
            expires_at = aware(run.finished_at) + timedelta(hours=self.settings.export_ttl_hours)
        return ResultFile(
            run=run,
            filename=filename,
            size=int(size) if isinstance(size, int | float) else None,
            rows=int(rows) if isinstance(rows, int | float) else None,
            expires_at=expires_at,
        )

    def share_link(self, who: Principal, run_id: str, ttl: int) -> SignedLink:
        """A signed, expiring link to a run's file, for anyone holding it."""
        run = self.run(who, run_id)
        link = LinkSigner.from_settings(self.settings).sign(run.id, ttl)
        self.store.record_audit(entry(who, Action.SHARED, run.id, ttl=ttl))
        return link

    def shared_result(self, run_id: str, expires: str, signature: str) -> ResultFile:
        """The run a signed link names, once its signature and expiry are checked."""
        LinkSigner.from_settings(self.settings).verify(run_id, expires, signature)
        run = self.store.find_run(run_id)
        if run is None:
            raise RunNotFound(run_id)
        found = self.downloadable(run)
        self.store.record_audit(entry(None, Action.DOWNLOADED, run.id, file="result"))
        return found

    def downloadable(self, run: RunRecord) -> ResultFile:
        """The run's result file, or the error that says why it cannot be had now."""
        if run.result_key:  # "" when the kind could not make the file
            found = self.result_file(run)
            if found.expired or not self.files.exists(run.result_key):
                raise Gone(f"the file of export {run.id} has expired; start the export again")
            return found
        if not run.finished:
            raise RunStateError(f"run {run.id} is still {run.status}; download it when done")
        if run.kind not in FILE_KINDS:
            raise InputError(f"run {run.id} is an {run.kind} run and left no file")
        raise Gone(f"export {run.id} ended {run.status} without a file; start it again")


def _examples(files: FileStore, reader: TabularFormat, prepared: Prepared) -> list[list[str]]:
    """Per column of a prepared file, the values of its first :data:`EXAMPLE_ROWS` rows
    (cut short, blanks left out), read as a chunk reads them."""
    header = prepared.header
    examples: list[list[str]] = [[] for _ in header]
    first = next(iter(reader.plan(files, prepared, EXAMPLE_ROWS)), None)
    if first is None:
        return examples
    records = reader.read(files, prepared.source_key, layout_of(prepared), first)
    for _, values in itertools.islice(records, EXAMPLE_ROWS):
        for index, value in enumerate(values if isinstance(values, list) else []):
            if index < len(header) and value not in (None, ""):
                examples[index].append(shown(value, EXAMPLE_CHARS))
    return examples


def _principal(user: UserRecord | None) -> Principal | None:
    return None if user is None else Principal(user.name, user.is_admin, frozenset(user.roles))


def parse_time(value: Any) -> datetime | None:
    """A time as a result records it (ISO 8601 text or a datetime), aware in UTC."""
    if isinstance(value, datetime):
        return aware(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return aware(datetime.fromisoformat(value))
    return None


def aware(moment: datetime) -> datetime:
    """A stored time as an aware UTC datetime (SQLite hands back naive ones)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


__all__ = ["FILE_KINDS", "Gone", "ImportStart", "JobService", "ResultFile", "WrongKind"]
