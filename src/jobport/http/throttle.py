"""Refusing, for a while, a client that keeps failing to authenticate.

Bearer tokens are 256-bit random values, so guessing one is hopeless; a
client that sends wrong tokens (or wrong sign-ins) by the thousand is broken
or hostile, and each attempt costs a database read. After ``limit`` failures
from one key (the client's address) within ``window_seconds`` of its first
failure, the key is refused with 429 and ``Retry-After`` until that window
ends. Successes are never counted, and a request with a token this process
has just verified is never held up.

The counts live in the process: each server process (``jobport serve
--workers N``) keeps its own, so a client may fail up to N times the limit
before every process refuses it. Memory is bounded: at most ``max_keys``
clients are remembered, the one whose last failure is oldest forgotten
first, so a client cycling through addresses cannot grow it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from jobport.errors import JobportError
from jobport.settings import Settings

#: Most clients whose failures are remembered at once.
MAX_KEYS = 10_000

Clock = Callable[[], float]


class TooManyFailures(JobportError):
    """Too many failed authentications from one client (429, with ``Retry-After``)."""

    status_code = 429
    title = "Too many requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many failed authentications from this client; try again in {retry_after} s"
        )
        self.retry_after = retry_after


@dataclass
class _Window:
    failures: int
    ends: float


class FailureThrottle:
    """Failure counts per key in a window that starts with the key's first failure.

    The defaults are :class:`~jobport.settings.Settings`'s (``auth_failure_*``).
    """

    def __init__(
        self,
        *,
        limit: int = 20,
        window_seconds: float = 60.0,
        max_keys: int = MAX_KEYS,
        clock: Clock = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._windows: OrderedDict[str, _Window] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> FailureThrottle:
        return cls(
            limit=settings.auth_failure_limit,
            window_seconds=settings.auth_failure_window_seconds,
        )

    def retry_after(self, key: str) -> int | None:
        """Whole seconds until ``key`` may try again, or None when it may now."""
        if self.limit <= 0:
            return None
        with self._lock:
            window = self._current(key)
            if window is None or window.failures < self.limit:
                return None
            return max(1, math.ceil(window.ends - self._clock()))

    def check(self, key: str) -> None:
        """Raise :class:`TooManyFailures` while ``key`` is refused."""
        wait = self.retry_after(key)
        if wait is not None:
            raise TooManyFailures(wait)

    def failed(self, key: str) -> None:
        """Count one failure of ``key``."""
        if self.limit <= 0:
            return
        with self._lock:
            window = self._current(key)
            if window is None:
                window = _Window(0, self._clock() + self.window_seconds)
                self._windows[key] = window
            window.failures += 1
            self._windows.move_to_end(key)
            while len(self._windows) > self._max_keys:
                self._windows.popitem(last=False)

    def __len__(self) -> int:
        return len(self._windows)

    def _current(self, key: str) -> _Window | None:
        window = self._windows.get(key)
        if window is not None and window.ends <= self._clock():
            del self._windows[key]
            return None
        return window


def client_key(connection: HTTPConnection) -> str:
    """The address a request came from, as the server saw it.

    Behind a reverse proxy that is the proxy's address, unless the server is
    told to trust its forwarded headers: then every client shares one budget.
    """
    client = connection.client
    return client.host if client is not None else "unknown"
