"""Decoded media kept for repeat questions: an LRU bounded by bytes, safe across threads.

Keys are (kind, content id, effective settings): the content id is the sha256 of the
media bytes (of the base64 text for data: URIs, which names the same bytes without
decoding them), and the settings are everything that changes the decoded result
(MediaOptions, image min/max pixels, the pixel limit). Values are the decoded
results (a PIL image, a DecodedVideo); they are shared between requests and must be
treated as read-only.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


def content_id(data: bytes | str) -> str:
    """sha256 hex; hashlib releases the GIL on large buffers, so a worker thread hashes
    while the event loop serves."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")  # base64 text is ASCII; anything else fails later
    return hashlib.sha256(data).hexdigest()


def size_of(value: Any) -> int:
    """Bytes a decoded image or video holds (the pixel buffers; the rest is small)."""
    frames = getattr(value, "frames", None)
    if frames is not None and hasattr(frames, "element_size"):
        return int(frames.element_size() * frames.nelement()) + 1024
    if hasattr(value, "size") and hasattr(value, "getbands"):  # PIL image
        width, height = value.size
        return width * height * len(value.getbands()) + 1024
    nbytes = getattr(value, "nbytes", None)
    return int(nbytes) + 1024 if nbytes is not None else 1024


class MediaCache:
    """LRU of decoded media, at most `capacity` bytes (0 disables it)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(0, int(capacity))
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.size = 0
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: Hashable, value: Any, size: int | None = None) -> bool:
        """Store value; False when it is larger than the whole cache (then nothing changes)."""
        size = size_of(value) if size is None else size
        if not self.enabled or size > self.capacity:
            return False
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.size -= old[1]
            self._items[key] = (value, size)
            self.size += size
            while self.size > self.capacity:
                _, (_, evicted) = self._items.popitem(last=False)
                self.size -= evicted
        return True

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.size = 0


class UrlMemo:
    """Which content an http(s) URL served recently, so a repeat within `ttl` seconds
    can skip the download when its decoded result is still cached."""

    def __init__(self, ttl: float = 60.0, max_entries: int = 4096) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._items: OrderedDict[Hashable, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> str | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[1] < time.monotonic():
                del self._items[key]
                return None
            return item[0]

    def put(self, key: Hashable, content: str) -> None:
        with self._lock:
            self._items.pop(key, None)
            self._items[key] = (content, time.monotonic() + self.ttl)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
