"""Multipart uploads streamed straight into storage, refused as soon as they are too large.

FastAPI's ``UploadFile`` spools the whole body to a temporary file before the
route runs, which is exactly wrong for large files: the size limit would be
decided after the body was read, and every byte would be written twice.
Here the body is parsed as it arrives (``python-multipart``'s streaming
parser) and the file part is handed block by block to the storage writer
running in a thread, through a small bounded queue, so memory stays flat and
a file over the limit is refused with 413 while it is still being sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from jobport.errors import InputError, JobportError, LimitExceeded

#: The form field that carries the file.
FILE_FIELD = "file"
#: Largest accepted value of an ordinary form field (options, format, ...).
MAX_FIELD_BYTES = 64 * 1024
#: Most ordinary fields a form may have (the import form has about twenty): each is kept
#: in memory while the file streams, so their number is bounded as their size is.
MAX_FIELDS = 64
#: Longest header line of a part. The file's Content-Disposition carries its name as the
#: user's system spelt it (UTF-8, 3 bytes a character in many scripts): a long name is
#: imported, and stored bounded for display; only a line beyond any real name is refused.
MAX_HEADER_BYTES = 64 * 1024
#: Room left for the multipart framing and the other fields when checking Content-Length.
FORM_OVERHEAD_BYTES = 256 * 1024
#: Blocks queued between the request and the storage thread (backpressure beyond that).
QUEUE_BLOCKS = 16


class UnsupportedMediaType(JobportError):
    status_code = 415
    title = "Unsupported media type"


class _Aborted(Exception):
    """Raised in the storage thread so the partial file is removed."""


@dataclass
class Upload:
    """The outcome of a multipart upload: its ordinary fields and where the file went."""

    fields: dict[str, str] = field(default_factory=dict)
    key: str | None = None
    filename: str | None = None
    size: int = 0


class _QueueReader(io.RawIOBase):
    """The storage thread's end of the queue: a blocking, readable byte stream."""

    def __init__(self, queue: asyncio.Queue[bytes | None], loop: asyncio.AbstractEventLoop):
        super().__init__()
        self._queue = queue
        self._loop = loop
        self._pending = b""
        self._eof = False
        self.aborted = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self._pending and not self._eof:
            block = asyncio.run_coroutine_threadsafe(self._queue.get(), self._loop).result()
            if block is None:
                self._eof = True
            else:
                self._pending = block
        if self.aborted:
            raise _Aborted("upload aborted")
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


async def receive_upload(
    request: Request,
    *,
    store: Callable[[IO[bytes], str | None], str],
    delete: Callable[[str], None],
    max_bytes: int,
) -> Upload:
    """Parse a ``multipart/form-data`` body, streaming the ``file`` part through ``store``.

    ``store(stream, filename)`` runs in a thread and returns the storage key.
    Raises :class:`LimitExceeded` (413) once the file passes ``max_bytes``,
    before reading the rest of the body; nothing stays in storage on failure.
    """
    content_type, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaType(
            "send the file as multipart/form-data with the file in a field named "
            f"'{FILE_FIELD}' (e.g. curl -F {FILE_FIELD}=@data.csv)"
        )
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes + FORM_OVERHEAD_BYTES:
        raise _too_large(max_bytes)
    return await _Receiver(request, boundary, store, delete, max_bytes).run()


def _too_large(max_bytes: int) -> LimitExceeded:
    return LimitExceeded(
        f"file is larger than the limit of {max_bytes:,} bytes "
        "(raise it with JOBPORT_MAX_UPLOAD_BYTES or the job type's limits)"
    )


class _Receiver:
    def __init__(
        self,
        request: Request,
        boundary: bytes,
        store: Callable[[IO[bytes], str | None], str],
        delete: Callable[[str], None],
        max_bytes: int,
    ) -> None:
        self.request = request
        self.store = store
        self.delete = delete
        self.max_bytes = max_bytes
        self.upload = Upload()
        self.events: list[tuple[str, bytes]] = []
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._part_name: str | None = None
        self._part_is_file = False
        self._field_value = bytearray()
        self._queue: asyncio.Queue[bytes | None] | None = None
        self._reader: _QueueReader | None = None
        self._storing: asyncio.Future[str] | None = None
        self._finished = False
        self.parser = MultipartParser(
            boundary,
            max_header_size=MAX_HEADER_BYTES,
            callbacks={
                "on_part_begin": lambda: self.events.append(("begin", b"")),
                "on_header_field": lambda d, s, e: self.events.append(("hfield", d[s:e])),
                "on_header_value": lambda d, s, e: self.events.append(("hvalue", d[s:e])),
                "on_header_end": lambda: self.events.append(("hend", b"")),
                "on_headers_finished": lambda: self.events.append(("headers", b"")),
                "on_part_data": lambda d, s, e: self.events.append(("data", d[s:e])),
                "on_part_end": lambda: self.events.append(("end", b"")),
                "on_end": lambda: self.events.append(("done", b"")),
            },
        )

    async def run(self) -> Upload:
        try:
            async for chunk in self.request.stream():
                try:
                    self.parser.write(chunk)
                except FormParserError as exc:
                    raise InputError(f"malformed multipart body: {exc}") from None
                events, self.events = self.events, []
                for name, data in events:
                    await self._handle(name, data)
            if not self._finished:
                raise InputError("the multipart body ended before its closing boundary")
            if self.upload.key is None:
                raise InputError(
                    f"no file: send it in a multipart field named '{FILE_FIELD}' "
                    f"(e.g. curl -F {FILE_FIELD}=@data.csv)"
                )
        except ClientDisconnect:
            await self._abort()
            raise InputError("the client disconnected during the upload") from None
        except BaseException:
            await self._abort()
            raise
        return self.upload

    async def _handle(self, name: str, data: bytes) -> None:
        if name == "begin":
            self._headers = {}
        elif name == "hfield":
            self._header_field += data
        elif name == "hvalue":
            self._header_value += data
        elif name == "hend":
            self._headers[self._header_field.lower()] = self._header_value
            self._header_field = self._header_value = b""
        elif name == "headers":
            self._begin_part()
        elif name == "data":
            await self._part_data(data)
        elif name == "end":
            await self._end_part()
        elif name == "done":
            self._finished = True

    def _begin_part(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition"))
        self._part_name = _text(options.get(b"name", b""))
        self._part_is_file = b"filename" in options or self._part_name == FILE_FIELD
        self._field_value = bytearray()
        if not self._part_is_file:
            if len(self.upload.fields) >= MAX_FIELDS:
                raise LimitExceeded(f"the form has more than {MAX_FIELDS} fields")
            return
        if self._part_name != FILE_FIELD:
            raise InputError(
                f"send the file in the field named '{FILE_FIELD}', not '{self._part_name}'"
            )
        if self._storing is not None:
            raise InputError("send one file per import")
        filename = _text(options.get(b"filename", b"")) or None
        self.upload.filename = filename
        loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(QUEUE_BLOCKS)
        self._reader = _QueueReader(self._queue, loop)
        stream = io.BufferedReader(self._reader)
        self._storing = loop.run_in_executor(None, self.store, stream, filename)

    async def _part_data(self, data: bytes) -> None:
        if not self._part_is_file:
            if len(self._field_value) + len(data) > MAX_FIELD_BYTES:
                raise LimitExceeded(
                    f"form field '{self._part_name}' is longer than {MAX_FIELD_BYTES:,} bytes"
                )
            self._field_value += data
            return
        self.upload.size += len(data)
        if self.upload.size > self.max_bytes:
            raise _too_large(self.max_bytes)
        await self._put(data)

    async def _end_part(self) -> None:
        if not self._part_is_file:
            if self._part_name:
                self.upload.fields[self._part_name] = self._field_value.decode("utf-8", "replace")
            return
        self._part_is_file = False
        await self._put(None)
        assert self._storing is not None
        self.upload.key = await self._storing

    async def _put(self, block: bytes | None) -> None:
        """Queue a block for the storage thread; if that thread failed, raise its error."""
        assert self._queue is not None
        assert self._storing is not None
        if not self._queue.full():
            self._queue.put_nowait(block)
            return
        putting: asyncio.Future[None] = asyncio.ensure_future(self._queue.put(block))
        waiting: set[asyncio.Future[Any]] = {putting, self._storing}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if not putting.done():
            putting.cancel()
            self._storing.result()  # raises the storage error
            raise InputError("the upload could not be stored")

    async def _abort(self) -> None:
        """Stop the storage thread (it removes its partial file) and drop a stored file."""
        storing, self._storing = self._storing, None
        if storing is None:
            return
        if self._reader is not None and self._queue is not None:
            self._reader.aborted = True
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(None)
        with contextlib.suppress(BaseException):
            key = await asyncio.shield(storing)
            self.delete(key)
        self.upload.key = None


def _text(value: bytes) -> str:
    """Header parameters arrive as latin-1; browsers send UTF-8 bytes in them."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


__all__ = ["FILE_FIELD", "UnsupportedMediaType", "Upload", "receive_upload"]
