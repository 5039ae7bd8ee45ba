"""The upstream servers behind `--engine upstream`: their specs, health and balancing.

An upstream is given on the command line as a URL whose query string carries our
options for it (none of them is sent to the server)::

    --upstream 'http://vllm-0:8000/v1?model=nvidia/Cosmos-Reason1-7B&key_env=VLLM_KEY'

    model            the model name to send (default: the first id the server lists in /v1/models)
    key_env          environment variable holding the server's API key (sent as Bearer)
    key              the key itself (visible in `ps`; prefer key_env)
    api              auto (default) | vllm | cosmos | openai: how media and options are sent;
                     auto reads `owned_by` in /v1/models: cosmos-reason -> cosmos (our own
                     server), vllm or sglang -> vllm, anything else -> openai (standard
                     fields only: no repetition_penalty, top_k or ignore_eos)
    frames           png (default) | webp (lossless, faster) | jpeg (q95, lossy): video frames for vllm
    timeout          seconds to wait for the next byte of an answer (default 120)
    connect_timeout  seconds to wait for a connection (default 5)

A path-less URL gets `/v1`. Each upstream is probed in the background (GET /v1/models with
its key, every second while it is out, every few seconds while it is in): a connection
error, a 5xx, a timeout or a wrong key takes it out at once, a good probe brings it back.
Requests go to the healthy upstream with the fewest requests in flight; ties go to the one
picked longest ago, so that sequential requests alternate.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import aiohttp
import httpx

log = logging.getLogger(__name__)

APIS = ("auto", "vllm", "cosmos", "openai")
FRAME_FORMATS = ("png", "webp", "jpeg")
_OPTIONS = ("model", "key_env", "key", "api", "frames", "timeout", "connect_timeout")

#: Seconds between probes of an upstream that is out, and of one that is in.
PROBE_DOWN_S = 1.0
PROBE_UP_S = 5.0


@dataclass(frozen=True)
class UpstreamSpec:
    base_url: str  # ends in /v1 (or the server's own API root), no trailing slash
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)
    api: str = "auto"
    frames: str = "png"
    timeout: float = 120.0
    connect_timeout: float = 5.0

    @property
    def name(self) -> str:
        return self.base_url


def parse_upstream(text: str, environ: Mapping[str, str] | None = None) -> UpstreamSpec:
    """`http://host:port[/path][?option=value&...]` -> UpstreamSpec; ValueError says what is wrong."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"--upstream {text!r}: expected http(s)://host:port[/v1][?options]")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ValueError(f"--upstream {text!r}: unknown option(s) {', '.join(unknown)}; known: {', '.join(_OPTIONS)}")
    path = parts.path.rstrip("/") or "/v1"
    base = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    key = options.get("key") or None
    if "key_env" in options:
        if key:
            raise ValueError(f"--upstream {base}: give key or key_env, not both")
        key = env.get(options["key_env"])
        if not key:
            raise ValueError(f"--upstream {base}: environment variable {options['key_env']} (key_env) is not set")
    api = options.get("api", "auto")
    if api not in APIS:
        raise ValueError(f"--upstream {base}: api must be one of {', '.join(APIS)}, got {api!r}")
    frames = options.get("frames", "png")
    if frames not in FRAME_FORMATS:
        raise ValueError(f"--upstream {base}: frames must be one of {', '.join(FRAME_FORMATS)}, got {frames!r}")
    return UpstreamSpec(
        base_url=base,
        model=options.get("model") or None,
        api_key=key,
        api=api,
        frames=frames,
        timeout=_seconds(options, "timeout", 120.0, base),
        connect_timeout=_seconds(options, "connect_timeout", 5.0, base),
    )


def _seconds(options: dict[str, str], name: str, default: float, base: str) -> float:
    if name not in options:
        return default
    try:
        value = float(options[name])
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"--upstream {base}: {name} must be a positive number of seconds, got {options[name]!r}")
    return value


@dataclass(eq=False)  # compared by identity: the same URL may be given twice
class Upstream:
    """One server and what we know about it."""

    spec: UpstreamSpec
    healthy: bool = True  # optimistic until a request or a probe says otherwise
    reason: str = ""  # why it is out
    outstanding: int = 0
    picked: int = 0  # pick counter value when last chosen (tie-break)
    served: int = 0  # requests sent to it, for logs and tests
    warned: bool = False  # said once that api=openai drops our extra sampling fields
    card: dict[str, Any] | None = None  # its /v1/models entry for our model
    client: aiohttp.ClientSession | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def model(self) -> str | None:
        return self.spec.model or (self.card or {}).get("id")

    @property
    def api(self) -> str:
        """vllm, cosmos or openai; auto is settled by the /v1/models card (vllm until known)."""
        if self.spec.api != "auto":
            return self.spec.api
        if self.card is None:
            return "vllm"
        owner = str(self.card.get("owned_by", "")).lower()
        return {"cosmos-reason": "cosmos", "vllm": "vllm", "sglang": "vllm"}.get(owner, "openai")

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.spec.api_key}"} if self.spec.api_key else {}

    def http(self) -> aiohttp.ClientSession:
        """The upstream's HTTP client (made on first use, inside the running event loop).

        aiohttp rather than httpx on this path: the front relays every token of every
        stream, and httpx's connection pool and pure-Python parsing cost several times
        aiohttp's C parser and pool per request and per chunk (see benchmarks/upstream.py)."""
        if self.client is None or self.client.closed:
            timeout = aiohttp.ClientTimeout(
                total=None,
                connect=self.spec.connect_timeout,
                sock_connect=self.spec.connect_timeout,
                sock_read=self.spec.timeout,
            )
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
            # HTTP(S)_PROXY / NO_PROXY are read once here: aiohttp's trust_env would look them
            # (and ~/.netrc) up again on a worker thread for every request.
            self.client = aiohttp.ClientSession(
                headers=self.headers(), timeout=timeout, connector=connector, proxy=env_proxy(self.spec.base_url)
            )
        return self.client


class UpstreamPool:
    def __init__(self, specs: list[UpstreamSpec]) -> None:
        if not specs:
            raise ValueError("no upstream servers given")
        self.upstreams = [Upstream(spec) for spec in specs]
        self._counter = itertools.count(1)
        self._probe_task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._due: dict[int, float] = {}  # id(upstream) -> monotonic time of its next probe
        self._probed: dict[int, float] = {}  # id(upstream) -> monotonic time of its last probe

    # ------------------------------------------------------------------ choosing

    def pick(self, exclude: list[Upstream] | tuple[Upstream, ...] = ()) -> Upstream | None:
        """The healthy upstream with the fewest requests in flight (least recently picked on ties)."""
        self.start()
        candidates = [u for u in self.upstreams if u.healthy and u not in exclude]
        if not candidates:
            return None
        chosen = min(candidates, key=lambda u: (u.outstanding, u.picked))
        chosen.picked = next(self._counter)
        chosen.served += 1
        return chosen

    async def refresh(self, min_age: float = 0.5) -> None:
        """Probe, now, the upstreams that are out and were not probed in the last `min_age`
        seconds: with nobody healthy, a request waits for this instead of failing on
        news that may be a second old."""
        self.start()
        now = time.monotonic()
        stale = [u for u in self.upstreams if not u.healthy and now - self._probed.get(id(u), 0.0) >= min_age]
        if stale:
            await asyncio.gather(*(self.probe(u) for u in stale))

    def healthy(self) -> list[Upstream]:
        return [u for u in self.upstreams if u.healthy]

    def describe_down(self) -> str:
        return "; ".join(f"{u.name}: {u.reason or 'out'}" for u in self.upstreams if not u.healthy)

    def mark_failed(self, upstream: Upstream, reason: str) -> None:
        if upstream.healthy:
            log.warning("upstream %s taken out: %s", upstream.name, reason)
        upstream.healthy, upstream.reason = False, reason
        self._due[id(upstream)] = min(self._due.get(id(upstream), 0.0), time.monotonic() + PROBE_DOWN_S)
        if self._wake is not None:
            self._wake.set()

    def _mark_ok(self, upstream: Upstream, card: dict[str, Any]) -> None:
        if not upstream.healthy:
            log.info("upstream %s is back", upstream.name)
        upstream.healthy, upstream.reason, upstream.card = True, "", card

    # ------------------------------------------------------------------ probing

    def start(self) -> None:
        """Start the background probe (lazily: the pool is built before the event loop runs)."""
        if self._probe_task is None or self._probe_task.done():
            self._wake = asyncio.Event()
            self._probe_task = asyncio.get_running_loop().create_task(self._probe_loop(), name="upstream-probe")

    async def _probe_loop(self) -> None:
        assert self._wake is not None
        while True:
            now = time.monotonic()
            ready = [u for u in self.upstreams if self._due.get(id(u), 0.0) <= now]
            if ready:
                await asyncio.gather(*(self.probe(u) for u in ready))
                now = time.monotonic()
                for u in ready:
                    self._due[id(u)] = now + (PROBE_UP_S if u.healthy else PROBE_DOWN_S)
            wait = max(0.05, min(self._due.get(id(u), 0.0) for u in self.upstreams) - time.monotonic())
            self._wake.clear()
            # asyncio.wait, not wait_for: Python 3.11's wait_for can swallow the cancel that close()
            # sends when it lands as the event is set (a probe marking an upstream down), and close() hung.
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait((woken,), timeout=wait)
            finally:
                woken.cancel()

    async def probe(self, upstream: Upstream) -> bool:
        """GET /v1/models with the upstream's key: in when it answers and serves our model."""
        self._probed[id(upstream)] = time.monotonic()
        timeout = min(5.0, upstream.spec.timeout)
        try:
            async with upstream.http().get(
                f"{upstream.spec.base_url}/models", timeout=aiohttp.ClientTimeout(total=timeout)
            ) as response:
                status, body = response.status, await response.read()
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:  # timeouts included
            self.mark_failed(upstream, f"probe failed: {describe_transport_error(exc, timeout)}")
            return False
        reason = check_models_response(upstream.spec, status, _json(body))
        if isinstance(reason, str):
            self.mark_failed(upstream, reason)
            return False
        self._mark_ok(upstream, reason)
        return True

    def discover(self, timeout: float = 3.0) -> None:
        """Synchronous first probe at startup, so /v1/models can describe the model at once.
        Upstreams that do not answer yet are left in (optimistic) and probed later."""
        for upstream in self.upstreams:
            try:
                response = httpx.get(f"{upstream.spec.base_url}/models", headers=upstream.headers(), timeout=timeout)
            except httpx.HTTPError as exc:
                reason = f"no answer at startup ({describe_transport_error(exc)})"
                log.warning("upstream %s: %s; probing it in the background", upstream.name, reason)
                upstream.healthy, upstream.reason = False, reason
                continue
            result = check_models_response(upstream.spec, response.status_code, _json(response.content))
            if isinstance(result, str):
                log.warning("upstream %s: %s", upstream.name, result)
                upstream.healthy, upstream.reason = False, result
            else:
                upstream.card = result
                self._due[id(upstream)] = time.monotonic() + PROBE_UP_S
                log.info("upstream %s serves %r (%s API)", upstream.name, upstream.model, upstream.api)

    async def close(self) -> None:
        if self._probe_task is not None:
            self._probe_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._probe_task
        for upstream in self.upstreams:
            if upstream.client is not None:
                await upstream.client.close()
                upstream.client = None


def check_models_response(spec: UpstreamSpec, status: int, body: Any) -> dict[str, Any] | str:
    """The model's card from a /v1/models answer, or why the upstream can't be used."""
    if status in (401, 403):
        return f"/v1/models answered {status}: the API key is missing or wrong (set key_env)"
    if status != 200:
        return f"/v1/models answered {status}"
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not data or not all(isinstance(card, dict) for card in data):
        return "/v1/models listed no model"
    if spec.model is None:
        return data[0]
    for card in data:
        if card.get("id") == spec.model or spec.model in (card.get("aliases") or ()):
            return card
    served = ", ".join(str(card.get("id")) for card in data)
    return f"does not serve model {spec.model!r} (it serves: {served})"


def env_proxy(url: str) -> str | None:
    """The proxy the environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) names for `url`, if any."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    # proxy_bypass_environment is in CPython's urllib.request but undocumented, so typeshed omits it
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if not proxies.get(parts.scheme) or bypass(parts.hostname or "", proxies):
        return None
    return proxies[parts.scheme]


def describe_transport_error(exc: BaseException, timeout: float | None = None) -> str:
    """What went wrong on the wire, for logs and error messages (httpx's or aiohttp's errors)."""
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) and not str(exc).strip():
        return f"TimeoutError: no answer within {timeout:g} s" if timeout else "TimeoutError"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None
