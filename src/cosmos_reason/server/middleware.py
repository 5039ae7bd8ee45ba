"""Small ASGI middlewares that make real clients work."""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..metrics import Metrics

KNOWN_ROUTES = ("/v1/chat/completions", "/v1/score", "/v1/models", "/v1/tasks", "/health", "/metrics", "/")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# The id of the request being handled, for log lines. Set by RequestIdMiddleware and not reset:
# uvicorn runs every request in a task of its own, so the value ends with the request, and
# Starlette's last-resort 500 handler (outside every middleware) still sees it.
REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")


class RequestIdLogFilter(logging.Filter):
    """Put the current request's id on every log record as `request_id` ("-" outside a request).
    Attach it to handlers (not loggers) so records from every logger get it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


class UpperCaseMethodMiddleware:
    """The user guide's curl sends `-X Post`; HTTP methods are case-sensitive, so
    routing would answer 405. Treat the method name case-insensitively."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] != scope["method"].upper():
            scope = dict(scope, method=scope["method"].upper())
        await self.app(scope, receive, send)


class RequestIdMiddleware:
    """Echo the client's `x-request-id` (when sane) or make one, on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = sent if _REQUEST_ID.match(sent) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        REQUEST_ID.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


class RequestCountMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = scope["path"] if scope["path"] in KNOWN_ROUTES else "other"
        status = {"code": 500}

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            self.metrics.requests.labels(route, str(status["code"])).inc()
