"""Where a webhook may be sent: http(s) URLs of public addresses, unless told otherwise.

A webhook URL is typed by a user and fetched by the server, from inside its
network: without a check, anyone who may add a subscription could make the
server post to its database's admin port, a cloud metadata service
(169.254.169.254) or another internal service, and read the start of the
answer in the deliveries log (server-side request forgery). So a URL must be
``http`` or ``https``, carry no credentials, and name a host whose every
address is public. The check runs when a subscription is added (a clear error
for the user) and again each time a delivery connects, on the very address it
connects to (:mod:`jobport.webhooks.sender`), so a name that resolves to a
public address at first and to a private one later (DNS rebinding) still
reaches nothing inside. ``JOBPORT_WEBHOOKS_ALLOW_PRIVATE`` turns the address
check off (tests, closed networks).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from jobport.errors import InputError, shown

#: The longest webhook URL accepted.
MAX_URL_CHARS = 2_000

Resolver = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (IPv4 and IPv6), as text."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_url(url: str, *, allow_private: bool, resolver: Resolver = resolve) -> str:
    """The URL, if a webhook may be sent to it; otherwise an :class:`InputError` saying why."""
    url = url.strip()
    if len(url) > MAX_URL_CHARS:
        raise InputError(f"the webhook URL is longer than {MAX_URL_CHARS:,} characters")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InputError(f"'{shown(url)}' is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"'{shown(url)}' is not an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise InputError(
            "a webhook URL must not carry a user name or password: receivers check the "
            "signature of each message instead"
        )
    if parts.fragment:
        raise InputError("a webhook URL must not have a #fragment")
    if not allow_private:
        _require_public(parts.hostname, port, resolver)
    return url


def _require_public(host: str, port: int, resolver: Resolver) -> None:
    try:
        addresses = resolver(host, port)
    except (OSError, ValueError):
        raise InputError(f"the host '{shown(host)}' of the webhook URL does not resolve") from None
    for address in addresses:
        why = refused_address(address)
        if why is not None:
            raise InputError(
                f"the host '{shown(host)}' is {why} ({address}): webhooks go to public "
                "addresses only (JOBPORT_WEBHOOKS_ALLOW_PRIVATE=true lets them reach others)"
            )


def refused_address(address: str) -> str | None:
    """Why a webhook may not connect to ``address`` (as "a private address"), or None."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone id is no part of it
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return refused_address(str(embedded))
    checks = (
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "not a public address"),
    )
    return next((why for refused, why in checks if refused), None)


__all__ = ["MAX_URL_CHARS", "check_url", "refused_address", "resolve"]
