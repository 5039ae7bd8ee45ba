"""The loader: cached media skip decoding, concurrent requests share one decode, and the
bounded decode pool."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import cosmos_reason.media.image as image_module
import cosmos_reason.media.video as video_module
from cosmos_reason.media.errors import MediaError
from cosmos_reason.media.options import MediaOptions
from cosmos_reason.media.settings import MediaSettings
from tests.media_factory import data_uri, media_loader, mp4_bytes, png_bytes
from tests.media_server import serve_media

PNG = png_bytes(84, 56)


PNG_URI = data_uri(PNG, "image/png")


@pytest.fixture(scope="module")
def mp4() -> bytes:
    return mp4_bytes(seconds=2.0, fps=8)


def counting(monkeypatch, module, name: str, delay: float = 0.0) -> dict:
    """Wrap module.name to count calls (and the most running at once)."""
    real = getattr(module, name)
    stats = {"calls": 0, "running": 0, "most": 0}
    lock = threading.Lock()

    def wrapper(*args, **kwargs):
        with lock:
            stats["calls"] += 1
            stats["running"] += 1
            stats["most"] = max(stats["most"], stats["running"])
        try:
            time.sleep(delay)
            return real(*args, **kwargs)
        finally:
            with lock:
                stats["running"] -= 1

    monkeypatch.setattr(module, name, wrapper)
    return stats


# ------------------------------------------------------------------ the cache, through the loader


async def test_a_repeated_image_skips_decoding(monkeypatch):
    stats = counting(monkeypatch, image_module, "load_image")
    media = media_loader(MediaSettings())
    first = await media.load_image(PNG_URI)
    again = await media.load_image(data_uri(PNG, "image/jpeg"))  # the declared mime does not matter
    assert again is first and stats["calls"] == 1
    resized = await media.load_image(PNG_URI, MediaOptions(max_pixels=28 * 28 * 8))
    assert resized is not first and stats["calls"] == 2  # other settings, other entry
    assert await media.load_image(PNG_URI, MediaOptions(max_pixels=28 * 28 * 8)) is resized
    assert stats["calls"] == 2
    other = await media.load_image(data_uri(png_bytes(40, 30, seed=1), "image/png"))
    assert other is not first and stats["calls"] == 3


async def test_a_repeated_video_skips_decoding(monkeypatch, mp4):
    stats = counting(monkeypatch, video_module, "load_video")
    media = media_loader(MediaSettings())
    uri = data_uri(mp4, "video/mp4")
    first = await media.load_video(uri)
    assert await media.load_video(uri) is first and stats["calls"] == 1
    slower = await media.load_video(uri, MediaOptions(fps=2))
    assert slower is not first and slower.num_frames < first.num_frames and stats["calls"] == 2


async def test_server_defaults_are_part_of_the_key(monkeypatch):
    stats = counting(monkeypatch, image_module, "load_image")
    shared = MediaSettings(image_max_pixels=28 * 28 * 8)
    image = await media_loader(shared).load_image(PNG_URI)
    assert image.width * image.height <= 28 * 28 * 8 and stats["calls"] == 1


async def test_a_disabled_cache_decodes_every_time(monkeypatch):
    stats = counting(monkeypatch, image_module, "load_image")
    media = media_loader(MediaSettings(media_cache_bytes=0))
    a = await media.load_image(PNG_URI)
    b = await media.load_image(PNG_URI)
    assert a is not b and stats["calls"] == 2 and len(media.cache) == 0


async def test_concurrent_requests_for_one_video_share_one_decode(monkeypatch, mp4):
    stats = counting(monkeypatch, video_module, "load_video", delay=0.2)
    media = media_loader(MediaSettings(media_workers=2))
    uri = data_uri(mp4, "video/mp4")
    results = await asyncio.gather(*(media.load_video(uri) for _ in range(4)))
    assert stats["calls"] == 1 and all(r is results[0] for r in results)


async def test_a_repeated_http_url_skips_the_download(monkeypatch):
    stats = counting(monkeypatch, image_module, "load_image")
    with serve_media({"/image.png": PNG}) as host:
        media = media_loader(MediaSettings(allow_private_media_urls=True))
        first = await media.load_image(host.url("/image.png"))
        assert await media.load_image(host.url("/image.png")) is first
        assert host.count("/image.png") == 1 and stats["calls"] == 1
        # the same bytes under another URL are downloaded (to hash them) but not decoded again
        assert await media.load_image(host.url("/image.png", host="localhost")) is first
        assert stats["calls"] == 1
        # a response that forbids caching is fetched every time
        await media.load_image(host.url("/no-store"))
        await media.load_image(host.url("/no-store"))
        assert host.count("/no-store") == 2
        await media.close()


# ------------------------------------------------------------------ the bounded pool


async def test_at_most_media_workers_decodes_run_at_once(monkeypatch):
    stats = counting(monkeypatch, image_module, "load_image", delay=0.05)
    media = media_loader(MediaSettings(media_workers=2))
    uris = [data_uri(png_bytes(16, 16, seed=i), "image/png") for i in range(8)]
    images = await asyncio.gather(*(media.load_image(u) for u in uris))
    assert len(images) == 8 and stats["calls"] == 8
    assert stats["most"] == 2
    await media.close()


async def test_a_cancelled_request_keeps_its_slot_until_its_decode_ends(monkeypatch):
    stats = counting(monkeypatch, image_module, "load_image", delay=0.3)
    media = media_loader(MediaSettings(media_workers=1))
    first = asyncio.ensure_future(media.load_image(data_uri(png_bytes(16, 16, seed=1), "image/png")))
    await asyncio.sleep(0.1)
    first.cancel()
    second = await media.load_image(data_uri(png_bytes(16, 16, seed=2), "image/png"))
    assert second.size == (56, 56)  # enlarged to 4 tokens, as qwen-vl-utils does
    assert stats["most"] == 1 and stats["calls"] == 2
    await media.close()


async def test_decode_errors_reach_every_waiter_and_are_not_cached(monkeypatch):
    stats = counting(monkeypatch, image_module, "load_image", delay=0.05)
    media = media_loader(MediaSettings())
    bad = data_uri(b"not an image at all", "image/png")
    results = await asyncio.gather(*(media.load_image(bad) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, MediaError) for r in results) and stats["calls"] == 1
    with pytest.raises(MediaError):
        await media.load_image(bad)
    assert stats["calls"] == 2 and len(media.cache) == 0
