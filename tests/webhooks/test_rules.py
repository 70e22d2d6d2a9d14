"""The webhooks' pure rules: which URLs may be sent to (server-side request forgery), which
event type a run event is, and the fan-out's holes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobport.errors import InputError
from jobport.events import JobEvent
from jobport.store.webhook_fanout import _next_cursor
from jobport.webhooks.addresses import check_url, refused_address
from jobport.webhooks.events import event_type, message


def resolves_to(*addresses: str):  # type: ignore[no-untyped-def]
    def resolver(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolver


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata services
        ("fe80::1%eth0", "link-local"),
        ("::ffff:127.0.0.1", "loopback"),  # an IPv4 address inside an IPv6 one
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "not a public address"),  # carrier-grade NAT
        ("fc00::1", "private"),
    ],
)
def test_addresses_inside_are_refused(address: str, why: str) -> None:
    refused = refused_address(address)
    assert refused is not None
    assert why in refused


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
def test_public_addresses_pass(address: str) -> None:
    assert refused_address(address) is None


def test_a_url_whose_host_resolves_inside_is_refused_unless_allowed() -> None:
    inside = resolves_to("93.184.215.14", "10.0.0.7")  # one bad address is enough
    with pytest.raises(InputError, match=r"10\.0\.0\.7.*JOBPORT_WEBHOOKS_ALLOW_PRIVATE"):
        check_url("https://hooks.example.com/in", allow_private=False, resolver=inside)
    assert check_url("https://hooks.example.com/in", allow_private=True, resolver=inside)
    public = resolves_to("93.184.215.14")
    url = "https://hooks.example.com/in?x=1"
    assert check_url(f"  {url} ", allow_private=False, resolver=public) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "not an http:// or https:// URL"),
        ("file:///etc/passwd", "not an http:// or https:// URL"),
        ("https://", "not an http:// or https:// URL"),
        ("https://user:pw@example.com/", "user name or password"),
        ("https://example.com/#frag", "fragment"),
        ("https://example.com:99999/", "not a URL"),
        ("https://example.com/" + "a" * 2_000, "longer than"),
    ],
)
def test_malformed_urls_are_refused_in_a_sentence(url: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_url(url, allow_private=True, resolver=resolves_to("93.184.215.14"))


def test_an_unresolvable_host_is_refused() -> None:
    def nowhere(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(InputError, match="does not resolve"):
        check_url("https://nowhere.invalid/", allow_private=False, resolver=nowhere)


def test_ids_skipped_by_the_fan_out_are_read_again_until_they_appear_or_expire() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    last, holes = _next_cursor(4, {}, [5, 7, 9], now, hole_seconds=600)
    assert (last, sorted(holes)) == (9, [6, 8])
    last, holes = _next_cursor(last, holes, [6, 10], now + timedelta(seconds=1), 600)
    assert (last, sorted(holes)) == (10, [8])  # 6 committed late: read, no longer a hole
    last, holes = _next_cursor(last, holes, [], now + timedelta(seconds=601), 600)
    assert (last, holes) == (10, {})  # 8 never came: rolled back


@pytest.mark.parametrize(
    ("name", "status", "expected"),
    [
        ("JobProgressed", "running", "run.progress"),
        ("JobCompleted", "completed", "run.completed"),
        ("JobCompleted", "completed_with_errors", "run.completed"),
        ("JobFailed", "failed", "run.failed"),
        ("JobFailed", "cancelled", "run.cancelled"),
        ("JobCompleted", "failed", "run.failed"),  # how it ended is its status
    ],
)
def test_each_run_event_has_its_webhook_event_type(name: str, status: str, expected: str) -> None:
    event = JobEvent(name, "r1", "people", "import", status, 10, 10, 0, seq=4)  # type: ignore[arg-type]
    assert event_type(event) == expected
    sent = message(event, datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert sent["type"] == expected
    assert sent["timestamp"] == "2024-01-02T03:04:05Z"
    assert (sent["data"]["run_id"], sent["data"]["seq"], sent["data"]["job_type"]) == (
        "r1",
        4,
        "people",
    )
    assert "type" not in sent["data"]
