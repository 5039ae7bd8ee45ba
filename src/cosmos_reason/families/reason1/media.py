"""How Cosmos-Reason1's decoded videos become model inputs: keyword arguments for the
Qwen2.5-VL processor (hf engine) and request fields for a vLLM upstream, both the Qwen-VL
families' shared ones (families/qwen_vl.py). The frames and their timing come from the media
package; see docs/media.md."""

from __future__ import annotations

from typing import Any

from ..qwen_vl import sampled_video_kwargs, vllm_presampled_video_fields

VIDEO_PROCESSOR = ("transformers.models.qwen2_vl.video_processing_qwen2_vl", "Qwen2VLVideoProcessor")


def processor_video_kwargs(videos: list[Any]) -> dict[str, Any]:
    """Extra kwargs for the Qwen2.5-VL processor's `__call__`, the same the reference passes:
    the processor derives second_per_grid_ts = 2 / sample_fps from the metadata."""
    return sampled_video_kwargs(videos, VIDEO_PROCESSOR)


#: Every frame, the sampled fps, no resampling: vLLM derives the same second_per_grid_ts.
upstream_video_fields = vllm_presampled_video_fields
