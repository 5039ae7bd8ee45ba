"""Cosmos-Reason1 (Qwen2.5-VL) as plain values: geometry, reasoning format, defaults.

Numbers are the model card's and qwen-vl-utils 0.0.14's (image_patch_size 14), see
../shared/REFERENCE.md; docs/reasoning.md shows the format.
"""

from __future__ import annotations

from ...media.options import MediaOptions
from ...media.vision_math import VisionGeometry
from ...reasoning.format import ReasoningFormat
from ..base import SamplingDefaults

MODEL_TYPES = ("qwen2_5_vl",)
DEFAULT_MODEL = "nvidia/Cosmos-Reason1-7B"
MODEL_CLASS = "Qwen2_5_VLForConditionalGeneration"

#: Patch 14, merged 2 x 2: one visual token covers 28 x 28 pixels; 2 frames per temporal patch.
GEOMETRY = VisionGeometry(patch_size=14, merge_size=2, temporal_patch_size=2)

#: The video budget of the model card, its critic and reward recipes: 8192 tokens (6,422,528 pixels).
VIDEO_BUDGET = 8192 * GEOMETRY.token_pixels
VIDEO = MediaOptions(fps=4.0, total_pixels=VIDEO_BUDGET)

CARD_SAMPLING = SamplingDefaults(temperature=0.6, top_p=0.95, top_k=0, repetition_penalty=1.05, max_tokens=4096)

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."
REASONING_INSTRUCTION = (
    "Answer the question in the following format: "
    "<think>\nyour reasoning\n</think>\n\n<answer>\nyour answer\n</answer>."
)
REASONING = ReasoningFormat(
    instruction=REASONING_INSTRUCTION,
    placement="system",
    default_system_prompt=DEFAULT_SYSTEM_PROMPT,
    answer_open="<answer>",
    answer_close="</answer>",
)
#: The model card's system prompt with reasoning, character for character.
REASONING_SYSTEM_PROMPT = REASONING.system_with_instruction(None)
