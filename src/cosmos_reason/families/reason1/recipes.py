"""Cosmos-Reason1's task recipes, after what its authors publish for each task.

Each is a YAML file in tasks/ (the format: docs/reasoning.md#task-recipes), loaded by the
same loader as `serve --recipes DIR`. The prompt texts are written for this project; where
the model was post-trained on an output structure (the critic's per-component template),
the structure is kept so the model recognises it.
"""

from __future__ import annotations

from pathlib import Path

from ...recipes.files import builtin_recipes
from .constants import REASONING

#: The recipes' files, in the order GET /v1/tasks lists them.
NAMES = (
    "critic",
    "plausibility",
    "caption",
    "temporal_caption",
    "embodied_next_action",
    "action_planning",
    "driving",
    "driving_annotation",
    "multiple_choice",
)

RECIPES_BY_NAME = builtin_recipes(Path(__file__).with_name("tasks"), NAMES, REASONING)
