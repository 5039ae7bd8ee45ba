"""Cosmos-Reason2 (Qwen3-VL) as plain values: geometry, reasoning format, defaults.

Sources (../shared/REASON2.md has the facts and where they come from):

* reasoning suffix and system prompt: cosmos-reason2 `cosmos_reason2_utils/text.py`
  (`REASONING_PROMPT`, `SYSTEM_PROMPT`), verbatim;
* sampling per mode: cosmos-reason2 `cosmos_reason2_utils/script/inference.py`
  `SamplingOverrides.get_defaults` at commit 861f6ce1 (the version that prints "Inference
  time"): reasoning on 0.6 / 0.95 / top_k 20 / presence 0, off 0.7 / 0.8 / 20 / 1.5,
  repetition 1.0, max_tokens 4096 (Qwen3's own thinking / non-thinking guidance);
* video: the transformers path of the repo, `scripts/inference_sample.py` (fps 4, video
  size longest_edge 8192 tokens x 32 x 32 pixels), since the hf engine is transformers.
"""

from __future__ import annotations

from ...media.options import MediaOptions
from ...media.vision_math import VisionGeometry
from ...reasoning.format import ReasoningFormat
from ..base import SamplingDefaults

MODEL_TYPES = ("qwen3_vl",)
DEFAULT_MODEL = "nvidia/Cosmos-Reason2-8B"
MODEL_CLASS = "Qwen3VLForConditionalGeneration"

#: Patch 16, merged 2 x 2: one visual token covers 32 x 32 pixels; 2 frames per temporal patch.
GEOMETRY = VisionGeometry(patch_size=16, merge_size=2, temporal_patch_size=2)

#: inference_sample.py's video budget: at most 8192 visual tokens (8,388,608 pixels) a clip.
VIDEO_BUDGET = 8192 * GEOMETRY.token_pixels
VIDEO = MediaOptions(fps=4.0, total_pixels=VIDEO_BUDGET)

#: Reasoning on (the card's thinking mode).
CARD_SAMPLING = SamplingDefaults(
    temperature=0.6, top_p=0.95, top_k=20, repetition_penalty=1.0, max_tokens=4096, presence_penalty=0.0
)
#: Reasoning off.
PLAIN_SAMPLING = SamplingDefaults(
    temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.0, max_tokens=4096, presence_penalty=1.5
)

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."
REASONING_PROMPT = (
    "Answer the question using the following format:\n\n"
    "<think>\nYour reasoning.\n</think>\n\n"
    "Write your final answer immediately after the </think> tag."
)
REASONING = ReasoningFormat(
    instruction=REASONING_PROMPT,
    placement="user",
    default_system_prompt=DEFAULT_SYSTEM_PROMPT,
    think_tokens=True,  # <think> 151667, </think> 151668: one token each
)
