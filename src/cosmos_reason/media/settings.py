"""Server-wide media settings: where media may come from, how big, how sampled."""

from __future__ import annotations

from dataclasses import dataclass, field

from .video import VideoOptions


@dataclass(frozen=True)
class MediaSettings:
    video: VideoOptions = field(default_factory=VideoOptions)
    max_image_pixels: int = 89_478_485
