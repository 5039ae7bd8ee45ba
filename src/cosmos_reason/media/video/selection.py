"""Which frames to keep: qwen-vl-utils' sampling arithmetic applied to one video.

`SamplePlan.make` turns the frame count, frame rate and the request's MediaOptions into
the kept frame indices (smart_nframes and the rounded linspace of media/vision_math.py);
`check_output_size` refuses, before decoding, sampling the model cannot take. The
defaults are the model family's (families/<family>/constants.py); the options
themselves are described in docs/media.md#options-per-request.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import MediaError
from ..options import MediaOptions
from ..overlay import BORDER
from ..vision_math import (
    FPS_MIN_FRAMES,
    VisionGeometry,
    frame_range,
    num_tokens,
    sample_indices,
    smart_nframes,
    video_frame_size,
)


@dataclass(frozen=True)
class SamplePlan:
    """The frames to keep: `indices` in the source stream, in output order."""

    total_frames: int
    clip_frames: int
    nframes: int
    indices: list[int]
    slots: dict[int, list[int]] = field(repr=False)  # source index -> output positions

    @classmethod
    def make(cls, total_frames: int, fps: float, options: MediaOptions, geometry: VisionGeometry) -> SamplePlan:
        """`options` complete (layered over qwen-vl-utils' defaults, see MediaLoader.video_options)."""
        frame_factor = geometry.temporal_patch_size
        if total_frames == 0:
            raise MediaError("video has no decodable frames")
        if total_frames < frame_factor:
            raise MediaError(f"video has only {total_frames} frame; at least {frame_factor} are needed")
        start, end, clip_frames = frame_range(total_frames, fps, options.video_start, options.video_end)
        nframes = smart_nframes(
            clip_frames,
            fps,
            frame_factor=frame_factor,
            fps=None if options.nframes is not None else options.fps,
            nframes=options.nframes,
            min_frames=options.min_frames if options.min_frames is not None else FPS_MIN_FRAMES,
            max_frames=options.max_frames,
        )
        indices = sample_indices(start, end, nframes)
        slots: dict[int, list[int]] = {}
        for position, index in enumerate(indices):
            slots.setdefault(index, []).append(position)
        return cls(total_frames, clip_frames, nframes, indices, slots)


def check_output_size(
    plan: SamplePlan, size: tuple[int, int], options: MediaOptions, geometry: VisionGeometry, max_tokens: int | None
) -> None:
    """Refuse, from the arithmetic alone, sampling that the model cannot take.

    The frame size qwen-vl-utils will resize to comes from the header's size (rotation
    swaps the sides, not the area), so an aspect ratio beyond 200:1 or a min_pixels /
    max_pixels that would need more vision tokens than the context fails here, before
    any frame is decoded or any output buffer allocated. The `timestamp` overlay's border
    counts too (media/overlay.py).
    """
    height, width = video_frame_size(
        *size,
        plan.nframes,
        geometry,
        min_pixels=options.min_pixels,
        max_pixels=options.max_pixels,
        total_pixels=options.total_pixels,
    )
    if options.timestamp:
        height += BORDER
    tokens = num_tokens(plan.nframes, height, width, geometry)
    if max_tokens is not None and tokens > max_tokens:
        raise MediaError(
            f"video would take {tokens} vision tokens ({plan.nframes} frames of {width}x{height} pixels), more than "
            f"the model's context of {max_tokens}; lower min_pixels, max_pixels, total_pixels, fps or nframes"
        )
