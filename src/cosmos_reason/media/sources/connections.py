"""The only way out for media downloads: an httpx client whose connections are checked.

Every TCP connection goes through `GuardedBackend`, an httpcore network backend: it
resolves the host with the event loop's getaddrinfo, refuses the connection when any
resolved address is one policy.py refuses, and then connects to the checked IP itself.
httpx keeps using the URL's host name for the Host header, TLS SNI and certificate
verification, so there is no second resolution an attacker's DNS could answer
differently (DNS rebinding), and redirects are covered because each new connection
passes through the same check. See docs/media.md#limits-and-safety.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable

import httpcore
import httpx

from ..errors import FetchRefused, MediaError
from .policy import AddressPolicy, IPAddress, ip_literal

Resolver = Callable[[str, int], Awaitable[list[str]]]

USER_AGENT = "cosmos-reason/0.1 (media fetcher)"


async def system_resolver(host: str, port: int) -> list[str]:
    """The event loop's getaddrinfo (a thread; never blocks the loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks and connects to the checked IP; the only way out for fetches."""

    def __init__(
        self, policy: AddressPolicy, resolver: Resolver | None = None, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self.policy = policy
        self.resolver = resolver or system_resolver
        self.inner = inner or httpcore.AnyIOBackend()

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """All addresses of host, each checked; refuses when any one is not allowed."""
        literal = ip_literal(host)
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

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None, socket_options=None
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.resolve(host, port)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options=None):
        raise FetchRefused("unix sockets are not media sources")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guarded_client(
    policy: AddressPolicy,
    *,
    resolver: Resolver | None = None,
    inner: httpcore.AsyncNetworkBackend | None = None,
    ssl_context: ssl.SSLContext | None = None,
    max_connections: int = 64,
) -> httpx.AsyncClient:
    """An httpx client whose every connection goes through GuardedBackend."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # httpx builds its httpcore pool without a way to pass a network backend; swap in an
    # equivalent pool that has ours (tests/media/sources/test_connections.py checks it is used).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
        max_connections=max_connections,
        max_keepalive_connections=max_connections // 2,
        keepalive_expiry=5.0,
        network_backend=GuardedBackend(policy, resolver, inner),
    )
    return httpx.AsyncClient(
        transport=transport, follow_redirects=False, trust_env=False, headers={"user-agent": USER_AGENT}, timeout=None
    )
