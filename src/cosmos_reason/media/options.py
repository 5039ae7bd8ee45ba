"""How media are sampled and how big they may be: plain values, no decoder behind them.

Here rather than beside the decoders (video/, image.py) so that the settings, and with them
the command line's `--help`, import neither torch nor PyAV.
"""

from __future__ import annotations

from dataclasses import dataclass

from .vision_math import VIDEO_TOTAL_PIXELS_8K_TOKENS

#: Pillow's own default limit: 1024 * 1024 * 1024 // 4 // 3 pixels.
DEFAULT_MAX_IMAGE_PIXELS = 89_478_485


@dataclass(frozen=True)
class VideoOptions:
    """How to sample a video; the names and meanings are qwen-vl-utils' message keys.

    `nframes`, when given, replaces `fps` sampling (qwen-vl-utils accepts only one). Sizes are in pixels: each frame gets
    at most an even share of `total_pixels` per pair of frames (and at most 768 tokens),
    at least `min_pixels` (default 128 tokens). `video_start`/`video_end` are seconds.
    The defaults are Cosmos-Reason1's: 4 fps and an 8192-token (6,422,528-pixel) budget.
    """

    fps: float = 4.0
    nframes: int | None = None
    min_pixels: int | None = None
    max_pixels: int | None = None
    total_pixels: float | None = VIDEO_TOTAL_PIXELS_8K_TOKENS
    min_frames: int = 4
    max_frames: int = 768
    video_start: float | None = None
    video_end: float | None = None
