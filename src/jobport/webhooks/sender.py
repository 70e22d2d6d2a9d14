"""Sending one delivery: signed per Standard Webhooks, over httpx, guarded and bounded.

Each message carries ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature`` as the Standard Webhooks specification defines them,
signed by its reference library (``standardwebhooks``) with the
subscription's ``whsec_`` secret, so any receiver can check them with that
library in its language. The timestamp is the wall-clock time of the attempt:
receivers compare it with their own clock to refuse replays.

The HTTP client follows no redirect (a 3xx is a failed attempt: the receiver
moved, its owner should say where), waits ``webhooks_timeout_seconds`` at most
to connect and for each read or write, asks for an unencoded answer and reads
at most :data:`MAX_RESPONSE_BYTES` of it, so a receiver can neither stall nor
flood the sender. Every connection goes through :class:`GuardedBackend`,
which connects only to public addresses (:mod:`jobport.webhooks.addresses`)
unless private ones are allowed.
"""

from __future__ import annotations

import socket
import time
import typing
from datetime import UTC, datetime

import httpcore
import httpx
from standardwebhooks.webhooks import Webhook

from jobport.errors import bounded
from jobport.store.webhooks import AttemptResult, DeliveryClaim
from jobport.webhooks.addresses import refused_address

#: The most of a receiver's answer that is read and kept in the deliveries log.
MAX_RESPONSE_BYTES = 1024
#: The longest error kept for an attempt.
MAX_ERROR_CHARS = 500
USER_AGENT = "jobport-webhooks"


def signed_headers(secret: str, message_id: str, body: str, at: datetime) -> dict[str, str]:
    """The headers of a message: its id, the time of the attempt, its signature."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
        "content-type": "application/json",
    }


class GuardedBackend(httpcore.SyncBackend):
    """Connects to the addresses a host resolves to only when each is public.

    The address checked is the address connected to, so a name cannot resolve
    to a public address for the check and a private one for the connection;
    TLS still verifies the certificate against the host name.
    """

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        if self.allow_private:
            return super().connect_tcp(host, port, timeout, local_address, socket_options)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, ValueError) as exc:
            raise httpcore.ConnectError(f"{host} does not resolve: {exc}") from exc
        refused: list[str] = []
        failed: httpcore.ConnectError | None = None
        for address in dict.fromkeys(str(info[4][0]) for info in infos):
            why = refused_address(address)
            if why is not None:
                refused.append(f"{address} is {why}")
                continue
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                failed = exc
        if failed is not None:
            raise failed
        raise httpcore.ConnectError(
            f"refused to connect to {host}: {'; '.join(refused)} "
            "(JOBPORT_WEBHOOKS_ALLOW_PRIVATE=true allows it)"
        )


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over a connection pool whose every connection is guarded."""

    def __init__(self, *, allow_private: bool) -> None:
        super().__init__(trust_env=False)
        # httpx builds its pool without a way to pass a network backend: replace it.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(allow_private=allow_private),
        )


class Sender:
    """Posts signed messages to receivers; one per delivery loop (it keeps connections)."""

    def __init__(
        self,
        *,
        timeout: float,
        allow_private: bool,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.timeout = timeout
        self.client = httpx.Client(
            transport=transport or GuardedTransport(allow_private=allow_private),
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,
            headers={"user-agent": USER_AGENT, "accept-encoding": "identity"},
        )

    def send(self, claim: DeliveryClaim, *, at: datetime | None = None) -> AttemptResult:
        """One attempt: what the receiver answered (status, time, start of its body) or
        why it answered nothing."""
        at = at or datetime.now(UTC)
        headers = signed_headers(claim.secret, claim.message_id, claim.body, at)
        started = time.perf_counter()
        status: int | None = None
        text: str | None = None
        error: str | None = None
        try:
            with self.client.stream(
                "POST", claim.url, content=claim.body.encode(), headers=headers
            ) as response:
                status = response.status_code
                text = _start_of(response)
        except httpx.TimeoutException:
            error = f"no answer within {self.timeout:g} s"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            error = bounded(str(exc) or type(exc).__name__, MAX_ERROR_CHARS)
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        return AttemptResult(status, elapsed, text, error)

    def close(self) -> None:
        self.client.close()


def _start_of(response: httpx.Response) -> str:
    """At most :data:`MAX_RESPONSE_BYTES` of the answer, as text; the rest is never read."""
    kept = bytearray()
    for block in response.iter_raw():
        kept += block[: MAX_RESPONSE_BYTES - len(kept)]
        if len(kept) >= MAX_RESPONSE_BYTES:
            break
    return kept.decode("utf-8", errors="replace")


__all__ = ["MAX_RESPONSE_BYTES", "GuardedBackend", "GuardedTransport", "Sender", "signed_headers"]
