"""Which http(s) addresses media may be fetched from (server-side request forgery).

Pure checks, no I/O: the scheme (http or https only), the host against
`--allowed-media-domains` and cloud-metadata host names, and any IP address against the
loopback / private / link-local / multicast / reserved / unspecified / cloud-metadata
ranges (`--allow-private-media-urls` lifts all but metadata). http.py checks every hop's
URL with `AddressPolicy.check_url`; connections.py checks every resolved address with
`AddressPolicy.check_address`. User-facing summary: docs/media.md#limits-and-safety.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from ..errors import FetchRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Addresses of cloud instance-metadata services: never fetched, whatever the flags say.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle, ...
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.123",  # AWS time sync
        "168.63.129.16",  # Azure WireServer (a public address)
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (legacy)
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS time sync over IPv6
    )
)
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.internal",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
    }
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

_PRIVATE_HINT = "start the server with --allow-private-media-urls to allow private networks"


def address_problem(ip: IPAddress, allow_private: bool = False) -> str | None:
    """Why `ip` must not be fetched from ('a loopback address', ...), or None when it may."""
    candidates = [*_embedded_ipv4(ip), ip]  # the IPv4 inside first: it names the problem best
    if any(a in METADATA_ADDRESSES for a in candidates):
        return "a cloud metadata address"
    if allow_private:
        return None
    for address in candidates:
        for check, name in (
            ("is_unspecified", "an unspecified address"),
            ("is_loopback", "a loopback address"),
            ("is_link_local", "a link-local address"),
            ("is_multicast", "a multicast address"),
            ("is_reserved", "a reserved address"),
            ("is_private", "a private address"),
        ):
            if getattr(address, check):
                return name
        if not address.is_global:
            return "a non-public address"
    return None


def _embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address leads to (mapped, NAT64, 6to4, Teredo client)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def host_matches(host: str, domains: Iterable[str]) -> bool:
    """True when host is one of `domains` or a subdomain of one (both normalized)."""
    return any(host == d or host.endswith("." + d) for d in domains)


@dataclass(frozen=True)
class AddressPolicy:
    allow_private: bool = False
    allowed_domains: tuple[str, ...] = ()  # normalized (MediaSettings does it)

    def check_url(self, url: httpx.URL) -> None:
        """Checks that need no DNS: scheme, host names. Raises FetchRefused."""
        if url.scheme not in ("http", "https"):
            raise FetchRefused(f"only http and https URLs are fetched, not {url.scheme}:")
        host = url_host(url)
        if not host:
            raise FetchRefused("the URL has no host")
        if url.port is not None and not 0 < url.port < 65536:
            raise FetchRefused(f"port {url.port} is not a valid port")
        if host in METADATA_HOSTS or host.endswith(".metadata.google.internal"):
            raise FetchRefused(f"host {host!r} is a cloud metadata service")
        if self.allowed_domains and not host_matches(host, self.allowed_domains):
            raise FetchRefused(f"host {host!r} is not one of the allowed media domains (--allowed-media-domains)")
        literal = ip_literal(host)
        if literal is not None:
            self.check_address(host, literal)

    def check_address(self, host: str, ip: IPAddress) -> None:
        problem = address_problem(ip, self.allow_private)
        if problem is None:
            return
        if problem == "a cloud metadata address":
            raise FetchRefused(f"host {host!r} is {problem}, which is never fetched")
        if ip_literal(host) is not None:
            raise FetchRefused(f"{host} is {problem}; media URLs must point to public addresses ({_PRIVATE_HINT})")
        raise FetchRefused(
            f"host {host!r} resolves to {problem}; media URLs must point to public addresses ({_PRIVATE_HINT})"
        )


def url_host(url: httpx.URL) -> str:
    """The URL's host name, lower case, without a trailing dot."""
    return url.raw_host.decode("ascii", "replace").lower().rstrip(".")


def ip_literal(host: str) -> IPAddress | None:
    """The IP address `host` spells out ('[::1]', '10.0.0.1'), or None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
