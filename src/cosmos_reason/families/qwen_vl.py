"""What the Qwen-VL families share in how already-sampled video frames become model inputs:
the keyword arguments their transformers processors take beside `videos=[v.frames ...]`,
and the request fields a vLLM upstream takes for pre-sampled frames at a sampled rate
(Reason1's; Reason2 sends the source timing instead: reason2/upstream.py; docs/media.md)."""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any


def sampled_video_kwargs(videos: list[Any], video_processor: tuple[str, str]) -> dict[str, Any]:
    """The per-video metadata (source fps and kept frame indices, from which the processor
    derives the frames' timing) and do_sample_frames=False (the frames are already sampled).
    Plus, where the family's video processor (module, class) has it, cap_pixels_per_frame=False:
    qwen-vl-utils' per-frame cap is already applied by load_video, and the processor capping
    again would differ from the reference (which leaves the option unset, i.e. False)."""
    kwargs: dict[str, Any] = {"video_metadata": [video.metadata for video in videos], "do_sample_frames": False}
    if has_frame_cap(*video_processor):
        kwargs["cap_pixels_per_frame"] = False
    return kwargs


@cache
def has_frame_cap(module: str, name: str) -> bool:
    """Whether this transformers version's video processor class has `cap_pixels_per_frame`."""
    try:
        processor = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return False
    return hasattr(processor, "cap_pixels_per_frame")


def vllm_presampled_video_fields(videos: list[Any]) -> dict[str, Any]:
    """Request-level fields for a vLLM upstream when the request has videos.

    `media_io_kwargs.video = {"num_frames": -1, "fps": <sampled fps>}`: -1 keeps every
    frame (vLLM's default keeps 32), and `fps` makes vLLM's frame metadata say "these T
    frames are T frames of a T/fps-second clip", from which the Qwen2.5-VL processor derives
    the same second_per_grid_ts (2 / sampled fps) as our engine; `do_sample_frames: false`
    is what our engine passes to the processor too.

    vLLM's media_io_kwargs are per modality, not per video, so all videos of one request
    must share their sampled frame rate; ValueError otherwise.
    """
    rates = {video.sample_fps for video in videos}
    if len(rates) > 1:
        raise ValueError(
            "videos sampled at different frame rates in one request can't be sent to a vLLM upstream "
            f"({', '.join(f'{r:g}' for r in sorted(rates))} fps); give them the same fps/nframes options"
        )
    return {
        "media_io_kwargs": {"video": {"num_frames": -1, "fps": rates.pop()}},
        "mm_processor_kwargs": {"do_sample_frames": False},
    }
