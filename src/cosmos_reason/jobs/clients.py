"""Where job requests go: a running server, or the same app built in this process.

Both are an ``httpx.AsyncClient``; only the transport differs. In-process, the app is
``create_app(settings, engine)`` with settings parsed by the ``serve`` command's own
parser, and requests go through ``httpx.ASGITransport``: media take the server's media
pipeline, sampling defaults and limits, because it *is* the server, minus the socket.

:meth:`Target.post` sorts failures: a response the job should retry (429, 408, 5xx)
or a transport failure (connection refused, reset, timeout) raises
:class:`TransientError`; any other response is returned for the job to record.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class TransientError(Exception):
    """Worth retrying: the target is busy, restarting or unreachable."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # parsed JSON, or {"error": {...}} made up when the body was not JSON
    request_id: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error_message(self) -> str:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        return f"HTTP {self.status}"


class Target:
    """An OpenAI-compatible endpoint reached through an httpx client."""

    def __init__(
        self, client: httpx.AsyncClient, description: str, engine: Any = None, timeout: float | None = None
    ) -> None:
        self.client = client
        self.description = description
        self.timeout = timeout
        self._engine = engine  # in-process only: shut down on close
        # The served model's family as /v1/models names it (set by model_id); None until then, and
        # for a server that does not say (another OpenAI-compatible server: the default family's recipes).
        self.family: str | None = None

    async def post(self, path: str, body: Any, *, timeout: float | None = None) -> Reply:
        limit = timeout or self.timeout
        try:
            # wait_for as well: httpx.ASGITransport (in-process) enforces no timeout of its own.
            response = await asyncio.wait_for(
                self.client.post(path, json=body, **({"timeout": limit} if limit else {})), limit + 5 if limit else None
            )
        except (httpx.TimeoutException, asyncio.TimeoutError) as exc:
            raise TransientError(f"timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise TransientError(f"cannot reach {self.description}: {exc or type(exc).__name__}") from None
        reply = _reply(response)
        if reply.status in RETRY_STATUSES:
            raise TransientError(
                f"HTTP {reply.status}: {reply.error_message()}", status=reply.status, retry_after=_retry_after(response)
            )
        return reply

    async def model_id(self) -> str:
        """The served model's id (GET /v1/models), remembering its family (self.family); 401/403/404
        are not retried."""
        try:
            response = await self.client.get("/v1/models")
        except httpx.TransportError as exc:
            raise TransientError(f"cannot reach {self.description}: {exc or type(exc).__name__}") from None
        if response.status_code in RETRY_STATUSES:
            raise TransientError(
                f"HTTP {response.status_code} from /v1/models",
                status=response.status_code,
                retry_after=_retry_after(response),
            )
        if response.status_code != 200:
            raise TargetError(
                f"{self.description}: GET /v1/models answered {response.status_code}: "
                f"{_reply(response).error_message()}"
            )
        data = response.json().get("data") or []
        if not data:
            raise TargetError(f"{self.description}: /v1/models lists no model")
        family = data[0].get("family")
        self.family = family if isinstance(family, str) else None
        return str(data[0]["id"])

    async def aclose(self) -> None:
        await self.client.aclose()
        if self._engine is not None:
            await self._engine.shutdown()


class TargetError(RuntimeError):
    """The target cannot be used at all (bad URL, bad key, model cannot load)."""


def _reply(response: httpx.Response) -> Reply:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = {"error": {"message": response.text[:500] or f"HTTP {response.status_code}", "type": "http_error"}}
    return Reply(
        response.status_code,
        body,
        response.headers.get("x-request-id"),
        response.elapsed.total_seconds() if _has_elapsed(response) else 0.0,
    )


def _has_elapsed(response: httpx.Response) -> bool:
    try:
        response.elapsed  # noqa: B018 - set only once the body was read
    except RuntimeError:
        return False
    return True


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def server_url(url: str) -> str:
    """The server's root: 'http://h:8000', 'http://h:8000/' and 'http://h:8000/v1' all work."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = f"http://{url}"
    return url.removesuffix("/v1")


def server_target(url: str, api_key: str | None = None, *, timeout: float = 600.0, concurrency: int = 16) -> Target:
    key = api_key or _env_key()
    headers = {"authorization": f"Bearer {key}"} if key else {}
    limits = httpx.Limits(max_connections=max(concurrency, 1) + 2, max_keepalive_connections=max(concurrency, 1))
    client = httpx.AsyncClient(
        base_url=server_url(url),
        headers=headers,
        limits=limits,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 30.0)),
    )
    return Target(client, server_url(url), timeout=timeout)


def _env_key() -> str | None:
    """The first of `serve`'s keys (COSMOS_REASON_API_KEY, comma-separated)."""
    from ..settings import api_keys_from_env  # here: importing the settings imports torch (for now)

    keys = api_keys_from_env()
    return keys[0] if keys else None


def serve_settings(model: str, serve_args: list[str] | None = None):
    """Settings exactly as `cosmos-reason serve --model MODEL ...` would make them."""
    from ..server.flags import add_serve_arguments, settings_from_args

    parser = argparse.ArgumentParser(prog="cosmos-reason serve", add_help=False)
    add_serve_arguments(parser)
    args = parser.parse_args(["--model", model, *(serve_args or [])])
    # In-process nobody else can reach the app: no key needed.
    return dataclasses.replace(settings_from_args(args), api_keys=())


def in_process_target(
    model: str, serve_args: list[str] | None = None, *, timeout: float = 600.0, engine: Any = None, settings: Any = None
) -> Target:
    """Build the server app around a freshly loaded engine (or the one given) and talk to it
    through httpx.ASGITransport. Loading raises engine.loading.ModelLoadError."""
    from ..server.app import create_app

    settings = settings or serve_settings(model, serve_args)
    if engine is None:
        from ..engine.registry import create_engine
        from ..server.flags import check_device, check_model_source

        if settings.engine == "hf":
            check_model_source(settings.model)  # one line for a missing folder or an offline hub
            check_device(settings.device)

        engine = create_engine(settings)
    app = create_app(settings, engine, warn_open=False)  # no key needed: nobody else can reach it
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://in-process", timeout=httpx.Timeout(timeout)
    )
    return Target(client, f"in-process {settings.model_name!r}", engine=engine, timeout=timeout)
