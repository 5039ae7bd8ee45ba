"""How Cosmos-Reason1's decoded videos become model inputs: keyword arguments for the
Qwen2.5-VL processor (hf engine) and request fields for a vLLM upstream. The frames and
their timing come from the media package; see docs/media.md."""

from __future__ import annotations

from functools import cache
from typing import Any


def processor_video_kwargs(videos: list[Any]) -> dict[str, Any]:
    """Extra kwargs for the Qwen2.5-VL processor's `__call__` alongside `videos=[v.frames ...]`.

    The same the reference passes: the per-video metadata (from which the processor
    derives second_per_grid_ts = 2 / sample_fps) and do_sample_frames=False because
    the frames are already sampled. Plus, where transformers has it,
    cap_pixels_per_frame=False: qwen-vl-utils' per-frame cap is already applied by
    load_video, and the processor capping again would differ from the reference (which
    leaves the option unset, i.e. False, and so gets transformers' warning on every call).
    """
    kwargs: dict[str, Any] = {"video_metadata": [video.metadata for video in videos], "do_sample_frames": False}
    if _processor_has_frame_cap():
        kwargs["cap_pixels_per_frame"] = False
    return kwargs


@cache
def _processor_has_frame_cap() -> bool:
    try:
        from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor
    except ImportError:
        return False
    return hasattr(Qwen2VLVideoProcessor, "cap_pixels_per_frame")


def upstream_video_fields(videos: list[Any]) -> dict[str, Any]:
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
