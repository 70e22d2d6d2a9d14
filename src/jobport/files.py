"""Uploads and results, kept under keys the engine chooses, through fsspec.

No user-supplied name or path ever becomes part of a storage path: keys are
``<area>/<uuid><ext>`` with the extension taken from a short allow-list, so
path traversal is impossible by construction.

A local folder is worked with through ``os`` alone: fsspec (~15 ms to import)
loads for a remote URL, or when :attr:`FileStore.fs` is asked for.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any, Protocol

from jobport.errors import ConfigurationError, InputError, LimitExceeded, MissingExtraError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from jobport.settings import Settings

_KEY = re.compile(r"^(uploads|results|work)/[0-9a-f]{32}(\.[a-z0-9]{1,8})?$")
_EXTENSION = re.compile(r"^\.[a-z0-9]{1,8}$")
COPY_BUFFER = 1 << 20


def _too_large(max_bytes: int) -> LimitExceeded:
    return LimitExceeded(
        f"file is larger than the limit of {max_bytes:,} bytes "
        "(raise it with the type's limits or JOBPORT_MAX_UPLOAD_BYTES)"
    )


#: fsspec protocols whose implementation lives in an extra of ours.
_EXTRAS = {"s3": "s3", "s3a": "s3"}


def storage_options(settings: Settings) -> dict[str, Any]:
    """The fsspec options of the storage URL: ``storage_options`` plus the S3 shortcuts.

    ``JOBPORT_S3_ENDPOINT_URL``, ``_KEY``, ``_SECRET`` and ``_REGION`` fill in the
    s3fs options of the same meaning unless ``JOBPORT_STORAGE_OPTIONS`` sets them.
    """
    options = dict(settings.storage_options)
    if settings.storage_url.split("://", 1)[0] in _EXTRAS:
        shortcuts = {
            "endpoint_url": settings.s3_endpoint_url,
            "key": settings.s3_key,
            "secret": settings.s3_secret,
        }
        for name, value in shortcuts.items():
            if value is not None:
                options.setdefault(name, value)
        if settings.s3_region is not None:
            client_kwargs = dict(options.get("client_kwargs") or {})
            client_kwargs.setdefault("region_name", settings.s3_region)
            options["client_kwargs"] = client_kwargs
    return options


class _Files(Protocol):
    """What :class:`FileStore` asks of a filesystem: a part of fsspec's interface."""

    def makedirs(self, path: str, exist_ok: bool = False) -> None: ...

    def open(self, path: str, mode: str = "rb") -> Any: ...

    def rm(self, path: str) -> None: ...

    def mv(self, path1: str, path2: str) -> None: ...

    def size(self, path: str) -> int | None: ...

    def exists(self, path: str) -> bool: ...


class _LocalFolder:
    """The part of fsspec's interface :class:`FileStore` uses, for a local folder, by ``os``."""

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        os.makedirs(path, exist_ok=exist_ok)

    def open(self, path: str, mode: str = "rb") -> IO[bytes]:
        return open(path, mode)

    def rm(self, path: str) -> None:
        os.remove(path)

    def mv(self, path1: str, path2: str) -> None:
        os.replace(path1, path2)  # atomic within the folder

    def size(self, path: str) -> int:
        return os.path.getsize(path)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)


def local_root(url: str) -> str | None:
    """The absolute folder of a local storage URL (a path or ``file://``), as fsspec
    names it; None for any other URL (a remote protocol, a chained one)."""
    path = url.removeprefix("file://")
    if "://" in path or "::" in path or os.sep != "/":
        return None
    return os.path.abspath(os.path.expanduser(path)).rstrip("/") or "/"


class FileStore:
    def __init__(self, url: str, **storage_options: Any) -> None:
        self.url = url.rstrip("/")
        self._options = storage_options
        self._fs: AbstractFileSystem | None = None
        root = local_root(self.url)
        self._local = root is not None
        if root is not None:
            self.root = root
            self._files: _Files = _LocalFolder()
        else:
            self._fs, self.root = self._url_to_fs()
            self._files = self._fs
        self._files.makedirs(self.root, exist_ok=True)

    def _url_to_fs(self) -> tuple[AbstractFileSystem, str]:
        import fsspec

        try:
            fs, root = fsspec.core.url_to_fs(self.url, **self._options)
        except ImportError as exc:
            protocol = self.url.split("://", 1)[0]
            if protocol in _EXTRAS:
                raise MissingExtraError(f"{protocol}:// storage", _EXTRAS[protocol]) from exc
            raise ConfigurationError(f"storage URL {self.url!r}: {exc}") from exc
        return fs, str(root)

    @property
    def fs(self) -> AbstractFileSystem:
        """The storage as an fsspec filesystem (made on first use for a local folder)."""
        if self._fs is None:
            self._fs, _ = self._url_to_fs()
        return self._fs

    @classmethod
    def from_settings(cls, settings: Settings) -> FileStore:
        """The storage of ``settings``: its URL with every configured option."""
        return cls(settings.storage_url, **storage_options(settings))

    def new_key(self, area: str, extension: str = "") -> str:
        extension = extension.lower()
        if extension and not _EXTENSION.match(extension):
            extension = ""
        return f"{area}/{uuid.uuid4().hex}{extension}"

    def path(self, key: str) -> str:
        if not _KEY.fullmatch(key):
            raise InputError(f"invalid storage key {key!r}")
        return f"{self.root}/{key}"

    def put_stream(
        self,
        stream: IO[bytes],
        *,
        area: str = "uploads",
        extension: str = "",
        max_bytes: int | None = None,
    ) -> tuple[str, int]:
        """Copy a stream into storage, refusing it once it passes ``max_bytes``."""
        key = self.new_key(area, extension)
        path = self.path(key)
        self._files.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        size = 0
        try:
            with self._files.open(path, "wb") as out:
                while block := stream.read(COPY_BUFFER):
                    size += len(block)
                    if max_bytes is not None and size > max_bytes:
                        raise _too_large(max_bytes)
                    out.write(block)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                self._files.rm(path)
            raise
        return key, size

    def put_file(
        self,
        local_path: str,
        *,
        area: str = "uploads",
        extension: str = "",
        max_bytes: int | None = None,
    ) -> tuple[str, int]:
        try:
            if self._local and os.path.isfile(local_path):
                return self._copy_local(local_path, area, extension, max_bytes)
            with open(local_path, "rb") as stream:
                return self.put_stream(stream, area=area, extension=extension, max_bytes=max_bytes)
        except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            raise InputError(f"cannot read {local_path}: {exc.strerror}") from exc

    def _copy_local(
        self, local_path: str, area: str, extension: str, max_bytes: int | None
    ) -> tuple[str, int]:
        """A file into local storage, copied by the kernel (``sendfile``): a third of the time."""
        if max_bytes is not None and os.path.getsize(local_path) > max_bytes:
            raise _too_large(max_bytes)
        key = self.new_key(area, extension)
        path = self.path(key)
        self._files.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        try:
            shutil.copyfile(local_path, path)
            size = os.path.getsize(path)
            if max_bytes is not None and size > max_bytes:
                raise _too_large(max_bytes)  # it grew while it was copied
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
            raise
        return key, size

    @contextlib.contextmanager
    def open(self, key: str, mode: str = "rb") -> Iterator[IO[bytes]]:
        path = self.path(key)
        if "w" in mode:
            self._files.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        with self._files.open(path, mode) as handle:
            yield handle

    def size(self, key: str) -> int:
        return int(self._files.size(self.path(key)) or 0)

    def exists(self, key: str) -> bool:
        return bool(self._files.exists(self.path(key)))

    def move(self, source: str, target: str) -> None:
        """Rename key ``source`` to ``target`` (a local folder's by ``os.replace``: a worker
        moving its export part never builds an fsspec filesystem, 50 ms, for it)."""
        self._files.mv(self.path(source), self.path(target))

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._files.rm(self.path(key))

    def copy_out(self, key: str, destination: IO[bytes]) -> None:
        with self.open(key) as source:
            shutil.copyfileobj(source, destination, COPY_BUFFER)
