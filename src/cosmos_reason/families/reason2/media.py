"""How Cosmos-Reason2's decoded videos become model inputs: keyword arguments for the
Qwen3-VL processor (hf engine) and request fields for a vLLM upstream. The frames and
their timing come from the media package; see docs/media.md."""

from __future__ import annotations

from functools import cache
from typing import Any

from ..reason1 import media as reason1_media


def processor_video_kwargs(videos: list[Any]) -> dict[str, Any]:
    """Extra kwargs for the Qwen3-VL processor's `__call__` alongside `videos=[v.frames ...]`.

    The per-video metadata (the source's fps and the kept frames' indices) is what the
    processor writes each temporal patch's `<t seconds>` from, so it is always passed (without
    it the processor assumes 24 fps). do_sample_frames=False: the frames are already sampled;
    cap_pixels_per_frame=False: qwen-vl-utils' per-frame cap is already applied by load_video.
    """
    kwargs: dict[str, Any] = {"video_metadata": [video.metadata for video in videos], "do_sample_frames": False}
    if _processor_has_frame_cap():
        kwargs["cap_pixels_per_frame"] = False
    return kwargs


@cache
def _processor_has_frame_cap() -> bool:
    try:
        from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor
    except ImportError:
        return False
    return hasattr(Qwen3VLVideoProcessor, "cap_pixels_per_frame")


#: What the chat template writes for a video; the processor expands only its pad.
TEMPLATE_VIDEO = "<|vision_start|><|video_pad|><|vision_end|>"


def processor_prompt(text: str) -> str:
    """The prompt in the form Reason2 was trained with (transformers 4.57, as vLLM does it):
    each video's whole `<|vision_start|><|video_pad|><|vision_end|>` is replaced by its
    timestamped blocks `<t seconds><|vision_start|>...<|vision_end|>`, one per temporal patch.
    transformers 5.x expands only the pad and so leaves an outer wrapper around those blocks;
    leaving the bare pad here makes it write exactly the 4.57 form."""
    return text.replace(TEMPLATE_VIDEO, "<|video_pad|>")


def upstream_video_fields(videos: list[Any]) -> dict[str, Any]:
    """Request-level fields for a vLLM upstream: for now Reason1's (every frame, the sampled
    fps, no resampling); frame indices for vLLM's Qwen3-VL timestamps are not sent yet."""
    return reason1_media.upstream_video_fields(videos)
