"""Per-request media limits checked before any media is fetched or decoded."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MEDIA_PART_TYPES = frozenset({"image_url", "video_url"})


def media_over_limit(messages: Iterable[Any], limit: int) -> str | None:
    """Where the first media part beyond `limit` is ('messages[2].content[1]'), or None."""
    seen = 0
    for i, message in enumerate(messages):
        content = getattr(message, "content", None)
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            if getattr(part, "type", None) in MEDIA_PART_TYPES:
                seen += 1
                if seen > limit:
                    return f"messages[{i}].content[{j}]"
    return None
