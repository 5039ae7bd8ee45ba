"""The decoded-media cache (LRU by bytes, thread-safe) and the bounded decode pool."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import torch
from PIL import Image

import cosmos_reason.media.image as image_module
import cosmos_reason.media.video as video_module
from cosmos_reason.media.cache import MediaCache, UrlMemo, content_id, size_of
from cosmos_reason.media.errors import MediaError
from cosmos_reason.media.loader import MediaLoader
from cosmos_reason.media.settings import MediaSettings
from cosmos_reason.chat.protocol import MediaOverrides
from tests.media_factory import data_uri, mp4_bytes, png_bytes
from tests.media_server import serve_media

PNG = png_bytes(40, 30)
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


# ---- MediaCache ---------------------------------------------------------------------------


def test_lru_evicts_least_recently_used_by_bytes():
    cache = MediaCache(100)
    cache.put("a", "A", size=40)
    cache.put("b", "B", size=40)
    assert cache.get("a") == "A"  # a is now the most recent
    cache.put("c", "C", size=40)  # 120 > 100: b goes
    assert "b" not in cache and cache.get("a") == "A" and cache.get("c") == "C"
    assert cache.size == 80
    cache.put("a", "A2", size=10)  # replacing frees the old size
    assert cache.size == 50 and cache.get("a") == "A2"


def test_items_larger_than_the_cache_and_a_zero_cache_store_nothing():
    cache = MediaCache(100)
    assert cache.put("x", "X", size=101) is False and len(cache) == 0
    off = MediaCache(0)
    assert not off.enabled and off.put("x", "X", size=1) is False and off.get("x") is None


def test_cache_is_thread_safe():
    cache = MediaCache(10_000)

    def hammer(offset: int) -> None:
        for i in range(2000):
            cache.put((offset, i % 50), i, size=7 + i % 13)
            cache.get((offset, (i * 7) % 50))

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 0 < cache.size <= 10_000
    assert cache.size == sum(size for _, size in cache._items.values())


def test_sizes_of_decoded_media():
    assert size_of(Image.new("RGB", (10, 20))) == 10 * 20 * 3 + 1024

    class Video:
        frames = torch.zeros((4, 3, 28, 28), dtype=torch.uint8)

    assert size_of(Video()) == 4 * 3 * 28 * 28 + 1024


def test_content_id_is_sha256():
    assert content_id(b"abc") == content_id("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_url_memo_expires():
    memo = UrlMemo(ttl=0.05)
    memo.put("u", "c")
    assert memo.get("u") == "c"
    time.sleep(0.06)
    assert memo.get("u") is None


# ---- through the loader ---------------------------------------------------------------------


async def test_a_repeated_image_skips_decoding(monkeypatch):
    stats = counting(monkeypatch, image_module, "load_image")
    media = MediaLoader(MediaSettings())
    first = await media.load_image(PNG_URI)
    again = await media.load_image(data_uri(PNG, "image/jpeg"))  # the declared mime does not matter
    assert again is first and stats["calls"] == 1
    resized = await media.load_image(PNG_URI, MediaOverrides(max_pixels=28 * 28 * 8))
    assert resized is not first and stats["calls"] == 2  # other settings, other entry
    assert await media.load_image(PNG_URI, MediaOverrides(max_pixels=28 * 28 * 8)) is resized
    assert stats["calls"] == 2
    other = await media.load_image(data_uri(png_bytes(40, 30, seed=1), "image/png"))
    assert other is not first and stats["calls"] == 3


async def test_a_repeated_video_skips_decoding(monkeypatch, mp4):
    stats = counting(monkeypatch, video_module, "load_video")
    media = MediaLoader(MediaSettings())
    uri = data_uri(mp4, "video/mp4")
    first = await media.load_video(uri)
    assert await media.load_video(uri) is first and stats["calls"] == 1
    slower = await media.load_video(uri, MediaOverrides(fps=2))
    assert slower is not first and slower.num_frames < first.num_frames and stats["calls"] == 2


async def test_server_defaults_are_part_of_the_key(monkeypatch):
    stats = counting(monkeypatch, image_module, "load_image")
    shared = MediaSettings(image_max_pixels=28 * 28 * 8)
    image = await MediaLoader(shared).load_image(PNG_URI)
    assert image.width * image.height <= 28 * 28 * 8 and stats["calls"] == 1


async def test_a_disabled_cache_decodes_every_time(monkeypatch):
    stats = counting(monkeypatch, image_module, "load_image")
    media = MediaLoader(MediaSettings(media_cache_bytes=0))
    a = await media.load_image(PNG_URI)
    b = await media.load_image(PNG_URI)
    assert a is not b and stats["calls"] == 2 and len(media.cache) == 0


async def test_concurrent_requests_for_one_video_share_one_decode(monkeypatch, mp4):
    stats = counting(monkeypatch, video_module, "load_video", delay=0.2)
    media = MediaLoader(MediaSettings(media_workers=2))
    uri = data_uri(mp4, "video/mp4")
    results = await asyncio.gather(*(media.load_video(uri) for _ in range(4)))
    assert stats["calls"] == 1 and all(r is results[0] for r in results)


async def test_a_repeated_http_url_skips_the_download(monkeypatch):
    stats = counting(monkeypatch, image_module, "load_image")
    with serve_media({"/image.png": PNG}) as host:
        media = MediaLoader(MediaSettings(allow_private_media_urls=True))
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


# ---- the bounded pool -----------------------------------------------------------------------


async def test_at_most_media_workers_decodes_run_at_once(monkeypatch):
    stats = counting(monkeypatch, image_module, "load_image", delay=0.05)
    media = MediaLoader(MediaSettings(media_workers=2))
    uris = [data_uri(png_bytes(16, 16, seed=i), "image/png") for i in range(8)]
    images = await asyncio.gather(*(media.load_image(u) for u in uris))
    assert len(images) == 8 and stats["calls"] == 8
    assert stats["most"] == 2
    await media.close()


async def test_a_cancelled_request_keeps_its_slot_until_its_decode_ends(monkeypatch):
    stats = counting(monkeypatch, image_module, "load_image", delay=0.3)
    media = MediaLoader(MediaSettings(media_workers=1))
    first = asyncio.ensure_future(media.load_image(data_uri(png_bytes(16, 16, seed=1), "image/png")))
    await asyncio.sleep(0.1)
    first.cancel()
    second = await media.load_image(data_uri(png_bytes(16, 16, seed=2), "image/png"))
    assert second.size == (16, 16)
    assert stats["most"] == 1 and stats["calls"] == 2
    await media.close()


async def test_decode_errors_reach_every_waiter_and_are_not_cached(monkeypatch):
    stats = counting(monkeypatch, image_module, "load_image", delay=0.05)
    media = MediaLoader(MediaSettings())
    bad = data_uri(b"not an image at all", "image/png")
    results = await asyncio.gather(*(media.load_image(bad) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, MediaError) for r in results) and stats["calls"] == 1
    with pytest.raises(MediaError):
        await media.load_image(bad)
    assert stats["calls"] == 2 and len(media.cache) == 0
