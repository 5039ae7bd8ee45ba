"""http(s):// media: downloads through the guarded client, bounded in size and time.

* Every hop's URL is checked before it is sent (policy.py) and every connection is
  checked after DNS (connections.py); redirects are followed by hand (at most
  `max_redirects`), each hop checked again.
* Bodies are streamed and counted (after content decoding, so a gzip bomb counts at
  its decoded size); the download stops when it passes the modality's byte cap, and
  the whole fetch, redirects included, has one deadline.
* Downloads are I/O: they take no server-wide slot (a slow host would starve fast ones).
  What bounds them is the shared client's connection pool (`MAX_CONNECTIONS`), a
  share of it per host (`PER_HOST`, so one slow host cannot hold them all), each
  modality's byte cap and the deadline.

Flags and defaults: docs/media.md#sources and docs/media.md#limits-and-safety.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpcore
import httpx

from ..errors import MediaError
from ..settings import format_bytes
from .connections import Resolver, guarded_client
from .policy import AddressPolicy, url_host

log = logging.getLogger(__name__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


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

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        max_redirects: int = 5,
        resolver: Resolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = MAX_CONNECTIONS,
        per_host: int = PER_HOST,
    ) -> None:
        self.policy = policy
        self.max_redirects = max_redirects
        self.per_host = per_host
        self._resolver, self._inner, self._ssl_context = resolver, inner, ssl_context
        self._max_connections = max_connections
        self._client: httpx.AsyncClient | None = None
        self._hosts = _HostShares(per_host)

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = guarded_client(
                self.policy,
                resolver=self._resolver,
                inner=self._inner,
                ssl_context=self._ssl_context,
                max_connections=self._max_connections,
            )
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
                    raise MediaError(
                        f"the {what} URL answered HTTP {response.status_code} {response.reason_phrase}".rstrip()
                    )
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
            raise MediaError(f"timed out connecting to {url_host(url)!r}") from None
        except httpx.HTTPError as exc:
            raise MediaError(f"could not fetch from {url_host(url)!r}: {_reason(exc)}") from None
        except Exception as exc:  # noqa: BLE001 - a client's URL must never become a 500
            log.info("fetching from %r failed: %r", url_host(url), exc)
            raise MediaError(f"could not fetch from {url_host(url)!r}: {type(exc).__name__}") from None


def _redirect_target(current: httpx.URL, location: str) -> httpx.URL:
    try:
        return current.join(location).copy_with(fragment=None)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise MediaError(f"the media URL redirected to an invalid address {location[:200]!r}") from None


async def _read_capped(response: httpx.Response, max_bytes: int, what: str) -> bytes:
    too_big = MediaError(
        f"the {what} is larger than the {format_bytes(max_bytes)} this server fetches "
        f"(--max-{'video' if what == 'video' else 'image'}-bytes)"
    )
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
        raise MediaError(f"timed out reading the {what} from {url_host(response.url)!r}") from None
    except httpx.HTTPError as exc:
        raise MediaError(f"could not read the {what} from {url_host(response.url)!r}: {_reason(exc)}") from None
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
