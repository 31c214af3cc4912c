import ipaddress
import time

import httpx
import pytest
import requests

from tests.fakenet.common import INTERNAL, TEST_POLICY, internal_server, redirector
from tribe.core.errors import BlockedAddressError
from tribe.infra import netguard
from tribe.infra.guarded_requests import guard_session
from tribe.infra.netguard import (
    AddressPolicy,
    RedirectRefused,
    checked_addresses,
    guard_refusal,
    unreachable,
)
from tribe.infra.transports import GuardedTransport

STRICT = AddressPolicy()
LOCAL_DEV = AddressPolicy(allow_private=True)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("fd00::1", "unique local"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.10", "documentation"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:7f00:1::1", "loopback"),  # 6to4 wrapping 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 wrapping 169.254.169.254
        ("64:ff9b:1::a00:1", "private"),  # local-use NAT64 wrapping 10.0.0.1
        ("::a9fe:a9fe", "link-local"),  # IPv4-compatible
        ("::ffff:0:a00:1", "private"),  # SIIT
        ("fec0::1", "site-local"),
        ("2001:db8::1", "documentation"),
    ],
)
def test_the_default_refuses_everything_not_public(address: str, reason: str) -> None:
    refusal = STRICT.refusal(address)
    assert refusal is not None
    assert reason in refusal


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
def test_public_addresses_are_fine(address: str) -> None:
    assert STRICT.refusal(address) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.5", "192.168.0.2", "fd12::3", "::1"])
def test_allowing_private_addresses_opens_local_networks(address: str) -> None:
    assert LOCAL_DEV.refusal(address) is None


@pytest.mark.parametrize("address", ["169.254.169.254", "fe80::1", "224.0.0.1", "0.0.0.0"])
def test_link_local_and_multicast_stay_refused_even_for_local_development(address: str) -> None:
    assert LOCAL_DEV.refusal(address) is not None


def test_an_allowed_network_admits_exactly_itself() -> None:
    policy = AddressPolicy.from_settings(False, "127.0.0.2/32, 10.9.0.0/16")
    assert policy.allowed_networks == (
        ipaddress.ip_network("127.0.0.2/32"),
        ipaddress.ip_network("10.9.0.0/16"),
    )
    assert policy.refusal("127.0.0.2") is None
    assert policy.refusal("10.9.8.7") is None
    assert policy.refusal("127.0.0.1") is not None
    assert policy.refusal("10.8.0.1") is not None


def test_an_allowed_network_never_opens_link_local() -> None:
    policy = AddressPolicy.from_settings(False, "169.254.0.0/16")
    assert policy.refusal("169.254.169.254") is not None


# Resolving and checking, shared by every HTTP stack. --------------------------------------


def test_only_the_allowed_addresses_of_a_name_are_connected_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(netguard, "resolve", lambda host, port: ["10.0.0.1", "93.184.215.14"])
    assert checked_addresses("mixed.example", 443, STRICT) == ["93.184.215.14"]


def test_a_name_with_only_refused_addresses_is_refused_in_plain_words(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(netguard, "resolve", lambda host, port: ["10.0.0.1"])
    with pytest.raises(BlockedAddressError) as refused:
        checked_addresses("intranet.example", 443, STRICT)
    assert str(refused.value) == unreachable("intranet.example")
    assert "10.0.0.1 is a private network address" in caplog.text  # for the operator
    assert all(record.exc_info is None for record in caplog.records)


def test_a_lookup_that_hangs_is_bounded_by_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """getaddrinfo has no timeout of its own."""

    def hang(host: str, port: int) -> list[str]:
        time.sleep(2)
        return ["93.184.215.14"]

    monkeypatch.setattr(netguard, "resolve", hang)
    started = time.monotonic()
    with pytest.raises(BlockedAddressError) as refused:
        checked_addresses("slow.example", 443, STRICT, timeout=0.2)
    assert time.monotonic() - started < 1.0
    assert str(refused.value) == unreachable("slow.example")


def test_a_guarded_requests_session_refuses_addresses_and_redirects() -> None:
    with internal_server() as internal, redirector(internal.base_url) as hostile:
        session = guard_session(requests.Session(), TEST_POLICY, timeout=2)
        with pytest.raises(requests.ConnectionError) as refused:
            session.get(internal.base_url + "/admin")
        assert str(guard_refusal(refused.value)) == unreachable(INTERNAL)
        with pytest.raises(requests.ConnectionError) as refused:  # HTTPS: the same guard
            session.get(internal.base_url.replace("http://", "https://", 1) + "/admin")
        assert str(guard_refusal(refused.value)) == unreachable(INTERNAL)
        with pytest.raises(requests.TooManyRedirects) as redirected:
            session.post(hostile.base_url + "/login", data={"password": "p"})
        assert isinstance(guard_refusal(redirected.value), RedirectRefused)
        assert internal.requests == []
        assert len(hostile.requests) == 1


def test_a_guarded_httpx_transport_refuses_addresses_and_redirects() -> None:
    with internal_server() as internal, redirector(internal.base_url) as hostile:
        transport = GuardedTransport(TEST_POLICY, refuse_redirects=True)
        with httpx.Client(transport=transport, follow_redirects=True, trust_env=False) as client:
            with pytest.raises(httpx.ConnectError) as refused:
                client.get(internal.base_url + "/admin")
            assert str(guard_refusal(refused.value)) == unreachable(INTERNAL)
            with pytest.raises(httpx.TooManyRedirects) as redirected:
                client.post(hostile.base_url + "/login", data={"password": "p"})
            assert isinstance(guard_refusal(redirected.value), RedirectRefused)
        assert internal.requests == []
        assert len(hostile.requests) == 1
