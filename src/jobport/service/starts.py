"""Starting runs: storing uploads, then starting imports, exports, reports and syncs.

Each start checks the type is of the kind its route is for and that the user
may start it (:meth:`~jobport.service.base.ServiceCore.startable`), and audits
the run it started.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from jobport.audit import Action, entry
from jobport.errors import InputError, RunNotFound, RunStateError, shown
from jobport.kinds import Plan
from jobport.kinds.mapping import signature
from jobport.kinds.params import ImportParams, RunParams
from jobport.lifecycle import COMPLETED_STATUSES
from jobport.principal import Principal
from jobport.registry import JobType
from jobport.service.base import FILE_KINDS, Gone, ServiceCore
from jobport.store import RunRecord


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


class StartUses(ServiceCore):
    """Uploads stored under our keys, and every way a run is started."""

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

    def upload_size(self, key: str) -> int | None:
        """The size of a stored upload in bytes; None once it is gone (a staged preview)."""
        return self.files.size(key) if self.files.exists(key) else None

    def start_import(self, who: Principal, start: ImportStart) -> RunRecord:
        """Plan and queue an import of a stored upload; a file refused while planning is a
        failed run that says why. The upload is removed when the request itself is refused."""
        try:
            self.startable(who, start.type, "import")
            self._corrected_run(who, start.retry_of)
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

    def _corrected_run(self, who: Principal, retry_of: str | None) -> None:
        """Check that ``retry_of`` names a run ``who`` may see: a missing run and another
        user's are refused alike, as a field of the request (422), not as a missing page."""
        if retry_of is None:
            return
        try:
            self.run(who, retry_of)
        except RunNotFound:
            raise InputError(
                f"'retry_of' names no run you can see ('{shown(retry_of)}'); give the id of "
                "the run whose error report this file corrects, or leave 'retry_of' out"
            ) from None

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

    def start_import_file(self, who: Principal, path: str | Path, start: ImportStart) -> RunRecord:
        """Import a local file: the request is checked before the file is copied into
        storage, so a refused one copies nothing (``start.source_key`` is ignored)."""
        job_type = self.startable(who, start.type, "import")
        self._corrected_run(who, start.retry_of)
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
