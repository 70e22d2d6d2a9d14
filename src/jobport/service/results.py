"""Result files: what a run left to download, its expiry, signed links and deletion.

An export's or report's file is kept until it expires; after that the run is
:class:`~jobport.service.base.Gone` as far as its file goes, and
:meth:`ResultUses.delete_expired_results` removes the file itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, TYPE_CHECKING, Any

from jobport.audit import Action, entry
from jobport.errors import InputError, RunNotFound, RunStateError
from jobport.principal import Principal
from jobport.service.base import FILE_KINDS, Gone, ServiceCore, with_article
from jobport.store import RunRecord

if TYPE_CHECKING:
    from jobport.signing import SignedLink


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


class ResultUses(ServiceCore):
    """Listing, downloading, sharing and deleting the result files of runs."""

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
        """A signed, expiring link to a run's file, for anyone holding it; refused, as its
        download would be, while the run has no file to share."""
        from jobport.signing import LinkSigner  # a link's keys: loaded where links are made

        run = self.downloadable(self.run(who, run_id)).run
        link = LinkSigner.from_settings(self.settings).sign(run.id, ttl)
        self.store.record_audit(entry(who, Action.SHARED, run.id, ttl=ttl))
        return link

    def shared_result(self, run_id: str, expires: str, signature: str) -> ResultFile:
        """The run a signed link names, once its signature and expiry are checked."""
        from jobport.signing import LinkSigner

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
            raise InputError(f"run {run.id} is {with_article(run.kind)} run and left no file")
        raise Gone(f"export {run.id} ended {run.status} without a file; start it again")

    def result_blocks(self, found: ResultFile, size: int = 1 << 20) -> Iterator[bytes]:
        """A result file's bytes in blocks, read from storage as they are sent."""
        with self.files.open(found.key) as handle:
            while block := handle.read(size):
                yield block

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
