"""Cosmos-Reason2 on Qwen3-VL: the second model family.

Its values are in constants.py (with their sources), its task recipes in recipes.py (one YAML file each
in tasks/); media.py says how its decoded videos become processor inputs, upstream.py how they
reach a vLLM upstream with their timing.
"""

from __future__ import annotations

from ..base import ModelFamily
from .constants import (
    CARD_SAMPLING,
    DEFAULT_MODEL,
    GEOMETRY,
    MODEL_CLASS,
    MODEL_TYPES,
    PLAIN_SAMPLING,
    REASONING,
    VIDEO,
)
from .media import processor_prompt, processor_video_kwargs
from .recipes import RECIPES_BY_NAME
from .upstream import upstream_video_fields

REASON2 = ModelFamily(
    name="reason2",
    title="Cosmos-Reason2 (Qwen3-VL)",
    model_types=MODEL_TYPES,
    default_model=DEFAULT_MODEL,
    model_class=MODEL_CLASS,
    geometry=GEOMETRY,
    video=VIDEO,
    sampling=CARD_SAMPLING,
    reasoning=REASONING,
    recipes=RECIPES_BY_NAME,
    processor_video_kwargs=processor_video_kwargs,
    upstream_video_fields=upstream_video_fields,
    sampling_plain=PLAIN_SAMPLING,
    processor_prompt=processor_prompt,
    text_timestamps=True,
)
