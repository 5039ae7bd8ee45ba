"""Media URL -> decoded image or video: fetch, identify, look up the cache, decode.

Sources: `data:` URIs (base64; the content decides what it is, not the declared
mime: the user guide labels a PNG `image/jpeg`), `http(s)://` (public addresses only
unless allowed, redirects checked hop by hop, byte caps, timeouts) and `file://` under
the allowed folders: one module each in media/sources/.

Work is bounded: CPU work (base64, hashing, file reads, decoding) runs on a thread
pool of 2 x `media_workers` threads behind two semaphores of `media_workers` each, one
for the short "prepare" steps (hash, base64, read) and one for decodes, so at most
`media_workers` decodes run at once and the rest wait without holding a thread; a
cache hit never waits behind a long decode. Downloads take no slot here: they are I/O,
bounded by the http client's connections (a share per host), byte caps and deadlines
(media/sources/http.py), so a slow host never makes other requests wait.
Decoded results are cached by content and effective settings (media/cache.py), and
concurrent requests for the same uncached media share one decode.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from PIL import Image

from .cache import MediaCache, UrlMemo, content_id
from .errors import MediaError
from .options import QWEN_VL_UTILS, MediaOptions
from .pool import GatedPool
from .settings import MediaSettings
from .sources import AddressPolicy, HttpFetcher, LocalFiles, Resolver, data_payload, payload_bytes
from .video import DecodedVideo
from .vision_math import IMAGE_MAX_TOKENS, IMAGE_MIN_TOKENS, VisionGeometry

if TYPE_CHECKING:
    import ssl

    import httpcore


T = TypeVar("T")

#: How long an http(s) URL's content id is remembered, so a repeat skips the download.
URL_MEMO_SECONDS = 60.0


class MediaMetrics(Protocol):
    """What the loader records: bytes decoded and decode seconds, by kind (image, video)."""

    media_bytes: Any
    media_seconds: Any


@dataclass(frozen=True)
class _Source:
    content: str | None  # sha256 hex of the bytes (of the base64 text for data: URIs); None: cache off
    read: Callable[[], bytes]  # the bytes, produced inside the decode job
    origin: Hashable | None = None  # (kind, url) for an http(s) URL whose content may be memoized


class MediaLoader:
    def __init__(
        self,
        settings: MediaSettings | None = None,
        *,
        geometry: VisionGeometry,
        video_defaults: MediaOptions | None = None,
        resolver: Resolver | None = None,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
        ssl_context: ssl.SSLContext | None = None,
        text_timestamps: bool = False,
    ) -> None:
        """`geometry`, `video_defaults` and `text_timestamps` are the model family's: how its encoder
        cuts pixels, how its videos are sampled when neither the request nor the server's flags
        say, and whether its prompt already gives the times (then the `timestamp` overlay is refused)."""
        self.settings = settings = settings or MediaSettings()
        self.geometry = geometry
        # Every layer under a request's own options, merged once: the flags, the family's, qwen-vl-utils'.
        self.video_base = settings.video.over((video_defaults or MediaOptions()).over(QWEN_VL_UTILS))
        self.text_timestamps = text_timestamps
        self.metrics: MediaMetrics | None = None  # the app's (metrics.py), set by create_app
        #: The model's context in tokens (None: unknown), asked at each load: create_app
        #: points it at the engine, whose context an upstream may only learn later.
        self.context_length: Callable[[], int | None] = lambda: None
        self.cache = MediaCache(settings.media_cache_bytes)
        self.url_memo = UrlMemo(URL_MEMO_SECONDS)
        policy = AddressPolicy(settings.allow_private_media_urls, settings.allowed_media_domains)
        self.http = HttpFetcher(
            policy,
            max_redirects=settings.max_redirects,
            resolver=resolver,
            inner=network_backend,
            ssl_context=ssl_context,
        )
        self.files = LocalFiles(settings.allowed_local_media_paths)
        self.pool = GatedPool(settings.media_workers)
        self._inflight: dict[Hashable, asyncio.Future] = {}

    @classmethod
    def from_settings(
        cls,
        settings: MediaSettings,
        geometry: VisionGeometry,
        video_defaults: MediaOptions | None = None,
        *,
        text_timestamps: bool = False,
    ) -> MediaLoader:
        return cls(settings, geometry=geometry, video_defaults=video_defaults, text_timestamps=text_timestamps)

    async def close(self) -> None:
        """Close the shared http client and stop the workers (the app's shutdown calls it)."""
        await self.http.close()
        self.pool.close()

    # ---- public API ---------------------------------------------------------------

    async def load_image(self, url: str, options: MediaOptions | None = None) -> Image.Image:
        from .image import load_image

        given = options.given() if options else {}
        # Unset limits are qwen-vl-utils' (4 to 16384 tokens): every image is resized as its fetch_image
        # resizes it (Pillow's bicubic), so the processor gets the reference's pixels, not its own resize.
        token = self.geometry.token_pixels
        min_pixels = given.get("min_pixels", self.settings.image_min_pixels or IMAGE_MIN_TOKENS * token)
        max_pixels = given.get("max_pixels", self.settings.image_max_pixels or IMAGE_MAX_TOKENS * token)
        limit = self.settings.max_image_pixels
        decode = partial(
            load_image,
            geometry=self.geometry,
            min_pixels=min_pixels,
            max_pixels=max_pixels,
            max_image_pixels=limit,
            max_tokens=self.context_length(),
        )
        return await self._load("image", url, (min_pixels, max_pixels, limit, self.geometry), decode)

    async def load_video(self, url: str, options: MediaOptions | None = None) -> DecodedVideo:
        from .video import load_video

        chosen = self.video_options(options)
        if chosen.timestamp and self.text_timestamps:
            raise MediaError(
                "timestamp: the frame-time overlay is a Cosmos-Reason1 option; Reason2 puts timestamps "
                "in the text (<t seconds> before each temporal patch), so leave timestamp out"
            )
        decode = partial(
            load_video,
            options=chosen,
            geometry=self.geometry,
            max_frame_pixels=self.settings.max_image_pixels,
            max_tokens=self.context_length(),
        )
        return await self._load("video", url, (chosen, self.geometry), decode)

    def video_options(self, options: MediaOptions | None) -> MediaOptions:
        """The request's options over the server's flags, the model family's defaults and qwen-vl-utils'."""
        return options.over(self.video_base) if options is not None else self.video_base

    async def fetch(self, url: str, kind: str = "image") -> bytes:
        """The raw bytes a media URL names (no cache, no decoding)."""
        source = await self._source(kind, url)
        return await self.pool.run("prepare", source.read)

    # ---- the path -----------------------------------------------------------------

    async def _load(self, kind: str, url: str, params: Hashable, decode: Callable[[bytes], T]) -> T:
        if self.cache.enabled and _scheme(url) in ("http", "https"):
            memo = self.url_memo.get((kind, url))
            if memo is not None:
                hit = self.cache.get((kind, memo, params))
                if hit is not None:
                    return hit
        source = await self._source(kind, url)
        if source.content is None:
            return await self._decode(kind, source, decode, None)
        key = (kind, source.content, params)
        cached = self.cache.get(key)
        result: T = cached if cached is not None else await self._decode_once(key, kind, source, decode)
        if source.origin is not None:
            self.url_memo.put(source.origin, source.content)
        return result

    async def _source(self, kind: str, url: str) -> _Source:
        scheme = _scheme(url)
        if scheme == "data":
            payload = data_payload(url)
            content = await self._content_id(payload)
            return _Source(content and "b64:" + content, partial(payload_bytes, payload))
        if scheme in ("http", "https"):
            s = self.settings
            timeout = s.video_fetch_timeout if kind == "video" else s.image_fetch_timeout
            max_bytes = s.max_video_bytes if kind == "video" else s.max_image_bytes
            fetched = await self.http.fetch(url, max_bytes=max_bytes, timeout=timeout, what=kind)
            content = await self._content_id(fetched.data)
            origin = (kind, url) if fetched.reusable else None
            return _Source(content, lambda: fetched.data, origin)
        if scheme == "file":
            path = self.files.path(url)
            max_bytes = self.settings.max_video_bytes if kind == "video" else self.settings.max_image_bytes
            data = await self.pool.run("prepare", partial(self.files.read, path, max_bytes, kind))
            return _Source(await self._content_id(data), lambda: data)
        if not scheme:
            raise MediaError(
                "media URL must be a data: URI (data:image/png;base64,...), an http(s):// URL or a file:// URL"
            )
        raise MediaError(f"unsupported media URL scheme {scheme!r}; use data:, http(s):// or file://")

    async def _content_id(self, data: bytes | str) -> str | None:
        return await self.pool.run("prepare", partial(content_id, data)) if self.cache.enabled else None

    async def _decode_once(self, key: Hashable, kind: str, source: _Source, decode: Callable[[bytes], T]) -> T:
        """Decode in the pool; concurrent requests for the same key share one decode."""
        if self.pool.bind_loop():  # futures belong to one event loop
            self._inflight = {}
        job = self._inflight.get(key)
        if job is None:
            job = asyncio.ensure_future(self._decode(kind, source, decode, key))
            self._inflight[key] = job
            job.add_done_callback(partial(self._finished, key))
        return await asyncio.shield(job)

    def _finished(self, key: Hashable, job: asyncio.Future) -> None:
        if self._inflight.get(key) is job:
            del self._inflight[key]
        if not job.cancelled():
            job.exception()  # retrieved: nobody may be left waiting for it

    async def _decode(self, kind: str, source: _Source, decode: Callable[[bytes], T], key: Hashable | None) -> T:
        started = time.monotonic()
        size = 0

        def work() -> T:
            nonlocal size
            data = source.read()
            size = len(data)
            result = decode(data)
            if key is not None:
                self.cache.put(key, result)
            return result

        try:
            return await self.pool.run("decode", work)
        finally:
            if self.metrics is not None:
                self.metrics.media_bytes.labels(kind).inc(size)
                self.metrics.media_seconds.labels(kind).observe(time.monotonic() - started)


def _scheme(url: str) -> str:
    head, sep, _ = url[:16].partition(":")
    return head.strip().lower() if sep else ""
