"""Getting media bytes from where a client points: http(s):// and file:// URLs.

http(s) safety (server-side request forgery):

* Every hop is checked before it is sent: the scheme (http or https only), the host
  against `--allowed-media-domains` and against cloud-metadata host names.
* Every TCP connection goes through `GuardedBackend`, an httpcore network backend:
  it resolves the host with the event loop's getaddrinfo, refuses the connection when
  any resolved address is loopback, private, link-local, multicast, reserved,
  unspecified or a cloud-metadata address, and then connects to the checked IP
  itself. httpx keeps using the URL's host name for the Host header, TLS SNI and
  certificate verification, so there is no second resolution an attacker's DNS could
  answer differently (DNS rebinding), and redirects are covered because each new
  connection passes through the same check.
* Redirects are followed by hand (at most `max_redirects`), each hop checked again.
* Bodies are streamed and counted (after content decoding, so a gzip bomb counts at
  its decoded size); the download stops when it passes the modality's byte cap, and
  the whole fetch, redirects included, has one deadline.
* Downloads are I/O: they take no server-wide slot (a slow host would starve fast ones).
  What bounds them is the shared client's connection pool (`MAX_CONNECTIONS`), a
  share of it per host (`PER_HOST`, so one slow host cannot hold them all), each
  modality's byte cap and the deadline.

file:// URLs: media/local_files.py (LocalFiles is re-exported here).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass

import httpcore
import httpx

from .errors import FetchRefused, MediaError
from .local_files import LocalFiles  # noqa: F401 - re-exported: file:// lives in local_files.py

log = logging.getLogger(__name__)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

#: Addresses of cloud instance-metadata services: never fetched, whatever the flags say.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle, ...
    "169.254.170.2",  # AWS ECS task metadata
    "169.254.169.123",  # AWS time sync
    "168.63.129.16",  # Azure WireServer (a public address)
    "100.100.100.200",  # Alibaba Cloud
    "192.0.0.192",  # Oracle Cloud (legacy)
    "fd00:ec2::254",  # AWS IMDS over IPv6
    "fd00:ec2::23",  # AWS time sync over IPv6
))
METADATA_HOSTS = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog", "metadata.azure.internal",
    "instance-data", "instance-data.ec2.internal", "metadata.tencentyun.com",
})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "cosmos-reason/0.1 (media fetcher)"
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


async def system_resolver(host: str, port: int) -> list[str]:
    """The event loop's getaddrinfo (a thread; never blocks the loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


@dataclass(frozen=True)
class AddressPolicy:
    allow_private: bool = False
    allowed_domains: tuple[str, ...] = ()  # normalized (MediaSettings does it)

    def check_url(self, url: httpx.URL) -> None:
        """Checks that need no DNS: scheme, host names. Raises FetchRefused."""
        if url.scheme not in ("http", "https"):
            raise FetchRefused(f"only http and https URLs are fetched, not {url.scheme}:")
        host = _host(url)
        if not host:
            raise FetchRefused("the URL has no host")
        if url.port is not None and not 0 < url.port < 65536:
            raise FetchRefused(f"port {url.port} is not a valid port")
        if host in METADATA_HOSTS or host.endswith(".metadata.google.internal"):
            raise FetchRefused(f"host {host!r} is a cloud metadata service")
        if self.allowed_domains and not host_matches(host, self.allowed_domains):
            raise FetchRefused(f"host {host!r} is not one of the allowed media domains (--allowed-media-domains)")
        literal = _ip_literal(host)
        if literal is not None:
            self.check_address(host, literal)

    def check_address(self, host: str, ip: IPAddress) -> None:
        problem = address_problem(ip, self.allow_private)
        if problem is None:
            return
        if problem == "a cloud metadata address":
            raise FetchRefused(f"host {host!r} is {problem}, which is never fetched")
        if _ip_literal(host) is not None:
            raise FetchRefused(f"{host} is {problem}; media URLs must point to public addresses ({_PRIVATE_HINT})")
        raise FetchRefused(f"host {host!r} resolves to {problem}; media URLs must point to public addresses "
                           f"({_PRIVATE_HINT})")


def _host(url: httpx.URL) -> str:
    return url.raw_host.decode("ascii", "replace").lower().rstrip(".")


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks and connects to the checked IP; the only way out for fetches."""

    def __init__(self, policy: AddressPolicy, resolver: Resolver | None = None,
                 inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.policy = policy
        self.resolver = resolver or system_resolver
        self.inner = inner or httpcore.AnyIOBackend()

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """All addresses of host, each checked; refuses when any one is not allowed."""
        literal = _ip_literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                found = await self.resolver(host, port)
            except (socket.gaierror, UnicodeError, OSError):
                raise MediaError(f"could not resolve host {host!r}") from None
            addresses = list(dict.fromkeys(ipaddress.ip_address(a.split("%", 1)[0]) for a in found))
            if not addresses:
                raise MediaError(f"could not resolve host {host!r}")
        for address in addresses:
            self.policy.check_address(host, address)
        return addresses

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None, socket_options=None) -> httpcore.AsyncNetworkStream:
        addresses = await self.resolve(host, port)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(str(address), port, timeout=timeout,
                                                    local_address=local_address, socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options=None):
        raise FetchRefused("unix sockets are not media sources")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guarded_client(policy: AddressPolicy, *, resolver: Resolver | None = None,
                   inner: httpcore.AsyncNetworkBackend | None = None,
                   ssl_context: ssl.SSLContext | None = None, max_connections: int = 64) -> httpx.AsyncClient:
    """An httpx client whose every connection goes through GuardedBackend."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # httpx builds its httpcore pool without a way to pass a network backend; swap in an
    # equivalent pool that has ours (tests/unit/test_media_fetch.py checks it is used).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
        max_connections=max_connections,
        max_keepalive_connections=max_connections // 2,
        keepalive_expiry=5.0,
        network_backend=GuardedBackend(policy, resolver, inner),
    )
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False,
                             headers={"user-agent": USER_AGENT}, timeout=None)


@dataclass(frozen=True)
class Fetched:
    data: bytes
    url: str  # after redirects
    reusable: bool  # the response did not forbid caching (no-store / no-cache)


#: Connections the shared client opens at once, and downloads from one host at once.
MAX_CONNECTIONS = 64
PER_HOST = 8


class _HostShares:
    """At most `per_host` downloads from one host name at once; the rest wait for that host only."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self._hosts: dict[str, tuple[asyncio.Semaphore, int]] = {}  # host -> (slots, users); gone when unused

    @contextlib.asynccontextmanager
    async def hold(self, host: str) -> AsyncIterator[None]:
        slots, users = self._hosts.get(host) or (asyncio.Semaphore(self.per_host), 0)
        self._hosts[host] = (slots, users + 1)
        try:
            async with slots:
                yield
        finally:
            slots, users = self._hosts[host]
            if users == 1:
                del self._hosts[host]
            else:
                self._hosts[host] = (slots, users - 1)


class HttpFetcher:
    """Downloads http(s) media with one shared client (created on first use)."""

    def __init__(self, policy: AddressPolicy, *, max_redirects: int = 5, resolver: Resolver | None = None,
                 inner: httpcore.AsyncNetworkBackend | None = None, ssl_context: ssl.SSLContext | None = None,
                 max_connections: int = MAX_CONNECTIONS, per_host: int = PER_HOST) -> None:
        self.policy = policy
        self.max_redirects = max_redirects
        self.per_host = per_host
        self._client_args = {"resolver": resolver, "inner": inner, "ssl_context": ssl_context,
                             "max_connections": max_connections}
        self._client: httpx.AsyncClient | None = None
        self._hosts = _HostShares(per_host)

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = guarded_client(self.policy, **self._client_args)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def fetch(self, url: str, *, max_bytes: int, timeout: float, what: str = "media") -> Fetched:
        """The body at url (following redirects), or MediaError saying what went wrong."""
        try:
            return await asyncio.wait_for(self._fetch_in_host_share(url, max_bytes, timeout, what), timeout)
        except asyncio.TimeoutError:
            raise MediaError(f"fetching the {what} took longer than {timeout:g} s") from None

    async def _fetch_in_host_share(self, url: str, max_bytes: int, timeout: float, what: str) -> Fetched:
        try:
            host = urllib.parse.urlsplit(url).hostname or ""
        except ValueError:
            host = ""  # malformed: _follow says what is wrong with it
        async with self._hosts.hold(host):
            return await self._follow(url, max_bytes, timeout, what)

    async def _follow(self, url: str, max_bytes: int, timeout: float, what: str) -> Fetched:
        try:
            current = httpx.URL(url)
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise MediaError(f"invalid media URL: {exc}") from None
        for hop in range(self.max_redirects + 1):
            try:
                self.policy.check_url(current)
                response = await self._send(current, timeout)
            except MediaError as exc:
                if hop:
                    raise type(exc)(f"redirect {hop} to {_short(current)} refused: {exc}") from None
                raise
            try:
                if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                    if hop == self.max_redirects:
                        raise MediaError(f"more than {self.max_redirects} redirects fetching the {what}")
                    current = _redirect_target(current, response.headers["location"])
                    continue
                if response.status_code != 200:
                    raise MediaError(f"the {what} URL answered HTTP {response.status_code} "
                                     f"{response.reason_phrase}".rstrip())
                data = await _read_capped(response, max_bytes, what)
                return Fetched(data, str(current), _reusable(response))
            finally:
                await response.aclose()
        raise AssertionError("unreachable")

    async def _send(self, url: httpx.URL, timeout: float) -> httpx.Response:
        try:
            request = self.client.build_request("GET", url, timeout=httpx.Timeout(timeout))
            return await self.client.send(request, stream=True)
        except MediaError:
            raise
        except httpx.TimeoutException:
            raise MediaError(f"timed out connecting to {_host(url)!r}") from None
        except httpx.HTTPError as exc:
            raise MediaError(f"could not fetch from {_host(url)!r}: {_reason(exc)}") from None
        except Exception as exc:  # noqa: BLE001 - a client's URL must never become a 500
            log.info("fetching from %r failed: %r", _host(url), exc)
            raise MediaError(f"could not fetch from {_host(url)!r}: {type(exc).__name__}") from None


def _redirect_target(current: httpx.URL, location: str) -> httpx.URL:
    try:
        return current.join(location).copy_with(fragment=None)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise MediaError(f"the media URL redirected to an invalid address {location[:200]!r}") from None


async def _read_capped(response: httpx.Response, max_bytes: int, what: str) -> bytes:
    too_big = MediaError(f"the {what} is larger than the {_size(max_bytes)} this server fetches "
                         f"(--max-{'video' if what == 'video' else 'image'}-bytes)")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_big
    body = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise too_big
    except httpx.TimeoutException:
        raise MediaError(f"timed out reading the {what} from {_host(response.url)!r}") from None
    except httpx.HTTPError as exc:
        raise MediaError(f"could not read the {what} from {_host(response.url)!r}: {_reason(exc)}") from None
    if not body:
        raise MediaError(f"the {what} URL returned no data")
    return bytes(body)


def _reusable(response: httpx.Response) -> bool:
    control = response.headers.get("cache-control", "").lower()
    return "no-store" not in control and "no-cache" not in control


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    if isinstance(exc, httpx.ConnectError):
        lowered = text.lower()
        if "refused" in lowered:
            return "connection refused"
        if "unreachable" in lowered:
            return "network unreachable"
        return "could not connect" + (f" ({text[:120]})" if text else "")
    return text[:200] or type(exc).__name__


def _short(url: httpx.URL) -> str:
    text = str(url.copy_with(query=None, fragment=None))
    return text if len(text) <= 120 else text[:117] + "..."


def _size(n: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} bytes"
