"""Fetching media bytes from the URL a client sent, then decoding them.

First cut: `data:` URIs (base64). The kind of media is decided by the content,
not the declared mime type (the user guide labels a PNG `image/jpeg`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING

from PIL import Image

from .errors import MediaError
from .video import DecodedVideo, VideoOptions

if TYPE_CHECKING:
    from ..protocol import MediaOverrides
    from .settings import MediaSettings


@dataclass(frozen=True)
class MediaLimits:
    max_image_pixels: int = 89_478_485


def decode_data_uri(url: str) -> bytes:
    header, sep, payload = url.partition(",")
    if not sep:
        raise MediaError("data URI has no ',' before its payload")
    if not header.lower().endswith(";base64"):
        raise MediaError("only base64 data URIs are supported (data:<mime>;base64,<data>)")
    try:
        data = base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        raise MediaError("data URI payload is not valid base64") from None
    if not data:
        raise MediaError("data URI payload is empty")
    return data


def video_options(defaults: VideoOptions, overrides: MediaOverrides | None) -> VideoOptions:
    return replace(defaults, **overrides.given()) if overrides else defaults


class MediaLoader:
    def __init__(self, limits: MediaLimits | None = None, video_defaults: VideoOptions | None = None) -> None:
        self.limits = limits or MediaLimits()
        self.video_defaults = video_defaults or VideoOptions()
        self.metrics = None  # set by create_app

    @classmethod
    def from_settings(cls, settings: MediaSettings) -> MediaLoader:
        return cls(MediaLimits(max_image_pixels=settings.max_image_pixels), settings.video)

    async def _decode(self, kind: str, data: bytes, work):
        started = time.monotonic()
        try:
            return await asyncio.to_thread(work)
        finally:
            if self.metrics is not None:
                self.metrics.media_bytes.labels(kind).inc(len(data))
                self.metrics.media_seconds.labels(kind).observe(time.monotonic() - started)

    async def fetch(self, url: str) -> bytes:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "data":
            return decode_data_uri(url)
        if scheme in ("http", "https", "file"):
            raise MediaError(f"{scheme}:// media URLs are not supported yet; send a base64 data: URI")
        raise MediaError("media URL must be a data: URI (data:image/png;base64,...)")

    async def load_image(self, url: str, options: MediaOverrides | None = None) -> Image.Image:
        from .image import load_image

        data = await self.fetch(url)
        given = options.given() if options else {}
        decode = partial(load_image, data, min_pixels=given.get("min_pixels"), max_pixels=given.get("max_pixels"),
                         max_image_pixels=self.limits.max_image_pixels)
        return await self._decode("image", data, decode)

    async def load_video(self, url: str, options: MediaOverrides | None = None) -> DecodedVideo:
        from .video import load_video

        data = await self.fetch(url)
        return await self._decode("video", data, partial(load_video, data, video_options(self.video_defaults, options)))
