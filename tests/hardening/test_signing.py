"""Signed, expiring download links: genuine links pass until they expire, nothing else does.

Time is a clock handed to the signer, never a sleep.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
import threading
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobport import Settings
from jobport.errors import ConfigurationError, PermissionDenied
from jobport.signing import SECRET_FILE, LinkSigner, installation_secret

SECRET = "a-test-secret-that-is-long-enough"
RUN = "3f1c7a52-9a43-4a8e-9f0b-2c1d6e5f7a80"
NOW = 1_700_000_000.0


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def signer(clock: Clock) -> LinkSigner:
    return LinkSigner(SECRET, clock=clock)


def test_a_signed_link_verifies_until_it_expires(signer: LinkSigner, clock: Clock) -> None:
    link = signer.sign(RUN, ttl=3600)
    assert link.run_id == RUN
    assert link.expires == int(NOW) + 3600
    signer.verify(RUN, link.expires, link.signature)
    clock.now = link.expires  # the last second is still valid
    signer.verify(RUN, str(link.expires), link.signature)
    clock.now = link.expires + 1
    with pytest.raises(PermissionDenied, match="expired at 2023-11-14 23:13:20 UTC") as denied:
        signer.verify(RUN, link.expires, link.signature)
    assert denied.value.status_code == 403
    assert "ask for a new link" in denied.value.message


def test_the_signature_is_hmac_sha256_of_run_and_expiry_in_urlsafe_base64(
    signer: LinkSigner,
) -> None:
    link = signer.sign(RUN, ttl=60)
    key = hmac.new(SECRET.encode(), b"jobport download link v1", hashlib.sha256).digest()
    digest = hmac.new(key, f"{RUN}|{link.expires}".encode(), hashlib.sha256).digest()
    assert link.signature == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert len(link.signature) == 43
    assert parse_qs(link.query()) == {
        "expires": [str(link.expires)],
        "signature": [link.signature],
    }


def test_fractional_ttl_rounds_the_expiry_up(clock: Clock) -> None:
    clock.now = NOW + 0.25
    link = LinkSigner(SECRET, clock=clock).sign(RUN, ttl=0.5)
    assert link.expires == int(NOW) + 1


def flip(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda run, exp, sig: (run, exp, flip(sig, 0)), id="signature-first-char"),
        pytest.param(lambda run, exp, sig: (run, exp, flip(sig, 42)), id="signature-last-char"),
        pytest.param(lambda run, exp, sig: (run, exp, sig[:-1]), id="signature-truncated"),
        pytest.param(lambda run, exp, sig: (run, exp, sig + "A"), id="signature-extended"),
        pytest.param(lambda run, exp, sig: (run, exp, sig + "="), id="signature-padded"),
        pytest.param(lambda run, exp, sig: (run, exp, ""), id="signature-empty"),
        pytest.param(lambda run, exp, sig: (run, exp, "é" * 43), id="signature-non-ascii"),
        pytest.param(lambda run, exp, sig: (run, exp + 3600, sig), id="expiry-extended"),
        pytest.param(lambda run, exp, sig: (run, exp - 1, sig), id="expiry-shortened"),
        pytest.param(lambda run, exp, sig: (run, f"0{exp}", sig), id="expiry-leading-zero"),
        pytest.param(lambda run, exp, sig: (run, f"+{exp}", sig), id="expiry-plus-sign"),
        pytest.param(lambda run, exp, sig: (run, f"{exp} ", sig), id="expiry-space"),
        pytest.param(lambda run, exp, sig: (run, "", sig), id="expiry-empty"),
        pytest.param(lambda run, exp, sig: (run, "9" * 40, sig), id="expiry-huge"),
        pytest.param(lambda run, exp, sig: (run, -exp, sig), id="expiry-negative"),
        pytest.param(lambda run, exp, sig: (run[:-1] + "1", exp, sig), id="other-run"),
        pytest.param(lambda run, exp, sig: (run.upper(), exp, sig), id="run-case"),
        pytest.param(lambda run, exp, sig: (f"{run}|{exp}", exp, sig), id="run-with-separator"),
    ],
)
def test_a_tampered_link_is_forbidden(signer: LinkSigner, tamper: object) -> None:
    assert callable(tamper)
    link = signer.sign(RUN, ttl=3600)
    run, expires, signature = tamper(RUN, link.expires, link.signature)
    with pytest.raises(PermissionDenied, match="signature does not match") as denied:
        signer.verify(run, expires, signature)
    assert denied.value.status_code == 403


def test_a_tampered_expired_link_reads_as_tampered(signer: LinkSigner, clock: Clock) -> None:
    """Pushing the expiry of an expired link back does not revive it, nor tell it expired."""
    link = signer.sign(RUN, ttl=60)
    clock.now += 3600
    with pytest.raises(PermissionDenied, match="signature does not match"):
        signer.verify(RUN, link.expires + 7200, link.signature)


def test_another_secret_does_not_verify(clock: Clock) -> None:
    link = LinkSigner(SECRET, clock=clock).sign(RUN, ttl=60)
    with pytest.raises(PermissionDenied, match="signature does not match"):
        LinkSigner(SECRET + "x", clock=clock).verify(RUN, link.expires, link.signature)


@given(run_id=st.text(min_size=1, max_size=60), ttl=st.integers(1, 10**8))
def test_any_run_id_round_trips(run_id: str, ttl: int) -> None:
    signer = LinkSigner(SECRET, clock=Clock())
    link = signer.sign(run_id, ttl)
    signer.verify(run_id, link.expires, link.signature)


@given(
    expires=st.one_of(st.integers(), st.text(max_size=20)),
    signature=st.text(max_size=60),
)
def test_arbitrary_query_values_are_forbidden_never_an_error(
    expires: int | str, signature: str
) -> None:
    """Whatever arrives in the query string, the answer is a 403, not a crash."""
    signer = LinkSigner(SECRET, clock=Clock())
    with pytest.raises(PermissionDenied):
        signer.verify(RUN, expires, signature)


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf")])
def test_a_nonsense_ttl_is_refused(signer: LinkSigner, ttl: float) -> None:
    with pytest.raises(ValueError, match="time to live"):
        signer.sign(RUN, ttl)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="at least 16"):
        LinkSigner("short")


# -- where the secret comes from ---------------------------------------------------------------


def sqlite_settings(root: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": f"sqlite:///{root / 'state' / 's.db'}",
        "storage_url": str(root / "files"),
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def test_the_secret_key_setting_is_used_and_never_shown(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBPORT_SECRET_KEY", SECRET)
    settings = sqlite_settings(tmp_path)
    assert SECRET not in repr(settings)
    link = LinkSigner.from_settings(settings, clock=clock).sign(RUN, 60)
    LinkSigner(SECRET, clock=clock).verify(RUN, link.expires, link.signature)
    assert not (tmp_path / "state" / SECRET_FILE).exists()


def test_an_sqlite_install_without_a_key_keeps_one_secret_beside_its_database(
    tmp_path: Path, clock: Clock
) -> None:
    settings = sqlite_settings(tmp_path)
    first = LinkSigner.from_settings(settings, clock=clock)
    secret_file = tmp_path / "state" / SECRET_FILE
    assert secret_file.exists()
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    link = first.sign(RUN, 60)
    # Another process of the same install (a new signer) reads the same secret.
    LinkSigner.from_settings(settings, clock=clock).verify(RUN, link.expires, link.signature)
    # Another install has another secret.
    other = LinkSigner.from_settings(sqlite_settings(tmp_path / "other"), clock=clock)
    with pytest.raises(PermissionDenied):
        other.verify(RUN, link.expires, link.signature)


def test_concurrent_first_use_agrees_on_one_secret(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race' / 's.db'}"
    barrier = threading.Barrier(8)
    found: list[bytes] = []

    def first_use() -> None:
        barrier.wait()
        found.append(installation_secret(url))

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 8
    assert len(set(found)) == 1
    assert sorted(os.listdir(tmp_path / "race")) == [SECRET_FILE]


def test_a_damaged_secret_file_is_a_configuration_error(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / SECRET_FILE).write_text("short\n")
    with pytest.raises(ConfigurationError, match="too short; delete the file"):
        LinkSigner.from_settings(settings)


@pytest.mark.parametrize(
    "database_url",
    [
        "postgresql://postgres@127.0.0.1:5432/jobport",
        "sqlite://",
        "sqlite:///:memory:",
        "not a url",
    ],
)
def test_without_a_key_other_databases_are_refused_clearly(
    tmp_path: Path, database_url: str
) -> None:
    settings = Settings(database_url=database_url, storage_url=str(tmp_path / "files"))
    with pytest.raises(ConfigurationError, match="need JOBPORT_SECRET_KEY") as refused:
        LinkSigner.from_settings(settings)
    assert "same random value on every machine" in refused.value.message
    assert list(tmp_path.iterdir()) == []
