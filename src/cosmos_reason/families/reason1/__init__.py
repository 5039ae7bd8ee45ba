"""Cosmos-Reason1 on Qwen2.5-VL: the first model family.

Its values are in constants.py, its task recipes in recipes.py (one YAML file each in
tasks/); media.py says how its decoded videos become processor and upstream inputs.
"""

from __future__ import annotations

from ..base import ModelFamily
from .constants import CARD_SAMPLING, DEFAULT_MODEL, GEOMETRY, MODEL_CLASS, MODEL_TYPES, REASONING, VIDEO
from .media import processor_video_kwargs, upstream_video_fields
from .recipes import RECIPES_BY_NAME

REASON1 = ModelFamily(
    name="reason1",
    title="Cosmos-Reason1 (Qwen2.5-VL)",
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
)
