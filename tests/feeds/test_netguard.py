import ipaddress

import pytest

from tribe.feeds.netguard import AddressPolicy

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
