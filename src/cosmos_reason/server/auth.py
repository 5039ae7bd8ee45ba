"""API-key check as a small ASGI middleware.

Accepts `Authorization: Bearer KEY` (the openai SDK; scheme word in any case),
`Authorization: KEY` (the user guide's curl) and `X-Api-Key: KEY`. Keys are
kept only as SHA-256 digests and compared in constant time; they are never logged.
"""

from __future__ import annotations

import hashlib
import json
import secrets

from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import error_body

PROTECTED_PREFIX = "/v1"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def presented_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The key a client sent, however it sent it."""
    found = {name.lower(): value.decode("latin-1") for name, value in headers}
    auth = found.get(b"authorization", "").strip()
    if auth:
        scheme, _, rest = auth.partition(" ")
        return rest.strip() if scheme.lower() == "bearer" and rest.strip() else auth
    api_key = found.get(b"x-api-key", "").strip()
    return api_key or None


class APIKeyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        keys: tuple[str, ...],
        protected_prefix: str = PROTECTED_PREFIX,
        protected_paths: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.digests = tuple(_digest(k) for k in keys)
        self.prefix = protected_prefix
        self.paths = protected_paths

    def is_valid(self, key: str | None) -> bool:
        if key is None:
            return False
        digest = _digest(key)
        # No early exit: every configured key is compared, whatever matches.
        return sum(secrets.compare_digest(digest, d) for d in self.digests) > 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._guarded(scope["path"]):
            await self.app(scope, receive, send)
            return
        key = presented_key(scope["headers"])
        if self.is_valid(key):
            await self.app(scope, receive, send)
            return
        message = "Missing API key: send 'Authorization: Bearer KEY'." if key is None else "Invalid API key."
        await _send_json(send, 401, error_body(401, message, code="invalid_api_key"), {"www-authenticate": "Bearer"})

    def _guarded(self, path: str) -> bool:
        return bool(self.digests) and (path == self.prefix or path.startswith(self.prefix + "/") or path in self.paths)


async def _send_json(send: Send, status: int, body: dict, extra_headers: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in extra_headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
