"""Exception handlers that turn every failure into the one error envelope."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import APIError, ClientGone

log = logging.getLogger(__name__)


def error_response(err: APIError) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


def location(loc: tuple) -> str:
    """('messages', 0, 'content') -> 'messages[0].content'."""
    out = ""
    for part in _plain(loc):
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _plain(loc: tuple) -> list:
    """Drop pydantic's union bookkeeping: branch names ('str', 'list[...]') and
    the repeated discriminator tag in ('image_url', 'image_url', 'url')."""
    parts = [p for p in loc if p != "body" and not (isinstance(p, str) and (p == "str" or "[" in p))]
    return [p for i, p in enumerate(parts) if i + 1 >= len(parts) or p != parts[i + 1]]


def from_validation_error(exc: ValidationError | RequestValidationError) -> APIError:
    errors = exc.errors()
    # With unions pydantic reports every branch; the deepest error is the one that names the real problem.
    first = max(errors, key=lambda e: len(_plain(tuple(e.get("loc", ())))))
    kind = first.get("type")
    if kind == "json_invalid":
        return APIError(400, f"request body is not valid JSON: {first.get('msg', '')}")
    param = location(tuple(first.get("loc", ()))) or None
    if kind == "model_type" and param is None:
        return APIError(400, "request body must be a JSON object")
    message = first.get("msg", "invalid value")
    if kind == "union_tag_invalid":
        given = first.get("input", {}).get("type")
        message = f"unsupported content part type {given!r}; use 'text', 'image_url' or 'video_url'"
    elif kind == "missing":
        message = "field required"
    return APIError(400, f"{param}: {message}" if param else message, param=param)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(from_validation_error(exc))

    @app.exception_handler(ClientGone)
    async def _gone(_: Request, exc: ClientGone) -> Response:
        return Response(status_code=499)  # nobody is listening; the status is for the access log

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        phrase = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return error_response(APIError(exc.status_code, phrase, headers=getattr(exc, "headers", None)))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")
        return error_response(APIError(500, f"internal server error: {type(exc).__name__}"))
