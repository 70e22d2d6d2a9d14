"""The files an import schedule picks: a glob over a local folder or an fsspec URL.

``/data/incoming/*.csv`` and ``s3://bucket/incoming/*.csv`` both work (a
source without a wildcard is a folder: every file in it). A file is known by
its path, size and modification time (an object store's ETag when it has
one), so a file written again under the same name is a new file; each one is
claimed once in the state database (:mod:`jobport.store.schedules`), then
moved to a ``done/`` folder beside it. Write files under a name the pattern
does not match and rename them into place: a file is picked as soon as it
matches, whole or not.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from jobport.errors import InputError, MissingExtraError, shown

#: The folder, beside the matched files, where imported files are moved.
DONE = "done"
_WILDCARDS = set("*?[")


@dataclass(frozen=True)
class FoundFile:
    path: str
    name: str
    #: What the claim is keyed by: a digest of the path, size and version.
    key: str


class Folder:
    """A source glob opened with fsspec (``storage_options`` for its protocol's credentials)."""

    def __init__(self, source: str, storage_options: dict[str, Any] | None = None) -> None:
        self.source = glob_of(source)
        protocol = self.source.split("://", 1)[0] if "://" in self.source else "file"
        import fsspec  # ~15 ms: loaded by the first schedule with a folder, not with the sweep

        try:
            self.fs, self.pattern = fsspec.core.url_to_fs(self.source, **(storage_options or {}))
        except ImportError as exc:
            if protocol in ("s3", "s3a"):
                raise MissingExtraError(f"reading files from '{shown(source)}'", "s3") from exc
            raise InputError(f"cannot read '{shown(protocol)}://' sources here: {exc}") from None
        except ValueError as exc:
            raise InputError(f"cannot read files from '{shown(source)}': {exc}") from None

    def files(self, limit: int) -> list[FoundFile]:
        """The matching files (none under a ``done/`` folder), by path, at most ``limit``."""
        found = []
        matches: dict[str, dict[str, Any]] = self.fs.glob(self.pattern, detail=True)
        for path in sorted(matches):
            info = matches[path]
            if info.get("type") != "file" or DONE in path.split("/")[:-1]:
                continue
            version = info.get("ETag") or info.get("mtime") or info.get("LastModified") or ""
            digest = hashlib.sha256(f"{path}\0{info.get('size')}\0{version}".encode()).hexdigest()
            found.append(FoundFile(path=path, name=posixpath.basename(path), key=digest))
            if len(found) >= limit:
                break
        return found

    @contextmanager
    def open(self, path: str) -> Iterator[IO[bytes]]:
        with self.fs.open(path, "rb") as stream:
            yield stream

    def move_done(self, path: str, suffix: str) -> str:
        """Move an imported file into ``done/`` beside it; returns where it went.

        ``suffix`` (the run's short id) keeps a file imported again under the same
        name from replacing the one before.
        """
        folder, name = posixpath.split(path)
        stem, ext = posixpath.splitext(name)
        target = posixpath.join(folder, DONE, f"{stem}.{suffix}{ext}")
        self.fs.makedirs(posixpath.join(folder, DONE), exist_ok=True)
        self.fs.mv(path, target)
        return target


def glob_of(source: str) -> str:
    """The glob a source stands for: itself, or every file of a folder named without one."""
    source = source.strip()
    if not source:
        raise InputError("an import schedule needs a source: a folder or a glob of files")
    if _WILDCARDS & set(source):
        return source
    return source.rstrip("/") + "/*"
