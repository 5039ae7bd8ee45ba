"""Cosmos-Reason2's task recipes: the tasks whose prompts carry over to its format.

Each is a YAML file in tasks/ (the format: docs/reasoning.md#task-recipes). Reason2 takes
the plain system prompt ("You are a helpful assistant."), puts the task in the user's text,
asks for reasoning with a suffix on that text (constants.REASONING_PROMPT, added by
recipes/apply.py for `reasoning: true`) and answers after `</think>` with no answer tag.
The texts are written for this project; Reason1's recipes whose prompts spell out its
`<answer>` template (plausibility, action planning) are not offered, and the critic asks for
its Yes/No after the think block instead.
"""

from __future__ import annotations

from pathlib import Path

from ...recipes.files import builtin_recipes
from .constants import REASONING

#: The recipes' files, in the order GET /v1/tasks lists them.
NAMES = ("critic", "caption", "multiple_choice")

RECIPES_BY_NAME = builtin_recipes(Path(__file__).with_name("tasks"), NAMES, REASONING)
