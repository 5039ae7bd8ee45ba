"""How media are sampled and sized: one frozen type, from the request to the decoder.

`MediaOptions` carries what a request's `media_options` (or a media part's own keys, a task
recipe, the server's flags, the model family) says; None means "not set". Layers combine
with `over`: the part's own over the request's, over the recipe's, over the server's flags,
over the family's defaults, over qwen-vl-utils' (QWEN_VL_UTILS). The names and meanings are
qwen-vl-utils' message keys; see docs/media.md for each. Here rather than beside the decoders
so that the settings, and with them `--help`, import neither torch nor PyAV.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

#: Pillow's own default limit: 1024 * 1024 * 1024 // 4 // 3 pixels.
DEFAULT_MAX_IMAGE_PIXELS = 89_478_485


@dataclass(frozen=True)
class MediaOptions:
    """`nframes`, when given, replaces `fps` sampling (qwen-vl-utils accepts only one). Sizes are
    in pixels: each video frame gets at most an even share of `total_pixels` per temporal patch
    (and at most 768 tokens), at least `min_pixels` (default 128 tokens); for an image,
    `min_pixels`/`max_pixels` bound its size. `video_start`/`video_end` are seconds.
    `timestamp` (Cosmos-Reason1 only) draws each frame's time into a border below it
    (media/overlay.py)."""

    fps: float | None = None
    nframes: int | None = None
    min_pixels: int | None = None
    max_pixels: int | None = None
    total_pixels: float | None = None
    min_frames: int | None = None
    max_frames: int | None = None
    video_start: float | None = None
    video_end: float | None = None
    timestamp: bool | None = None

    def given(self) -> dict[str, Any]:
        """The values that are set, by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def over(self, base: MediaOptions) -> MediaOptions:
        """These options where set, else `base`'s."""
        return replace(base, **self.given())


#: Every option's name: what a request may put in media_options or beside a media url.
MEDIA_OPTION_NAMES = tuple(f.name for f in fields(MediaOptions))

#: qwen-vl-utils' own defaults, the last layer: 2 fps, 4 to 768 frames.
QWEN_VL_UTILS = MediaOptions(fps=2.0, min_frames=4, max_frames=768)
