"""Reading request bodies within two bounds: one request's size, and the server's memory.

Each body may hold at most `--max-request-bytes` (else 413). Every body being read and parsed
also holds its bytes against one server-wide budget (`--max-buffered-body-bytes`); a body that
would pass it waits for nobody: it gets a 503 with Retry-After, so memory stays bounded however
many clients upload at once. A declared Content-Length is reserved whole before anything is
read; a chunked body reserves as it arrives. The bytes go back once the route has parsed them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.requests import ClientDisconnect, Request

from ..errors import APIError, ClientGone

RETRY_AFTER_SECONDS = 1


class BodyBudget:
    """Bytes of request bodies held at once, server-wide. One event loop: no lock needed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    @asynccontextmanager
    async def reading(self, request: Request, max_bytes: int) -> AsyncIterator[bytearray]:
        """The request's body, held against the budget until the `async with` block ends."""
        held = 0

        def hold(total: int) -> None:
            nonlocal held
            if total > max_bytes:
                raise too_large(max_bytes)
            if total > held:
                if self.used + total - held > self.limit:
                    raise self._busy()
                self.used += total - held
                held = total

        try:
            declared = request.headers.get("content-length", "")
            if declared.isdigit():
                hold(int(declared))
            raw = bytearray()
            try:
                async for chunk in request.stream():
                    raw += chunk
                    hold(len(raw))
            except ClientDisconnect:
                raise ClientGone() from None
            yield raw
        finally:
            self.used -= held

    def _busy(self) -> APIError:
        return APIError(
            503,
            "the server is reading too many request bodies at once (--max-buffered-body-bytes); "
            f"retry in {RETRY_AFTER_SECONDS} s, or send large media by URL",
            code="server_busy",
            headers={"retry-after": str(RETRY_AFTER_SECONDS)},
        )


def too_large(limit: int) -> APIError:
    size = f"{limit / 2**20:g} MiB" if limit >= 2**20 else f"{limit} bytes"
    return APIError(
        413,
        f"request body is larger than the {size} this server accepts (--max-request-bytes); "
        "send large media by http(s):// or file:// URL instead of inline",
        code="request_too_large",
    )
