"""The decoded-media cache: LRU by bytes, thread-safe; content ids; the URL memo."""

from __future__ import annotations

import threading
import time

import torch
from PIL import Image

from cosmos_reason.media.cache import MediaCache, UrlMemo, content_id, size_of


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
    assert (
        content_id(b"abc") == content_id("abc") == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    )


def test_url_memo_expires():
    memo = UrlMemo(ttl=0.05)
    memo.put("u", "c")
    assert memo.get("u") == "c"
    time.sleep(0.06)
    assert memo.get("u") is None
