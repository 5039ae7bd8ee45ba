"""Which http(s) addresses may be fetched: non-public and cloud-metadata addresses,
URL checks before any connection, the domain allow-list."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from cosmos_reason.media.errors import FetchRefused
from cosmos_reason.media.settings import normalize_domain
from cosmos_reason.media.sources import AddressPolicy, address_problem

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("169.254.10.10", "link-local"),
    ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("240.0.0.1", "reserved"),
    ("100.64.0.1", "non-public"),
    ("169.254.169.254", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("100.100.100.200", "metadata"),
    ("168.63.129.16", "metadata"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "metadata"),
    ("64:ff9b::7f00:1", "loopback"),
    ("2002:7f00:1::", "loopback"),
]


@pytest.mark.parametrize("address,word", REFUSED)
def test_non_public_addresses_are_refused(address, word):
    problem = address_problem(ipaddress.ip_address(address))
    assert problem is not None and word in problem


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "1.1.1.1"])
def test_public_addresses_pass(address):
    assert address_problem(ipaddress.ip_address(address)) is None


def test_allow_private_lifts_all_but_metadata():
    assert address_problem(ipaddress.ip_address("10.0.0.1"), allow_private=True) is None
    assert address_problem(ipaddress.ip_address("127.0.0.1"), allow_private=True) is None
    assert "metadata" in address_problem(ipaddress.ip_address("169.254.169.254"), allow_private=True)
    assert "metadata" in address_problem(ipaddress.ip_address("fd00:ec2::254"), allow_private=True)


@pytest.mark.parametrize(
    "url,word",
    [
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://METADATA.google.internal./x", "metadata"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/latest/", "metadata"),
        ("ftp://public.example/x.png", "only http and https"),
    ],
)
def test_url_checks_before_any_connection(url, word):
    for policy in (AddressPolicy(), AddressPolicy(allow_private=True)):
        with pytest.raises(FetchRefused, match=word):
            policy.check_url(httpx.URL(url))


def test_domain_allow_list_matches_exact_and_subdomains():
    policy = AddressPolicy(allowed_domains=(normalize_domain("Public.Example"), normalize_domain("*.media.org")))
    for ok in (
        "http://public.example/a",
        "https://cdn.public.example/a",
        "http://x.y.media.org/a",
        "http://media.org/a",
        "http://PUBLIC.EXAMPLE./a",
    ):
        policy.check_url(httpx.URL(ok))
    for bad in (
        "http://public.example.evil.com/a",
        "http://notpublic.example/a",
        "http://example/a",
        "http://93.184.216.34/a",
    ):
        with pytest.raises(FetchRefused, match="allowed media domains"):
            policy.check_url(httpx.URL(bad))
