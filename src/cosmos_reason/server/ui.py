"""The web playground: a static page at `/`, its files under `/ui/`, and `/ui/config.json`.

Nothing here is under `/v1`, so the page loads without an API key; the page then
asks for one (when the server has keys) and sends it only to `/v1` routes.
`/ui/config.json` tells the page what it needs before that and reveals no secret.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse

from ..errors import APIError

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024
# Room for the rest of the JSON body (messages, settings) next to the base64 media.
JSON_SLACK_BYTES = 64 * 1024

_ASSET_NAME = re.compile(r"^[A-Za-z0-9_-]+\.(?:js|css|svg|png|ico)$")
_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".html": "text/html; charset=utf-8",
}
# The page needs nothing from elsewhere: scripts, styles and requests stay on this origin;
# previews are blob: URLs of the user's own files.
_HEADERS = {
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "content-security-policy": (
        "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
    ),
}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> FileResponse:
    return _static_file("index.html")


@router.get("/ui/config.json")
async def ui_config(request: Request) -> JSONResponse:
    settings = request.app.state.settings
    return JSONResponse(
        {
            "auth_required": bool(settings.api_keys),
            "max_upload_bytes": max_upload_bytes(settings.media.max_request_bytes),
            "model": settings.model_name,
            # Not secrets: what the page shows as the defaults of its settings fields.
            "reasoning": bool(getattr(settings, "reasoning", False)),
            # The family's card under the server's --default-* flags, per mode: Cosmos-Reason2
            # samples differently with and without reasoning.
            "sampling_defaults": _sampling_defaults(request, reasoning=False),
            "reasoning_sampling_defaults": _sampling_defaults(request, reasoning=True),
        },
        headers={"cache-control": "no-store"},
    )


@router.get("/ui/{name}")
async def asset(name: str) -> FileResponse:
    if not _ASSET_NAME.match(name):
        raise APIError(404, f"no such file: /ui/{name}")
    return _static_file(name)


def max_upload_bytes(max_request_bytes: int) -> int:
    """The largest file whose base64 data: URI still fits in one request body."""
    return max(0, (max_request_bytes - JSON_SLACK_BYTES) * 3 // 4)


def _sampling_defaults(request: Request, *, reasoning: bool) -> dict[str, float | int]:
    """What a request of this mode gets when it sets no sampling: the flags over the family's card."""
    defaults = request.app.state.settings.sampling_defaults(request.app.state.engine.info.family, reasoning)
    names = ("temperature", "top_p", "max_tokens")
    return {name: getattr(defaults, name) for name in names if getattr(defaults, name) is not None}


def _static_file(name: str) -> FileResponse:
    path = STATIC_DIR / name
    if not path.is_file():
        raise APIError(404, f"no such file: /ui/{name}")
    return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix], headers=_HEADERS)
