"""How Cosmos-Reason2's decoded videos become model inputs: keyword arguments for the
Qwen3-VL processor (hf engine); the request fields for a vLLM upstream are in upstream.py.
The frames and their timing come from the media package; see docs/media.md."""

from __future__ import annotations

from typing import Any

from ..qwen_vl import sampled_video_kwargs

VIDEO_PROCESSOR = ("transformers.models.qwen3_vl.video_processing_qwen3_vl", "Qwen3VLVideoProcessor")


def processor_video_kwargs(videos: list[Any]) -> dict[str, Any]:
    """Extra kwargs for the Qwen3-VL processor's `__call__` (families/qwen_vl.py). The metadata
    (the source's fps and the kept frames' indices) is what the processor writes each temporal
    patch's `<t seconds>` from, so it is always passed (without it the processor assumes 24 fps)."""
    return sampled_video_kwargs(videos, VIDEO_PROCESSOR)


#: What the chat template writes for a video; the processor expands only its pad.
TEMPLATE_VIDEO = "<|vision_start|><|video_pad|><|vision_end|>"


def processor_prompt(text: str) -> str:
    """The prompt in the form Reason2 was trained with (transformers 4.57, as vLLM does it):
    each video's whole `<|vision_start|><|video_pad|><|vision_end|>` is replaced by its
    timestamped blocks `<t seconds><|vision_start|>...<|vision_end|>`, one per temporal patch.
    transformers 5.x expands only the pad and so leaves an outer wrapper around those blocks;
    leaving the bare pad here makes it write exactly the 4.57 form."""
    return text.replace(TEMPLATE_VIDEO, "<|video_pad|>")
